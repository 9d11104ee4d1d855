"""The HTML report: escaping, self-containment, sections, atomic writes, run folders."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xaikit import plot
from xaikit.report import (
    ImageBlock,
    OutputFolderError,
    Report,
    RunFolderError,
    Section,
    TableBlock,
    TextBlock,
    load_run,
    staged_output,
)

HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def sample_report() -> Report:
    report = Report(f"Title {HOSTILE}", description=f"About {HOSTILE}")
    section = report.section(f"Heatmaps {HOSTILE}")
    section.add_text(f"First paragraph {HOSTILE}\n\nSecond paragraph.")
    section.add_figure(plot.heatmap(np.array([[1.0, -1.0]])), f"caption {HOSTILE}")
    section.add_table(pd.DataFrame({"method": ["lrp", HOSTILE], "score": [0.123456789, np.nan], "n": [1, 2]}),
                      f"table {HOSTILE}")
    section.add_settings({"composite": "epsilon_plus", HOSTILE: [1, 2]})
    section.add_conclusion(f"LRP falls fastest: AOPC 0.41 vs 0.18 {HOSTILE}")
    report.add_section(Section.skipped("Evaluation", f"not installed {HOSTILE}"))
    report.add_section(Section.failed("Wholesale", "ValueError: boom"))
    report.add_settings({"seed": 0, "note": HOSTILE})
    return report


def test_everything_user_given_is_escaped() -> None:
    html = sample_report().render()
    assert "<script" not in html.lower()
    assert html.count("&lt;script&gt;") >= 9  # title x2, description, heading x2, text, caption, table x2, ...
    assert "<img src=x" not in html


def test_a_section_ends_with_what_to_conclude() -> None:
    html = sample_report().render()
    box = re.search(r'<div class="conclusion">\s*<h3>What to conclude</h3>\s*<p>(.*?)</p>\s*</div>', html, re.S)
    assert box is not None
    assert box.group(1).startswith("LRP falls fastest: AOPC 0.41 vs 0.18 &lt;script&gt;")
    assert html.index("What to conclude") > html.index("table &lt;script&gt;")  # after the section's figures
    with pytest.raises(ValueError, match="'conclusion'"):
        TextBlock("x", "summary")  # type: ignore[arg-type]


def test_page_is_self_contained() -> None:
    html = sample_report().render()
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) == 1 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html and "<script" not in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    png = base64.b64decode(sources[0].split(",", 1)[1])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_sections_status_and_unique_anchors() -> None:
    report = sample_report()
    report.add_section(Section("Evaluation"))  # duplicate title
    html = report.render()
    anchors = re.findall(r'<section id="([^"]+)"', html)
    assert len(anchors) == len(set(anchors)) == 5  # 4 sections + settings
    assert 'data-status="skipped"' in html and 'data-status="failed"' in html
    assert "not installed &lt;script&gt;" in html
    for anchor in anchors[:-1]:
        assert f'href="#{anchor}"' in html


def test_tables_format_numbers_and_align_them() -> None:
    block = TableBlock(pd.DataFrame({"name": ["a"], "x": [1.23456789], "k": [3], "missing": [np.nan]}))
    assert block.rows == [["a", "1.235", "3", "-"]]
    assert block.numeric == [False, True, True, True]
    assert not block.has_index
    indexed = TableBlock(pd.DataFrame({"x": [1.0]}, index=pd.Index(["lrp"], name="method")))
    assert indexed.header == ["method", "x"] and indexed.rows == [["lrp", "1"]]
    html = Report(sections=[Section("T").add_table(indexed.frame)]).render()
    assert '<td class="num">1</td>' in html


def test_images_must_be_png() -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        ImageBlock(b"GIF89a...")
    with pytest.raises(TypeError, match="Figure, SubFigure or Axes"):
        Section("x").add_figure("not a figure")  # type: ignore[arg-type]


def test_report_helpers_add_to_named_or_last_section() -> None:
    report = Report()
    report.add_text("hello")
    assert [s.title for s in report.sections] == ["Figures"]
    report.add_table(pd.DataFrame({"a": [1]}), section="Tables")
    report.add_figure(plot.bars(np.ones(2)))
    assert [len(s.blocks) for s in report.sections] == [1, 2]


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("previous")
    report = sample_report()

    def broken() -> str:
        raise RuntimeError("render failed")

    monkeypatch.setattr(report, "render", broken)
    with pytest.raises(RuntimeError):
        report.write(target)
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    monkeypatch.undo()
    report.write(target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_run_folder_round_trip(tmp_path: Path) -> None:
    report = sample_report()
    html_path = report.save(tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["format"] == "xaikit-run"
    assert [s["status"] for s in manifest["sections"]] == ["ok", "skipped", "failed"]
    assert (tmp_path / "run" / manifest["sections"][0]["blocks"][1]["path"]).is_file()
    again = load_run(tmp_path / "run")
    assert again.render() == report.render() == html_path.read_text(encoding="utf-8")


def test_run_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="does not exist"):
        load_run(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RunFolderError, match="nothing to report"):
        load_run(empty)
    run = tmp_path / "run"
    sample_report().save(run)
    manifest = json.loads((run / "run.json").read_text())
    manifest["sections"][0]["blocks"][1]["path"] = "../outside.png"
    (tmp_path / "outside.png").write_bytes((run / "figures").glob("*.png").__next__().read_bytes())
    (run / "run.json").write_text(json.dumps(manifest))
    with pytest.raises(RunFolderError, match="outside the run folder"):
        load_run(run)
    manifest["sections"][0]["blocks"][1]["path"] = "figures/missing.png"
    (run / "run.json").write_text(json.dumps(manifest))
    with pytest.raises(RunFolderError, match="missing"):
        load_run(run)
    (run / "run.json").write_text("{not json")
    with pytest.raises(RunFolderError, match="not valid JSON"):
        load_run(run)


def test_folder_without_manifest_shows_its_images_and_tables(tmp_path: Path) -> None:
    plot.save_png(tmp_path / "a.png", plot.heatmap_rgb(np.ones((2, 2))))
    pd.DataFrame({"x": [1, 2]}).to_csv(tmp_path / "t.csv", index=False)
    report = load_run(tmp_path)
    assert [s.title for s in report.sections] == ["Figures", "Tables"]
    assert report.sections[0].images[0].caption == "a.png"


def test_staged_output_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "out"
    with pytest.raises(RuntimeError), staged_output(target) as staging:
        (staging / "partial.txt").write_text("x")
        raise RuntimeError("fail")
    assert not (tmp_path / "deep").exists()  # no partial output, no created parents
    with staged_output(target) as staging:
        (staging / "run.json").write_text("{}")
    with staged_output(target) as staging:  # an earlier run is replaced
        (staging / "run.json").write_text('{"second": 1}')
    assert json.loads((target / "run.json").read_text()) == {"second": 1}
    assert sorted(p.name for p in target.parent.iterdir()) == ["out"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(OutputFolderError, match="not written by xaikit"):
        with staged_output(foreign):
            pass
    assert (foreign / "thesis.tex").read_text() == "precious"
