"""Run folders: a report saved as files plus a ``run.json`` manifest, and read back.

Layout::

    run.json            manifest: title, settings, sections and their blocks
    figures/*.png       image blocks
    tables/*.csv        table blocks
    report.html         the rendered page

A folder without ``run.json`` is read as one section of its PNG images (and one of
its CSV tables), so ``xaikit report`` works on any folder of pictures.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from xaikit.report.blocks import ImageBlock, SettingsBlock, TableBlock, TextBlock
from xaikit.report.report import Report, atomic_write_bytes
from xaikit.report.section import Section

MANIFEST = "run.json"
FORMAT = "xaikit-run"
VERSION = 1


class RunFolderError(ValueError):
    """A run folder or its manifest is missing, malformed or points outside the folder."""


def _safe_name(name: str, suffix: str) -> str:
    """A relative ``/``-separated path of safe characters ending in ``suffix``."""
    path = PurePosixPath(name)
    parts = [re.sub(r"[^A-Za-z0-9._-]+", "-", p).strip("-.") or "file" for p in path.parts]
    clean = "/".join(parts)
    if not clean.endswith(suffix):
        clean += suffix
    return clean


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, ext = name.rpartition(".")
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{stem}-{n}{dot}{ext}", n + 1
    taken.add(candidate)
    return candidate


def _section_stem(index: int, title: str) -> str:
    return f"{index + 1:02d}-" + (re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section")


def save_run(report: Report, directory: str | Path) -> Path:
    """Write ``report``'s images, tables and ``run.json`` into ``directory``.

    Parameters
    ----------
    report : Report
        The report.
    directory : str or Path
        Created if missing; existing files of the same names are replaced.

    Returns
    -------
    pathlib.Path
        The manifest's path.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    sections: list[dict[str, Any]] = []
    for index, section in enumerate(report.sections):
        stem = _section_stem(index, section.title)
        blocks: list[dict[str, Any]] = []
        for number, block in enumerate(section.blocks):
            if isinstance(block, ImageBlock):
                default = f"figures/{stem}-{number + 1}.png"
                name = _unique(_safe_name(block.name or default, ".png"), taken)
                atomic_write_bytes(root / name, block.png)
                blocks.append({"kind": "image", "path": name, "caption": block.caption, "alt": block.alt})
            elif isinstance(block, TableBlock):
                default = f"tables/{stem}-{number + 1}.csv"
                name = _unique(_safe_name(block.name or default, ".csv"), taken)
                csv = block.frame.to_csv(index=block.has_index)
                atomic_write_bytes(root / name, csv.encode("utf-8"))
                blocks.append({
                    "kind": "table", "path": name, "caption": block.caption,
                    "index": block.has_index, "precision": block.precision,
                })
            elif isinstance(block, TextBlock):
                blocks.append({"kind": "text", "text": block.text, "style": block.style})
            else:
                values = json.loads(json.dumps(dict(block.values), default=str))
                blocks.append({"kind": "settings", "values": values, "caption": block.caption})
        sections.append(
            {"title": section.title, "status": section.status, "note": section.note, "blocks": blocks}
        )
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "title": report.title,
        "description": report.description,
        "created": report.created.astimezone(timezone.utc).isoformat(),
        "settings": json.loads(json.dumps(report.settings, default=str)),
        "sections": sections,
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    return atomic_write_bytes(root / MANIFEST, text.encode("utf-8"))


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
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RunFolderError(f"{root / MANIFEST} is not an xaikit run manifest")
    if manifest.get("version") != VERSION:
        raise RunFolderError(
            f"{root / MANIFEST} has manifest version {manifest.get('version')!r}; "
            f"this xaikit reads version {VERSION}"
        )
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


def _from_files(root: Path) -> Report:
    report = Report(title=root.name or "xaikit report", description=f"Files found in {root}.")
    images = sorted(p for p in root.rglob("*.png") if p.is_file())
    tables = sorted(p for p in root.rglob("*.csv") if p.is_file())
    if not images and not tables:
        raise RunFolderError(
            f"{root} has no {MANIFEST}, PNG images or CSV tables; nothing to report"
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
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunFolderError(f"{manifest_path} is not valid JSON: {error}") from None
    return _from_manifest(root, manifest)
