"""``xaikit report DIR`` reads nothing from outside DIR (issue 11, finding 16).

A folder without ``run.json`` is read as its PNG images and CSV tables. Symbolic links
in it that lead outside (to a file, or to a folder of files) must not bring those files
into the self-contained page; links that stay inside, and real files, still do.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from xaikit import plot
from xaikit.cli import main
from xaikit.report import RunFolderError, load_run


def _png(path: Path, value: int) -> bytes:
    plot.save_png(path, np.full((4, 4, 3), value / 255.0))
    return path.read_bytes()


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """A run folder with one real PNG, and a private folder beside it."""
    run, private = tmp_path / "run", tmp_path / "private"
    run.mkdir()
    private.mkdir()
    return run, private


def _embedded(page: str, png: bytes) -> bool:
    return base64.b64encode(png).decode() in page


def test_links_leading_outside_are_not_embedded(folders: tuple[Path, Path], tmp_path: Path) -> None:
    run, private = folders
    own = _png(run / "own.png", 10)
    secret_png = _png(private / "secret.png", 200)
    (private / "secret.csv").write_text("password\nhunter2\n")
    (run / "linked.png").symlink_to(private / "secret.png")
    (run / "linked.csv").symlink_to(private / "secret.csv")
    (run / "outside").symlink_to(private, target_is_directory=True)
    (run / "sub").mkdir()
    inside = _png(run / "sub" / "inner.png", 60)
    (run / "alias.png").symlink_to(run / "sub" / "inner.png")  # stays inside: kept

    assert main(["report", str(run), "--out", str(tmp_path / "page.html")]) == 0
    page = (tmp_path / "page.html").read_text(encoding="utf-8")
    assert not _embedded(page, secret_png)
    assert "hunter2" not in page
    assert _embedded(page, own) and _embedded(page, inside)
    assert "alias.png" in page and "linked.png" in page  # the skipped link is named
    report = load_run(run)
    assert "2 symbolic link(s) to files outside the folder were skipped" in (report.description or "")


def test_a_folder_of_only_outside_links_has_nothing_to_report(folders: tuple[Path, Path]) -> None:
    run, private = folders
    _png(private / "secret.png", 200)
    (run / "linked.png").symlink_to(private / "secret.png")
    with pytest.raises(RunFolderError, match=r"nothing to report \(1 link\(s\) to files outside"):
        load_run(run)


def test_a_link_loop_ends(folders: tuple[Path, Path]) -> None:
    run, _ = folders
    own = _png(run / "own.png", 10)
    (run / "loop").symlink_to(run, target_is_directory=True)
    report = load_run(run)
    figures = report.sections[0].blocks
    assert len(figures) == 1 and figures[0].png == own


def test_a_manifest_linked_from_outside_is_refused(folders: tuple[Path, Path]) -> None:
    run, private = folders
    (private / "run.json").write_text(json.dumps({"format": "xaikit-run", "version": 1, "sections": []}))
    (run / "run.json").symlink_to(private / "run.json")
    with pytest.raises(RunFolderError, match="outside the run folder"):
        load_run(run)
