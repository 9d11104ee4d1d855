"""The report opened in a real headless Chromium: no errors, images decoded, sections present.

Needs Debian's ``chromium`` package (``apt-get install -y chromium``); skipped without it.
A full-page screenshot of each checked page is saved in the test's temporary folder and,
when the environment variable ``XAIKIT_ARTIFACTS`` names a folder, copied there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from chromium_page import find_chromium, inspect_page
from PIL import Image

import xaikit
from xaikit import plot
from xaikit.demo import LRP_RUNS, DemoContext, DemoResult, run_demo
from xaikit.report import Report, Section

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)"
)

#: Evaluated in the page: every image's load state and the section headings.
PAGE_STATE = """({
  images: Array.from(document.images).map(i => ({complete: i.complete, width: i.naturalWidth, alt: i.alt})),
  sections: Array.from(document.querySelectorAll("main > section > h2")).map(h => h.firstChild.textContent.trim()),
  statuses: Array.from(document.querySelectorAll("main > section")).map(s => s.dataset.status || ""),
  scripts: document.scripts.length,
  title: document.title
})"""


def keep_artifact(data: bytes, name: str, tmp_path: Path) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    folder = os.environ.get("XAIKIT_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / name)
    return path


#: Evaluated in the page at a given window width: does anything stick out to the right?
LAYOUT_STATE = """({
  viewport: window.innerWidth,
  page: document.documentElement.scrollWidth,
  images: Array.from(document.images).map(i => {
    const box = i.getBoundingClientRect();
    return {right: box.right, width: box.width, natural: i.naturalWidth, alt: i.alt};
  }),
  tables: Array.from(document.querySelectorAll(".table-wrap")).map(t => t.getBoundingClientRect().right),
  conclusions: Array.from(document.querySelectorAll("main > section")).map(s => ({
    title: s.querySelector("h2").firstChild.textContent.trim(),
    status: s.dataset.status || "",
    conclusion: (s.querySelector("div.conclusion") || {innerText: ""}).innerText
  }))
})"""


def open_in_chromium(html: Path, screenshot: str, tmp_path: Path, *, script: str = PAGE_STATE,
                     width: int | None = None) -> dict[str, Any]:
    assert CHROMIUM is not None
    page = inspect_page(html, script, executable=CHROMIUM, width=width)
    assert page.screenshot.startswith(b"\x89PNG\r\n\x1a\n") and len(page.screenshot) > 10_000
    keep_artifact(page.screenshot, screenshot, tmp_path)
    state: dict[str, Any] = page.result
    state["errors"] = page.errors
    return state


@needs_chromium
def test_synthetic_report_renders_cleanly(tmp_path: Path) -> None:
    report = Report("Browser check <&>")
    section = report.section("Figures <b>bold?</b>")
    section.add_figure(plot.heatmap(np.array([[1.0, 0.0, -1.0]]), colorbar=True), "heatmap")
    section.add_figure(plot.bars(np.array([[1.0, -2.0], [2.0, -1.0]]), ["a", "b"]), "bars")
    section.add_table(pd.DataFrame({"x": [1.5, 2.5]}), "a table")
    report.add_section(Section.skipped("Later", "not yet"))
    path = report.write(tmp_path / "report.html")
    state = open_in_chromium(path, "synthetic-report.png", tmp_path)
    assert state["errors"] == []
    assert state["scripts"] == 0
    assert state["title"] == "Browser check <&>"
    assert state["sections"] == ["Figures <b>bold?</b>", "Later"]
    assert state["statuses"] == ["ok", "skipped"]
    assert len(state["images"]) == 2
    assert all(i["complete"] and i["width"] > 100 for i in state["images"])


@needs_chromium
def test_the_checker_sees_broken_images_and_blocked_requests(tmp_path: Path) -> None:
    """Negative control: a page breaking the rules must be caught by the same check."""
    page = tmp_path / "broken.html"
    good = Report(sections=[Section("x").add_figure(plot.bars(np.ones(2)))]).render()
    broken = good.replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1)
    broken = broken.replace("</main>", '<img src="http://127.0.0.1:9/remote.png" alt="remote"></main>')
    page.write_text(broken, encoding="utf-8")
    assert CHROMIUM is not None
    result = inspect_page(page, PAGE_STATE, executable=CHROMIUM)
    widths = [i["width"] for i in result.result["images"]]
    assert widths == [0, 0]
    assert any("Content Security Policy" in e for e in result.errors)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """The quick demo, run once for this module."""
    return run_demo(tmp_path_factory.mktemp("demo") / "out", quick=True, progress=False)


@pytest.mark.slow
def test_demo_writes_heatmaps_of_many_methods(demo_run: DemoResult) -> None:
    assert demo_run.failed == []
    assert demo_run.statuses["digits"] == "ok"
    folders = [p for p in (demo_run.out / "heatmaps").iterdir() if p.name != "inputs"]
    assert len(folders) >= 5
    assert {"lrp_epsilon_plus", "lrp_epsilon_gamma_box", "lrp_epsilon_alpha2_beta1"} <= {p.name for p in folders}
    for folder in folders:
        pictures = sorted(folder.glob("*.png"))
        assert len(pictures) == 4, folder
    # the PNG is the heatmap of the LRP explanation of that digit: red where positive, blue negative
    data = DemoContext(demo_run.out, quick=True, progress=False).digits()
    run = LRP_RUNS[1]
    attribution = xaikit.explain(data.model, data.x[:1], data.y[:1], method=run.method, **run.options).attribution
    with Image.open(demo_run.out / "heatmaps" / "lrp_epsilon_gamma_box" / "digit-0-label0.png") as picture:
        pixels = np.asarray(picture.convert("RGB"), dtype=np.int64)[::16, ::16]
    values = attribution[0, 0].numpy()
    red, blue = pixels[..., 0] - pixels[..., 2], pixels[..., 2] - pixels[..., 0]
    assert np.all(red[values > 0.05 * values.max()] > 0) and np.all(blue[values < 0.05 * values.min()] > 0)
    assert np.abs(pixels - np.round(255 * plot.heatmap_rgb(attribution[0]))).max() <= 1
    assert demo_run.report.is_file() and demo_run.seconds < 120


@needs_chromium
def test_demo_report_opens_cleanly(demo_run: DemoResult, tmp_path: Path) -> None:
    state = open_in_chromium(demo_run.report, "demo-report.png", tmp_path)
    assert state["errors"] == []
    assert state["sections"][0] == "Digits: heatmaps of LRP and the other methods"
    assert "About this run" in state["sections"]
    assert len(state["images"]) >= 5
    assert all(i["complete"] and i["width"] > 100 for i in state["images"]), state["images"]
    assert "failed" not in state["statuses"]


@needs_chromium
@pytest.mark.parametrize("width", [1400, 800])
def test_demo_report_fits_the_window_and_ends_each_section_with_a_conclusion(
    demo_run: DemoResult, tmp_path: Path, width: int
) -> None:
    """At 1400 and 800 px nothing sticks out sideways: figures shrink to the column, wide tables
    scroll inside their own box; every section that ran says what to conclude, with numbers."""
    state = open_in_chromium(demo_run.report, f"demo-report-{width}px.png", tmp_path, script=LAYOUT_STATE, width=width)
    assert state["errors"] == []
    assert state["viewport"] == width
    assert state["page"] <= width, "the page scrolls sideways"
    assert state["images"] and all(i["right"] <= width + 0.5 for i in state["images"]), state["images"]
    assert all(right <= width + 0.5 for right in state["tables"])
    if width == 800:  # the grids are wider than 800 px: they are scaled down, not cut off
        assert any(i["natural"] > i["width"] + 1 for i in state["images"])
    ran = [s for s in state["conclusions"] if s["status"] == "ok" and s["title"] != "About this run"]
    assert len(ran) >= 8
    for section in ran:
        assert section["conclusion"].startswith("What to conclude"), section["title"]
        assert any(ch.isdigit() for ch in section["conclusion"]), section
