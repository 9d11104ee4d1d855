"""Reading a run folder (see :mod:`xaikit.report.folder`) back into a :class:`Report`.

A folder without ``run.json`` is read as one section of its PNG images (and one of
its CSV tables), so ``xaikit report`` works on any folder of pictures. Nothing from
outside the folder is read: symbolic links to folders are not followed, links to files
outside it are skipped (the page says how many), and a ``run.json`` or a listed file
that resolves outside it is refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from xaikit.report.blocks import ImageBlock, SettingsBlock, TableBlock, TextBlock
from xaikit.report.folder import FORMAT, MANIFEST, VERSION, RunFolderError
from xaikit.report.report import Report
from xaikit.report.section import Section
from xaikit.utils.headers import check_header

__all__ = ["load_run"]


def _inside(root: Path, name: Any) -> Path:
    if not isinstance(name, str) or not name:
        raise RunFolderError(f"{MANIFEST}: a block's path must be a non-empty string, got {name!r}")
    path = (root / name).resolve()
    if PurePosixPath(name).is_absolute() or not path.is_relative_to(root.resolve()):
        raise RunFolderError(f"{MANIFEST}: path {name!r} points outside the run folder")
    if not path.is_file():
        raise RunFolderError(f"{MANIFEST}: file {name!r} listed in the manifest is missing")
    return path


def _block(root: Path, spec: Any) -> Any:
    if not isinstance(spec, dict):
        raise RunFolderError(f"{MANIFEST}: each block must be an object, got {type(spec).__name__}")
    kind = spec.get("kind")
    if kind == "text":
        return TextBlock(str(spec.get("text", "")), spec.get("style", "paragraph"))
    if kind == "image":
        png = _inside(root, spec.get("path")).read_bytes()
        return ImageBlock(png, str(spec.get("caption", "")), str(spec.get("alt", "")), spec["path"])
    if kind == "table":
        path = _inside(root, spec.get("path"))
        frame = pd.read_csv(path, index_col=0 if spec.get("index") else None)
        return TableBlock(
            frame, str(spec.get("caption", "")), spec["path"], int(spec.get("precision", 4)),
            bool(spec.get("index", False)),
        )
    if kind == "settings":
        values = spec.get("values", {})
        if not isinstance(values, dict):
            raise RunFolderError(f"{MANIFEST}: settings values must be an object")
        return SettingsBlock(values, str(spec.get("caption", "")))
    raise RunFolderError(f"{MANIFEST}: unknown block kind {kind!r}")


def _from_manifest(root: Path, manifest: Any) -> Report:
    check_header(manifest, name=FORMAT, version=VERSION, what=f"{root / MANIFEST}: not an xaikit run manifest",
                 error=RunFolderError)
    created = datetime.now(timezone.utc)
    if isinstance(manifest.get("created"), str):
        try:
            created = datetime.fromisoformat(manifest["created"])
        except ValueError:
            pass
    report = Report(
        title=str(manifest.get("title") or root.name),
        description=manifest.get("description"),
        settings=dict(manifest.get("settings") or {}),
        created=created,
    )
    for spec in manifest.get("sections") or []:
        if not isinstance(spec, dict) or "title" not in spec:
            raise RunFolderError(f"{MANIFEST}: each section needs a title")
        try:
            section = Section(str(spec["title"]), status=spec.get("status", "ok"), note=spec.get("note"))
            for block in spec.get("blocks") or []:
                section.add(_block(root, block))
        except (TypeError, ValueError, OSError) as error:
            if isinstance(error, RunFolderError):
                raise
            raise RunFolderError(f"{MANIFEST}: section {spec['title']!r}: {error}") from error
        report.add_section(section)
    return report


def _files_inside(root: Path, skipped: list[Path]) -> Iterator[Path]:
    """Files under ``root`` whose real path is inside it; links leading out go to ``skipped``.

    Symbolic links to folders are not followed (a folder inside ``root`` is walked under
    its own name anyway), so nothing outside ``root`` is listed and link loops end.
    """
    real_root = root.resolve()
    for folder, _, names in os.walk(root, followlinks=False):
        for name in names:
            path = Path(folder) / name
            if not path.resolve().is_relative_to(real_root):
                skipped.append(path)
            elif path.is_file():
                yield path


def _from_files(root: Path) -> Report:
    skipped: list[Path] = []
    found = sorted(_files_inside(root, skipped))
    description = f"Files found in {root}."
    if skipped:
        description += (
            f" {len(skipped)} symbolic link(s) to files outside the folder were skipped"
            f" ({', '.join(p.relative_to(root).as_posix() for p in sorted(skipped)[:5])})."
        )
    report = Report(title=root.name or "xaikit report", description=description)
    images = [p for p in found if p.suffix == ".png"]
    tables = [p for p in found if p.suffix == ".csv"]
    if not images and not tables:
        raise RunFolderError(
            f"{root} has no {MANIFEST}, PNG images or CSV tables; nothing to report"
            + (f" ({len(skipped)} link(s) to files outside the folder skipped)" if skipped else "")
        )
    if images:
        section = report.section("Figures")
        for path in images:
            section.add_image(path, path.relative_to(root).as_posix())
    if tables:
        section = report.section("Tables")
        for path in tables:
            section.add_table(pd.read_csv(path), path.relative_to(root).as_posix())
    return report


def load_run(directory: str | Path) -> Report:
    """Read a run folder back into a :class:`Report`.

    Parameters
    ----------
    directory : str or Path
        A folder written by :meth:`Report.save` (with ``run.json``), or any folder of
        PNG images and CSV tables.

    Returns
    -------
    Report
        The report as it was saved; for a folder without ``run.json``, one section of
        its images and one of its tables.

    Raises
    ------
    RunFolderError
        If the folder does not exist, the manifest is malformed, or a listed file is
        missing or outside the folder.
    """
    root = Path(directory)
    if not root.is_dir():
        raise RunFolderError(f"run folder {str(root)!r} does not exist or is not a folder")
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        return _from_files(root)
    if not manifest_path.resolve().is_relative_to(root.resolve()):
        raise RunFolderError(f"{manifest_path} is a link to a file outside the run folder; refusing it")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunFolderError(f"{manifest_path} is not valid JSON: {error}") from None
    return _from_manifest(root, manifest)
