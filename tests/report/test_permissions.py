"""Reports, explanation files and stores get the modes a plain open/mkdir gives (umask respected),
not tempfile's owner-only 0600/0700: a shared report can be opened by others."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import xaikit
from xaikit.report import Report
from xaikit.utils.permissions import current_umask


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    before = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_reports_explanations_and_stores_follow_the_umask(tmp_path: Path, umask: int) -> None:
    assert current_umask() == umask
    report = Report("shared")
    report.section("one").add_text("hello")
    out = tmp_path / "run"
    report.save(out)
    assert mode(out) == 0o777 & ~umask
    assert mode(out / "report.html") == 0o666 & ~umask
    model = xaikit.models.MLP(4, (8,), 2).eval()
    e = xaikit.explain(model, torch.randn(3, 4), method="saliency")
    saved = e.save(tmp_path / "e.npz")
    assert mode(saved) == 0o666 & ~umask
    pytest.importorskip("zarr")
    store = xaikit.explain_dataset(model, torch.randn(5, 4), "saliency", store=tmp_path / "s.zarr", progress=False)
    assert mode(store.path) == 0o777 & ~umask
    assert mode(store.path / "zarr.json") == 0o666 & ~umask
