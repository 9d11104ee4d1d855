"""Run folders: a report saved as files plus a ``run.json`` manifest.

Layout::

    run.json            manifest: title, settings, sections and their blocks
    figures/*.png       image blocks
    tables/*.csv        table blocks
    report.html         the rendered page

:func:`xaikit.report.load_run` (in :mod:`xaikit.report.reading`) reads it back.
"""

from __future__ import annotations

import json
import re
from datetime import timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from xaikit.report.blocks import ImageBlock, TableBlock, TextBlock
from xaikit.report.staging import atomic_write_bytes
from xaikit.utils.errors import XaikitError

if TYPE_CHECKING:
    from xaikit.report.report import Report

MANIFEST = "run.json"
FORMAT = "xaikit-run"
VERSION = 1


class RunFolderError(XaikitError, ValueError):
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
