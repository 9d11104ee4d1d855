"""``xaikit methods``, ``xaikit report``, ``xaikit demo`` and the help texts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import xaikit
from xaikit import plot
from xaikit.cli import main
from xaikit.demo import register_section, registry
from xaikit.report import Report, Section


def test_methods_lists_every_registered_method_with_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    details = xaikit.methods(details=True)
    assert isinstance(details, dict)
    for name, info in details.items():
        assert f"\n{name}" in f"\n{out}"
        for option in info["options"]:
            assert f" {option}=" in out
    assert "composites: " in out and "epsilon_gamma_box" in out
    assert main(["methods", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == set(details)


def test_the_shipped_methods_catalogue_matches_the_live_registry() -> None:
    """``xaikit methods`` reads ``cli/methods.json`` (no torch import): it must not go stale."""
    from xaikit.cli.methods_catalogue import live_catalogue, read_catalogue

    assert read_catalogue() == live_catalogue(), (
        "src/xaikit/cli/methods.json is stale: rewrite it with `python -m xaikit.cli.methods_catalogue`"
    )


def test_help_and_methods_import_neither_torch_nor_the_method_families() -> None:
    """What keeps ``xaikit --help`` and ``xaikit methods`` under a second (lazy imports)."""
    import subprocess
    import sys

    probe = (
        "import sys, contextlib, io\n"
        "from xaikit.cli import main\n"
        "for argv in (['methods'], ['methods', '--json'], ['--help'], ['explain']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
        "heavy = sorted(m for m in ('torch', 'matplotlib', 'pandas', 'xaikit.lrp', 'xaikit.core') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("command", ["demo", "explain", "methods", "report"])
def test_help_of_each_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: xaikit {command}")
    expected = {"demo": "--quick", "explain": "--option KEY=VALUE", "methods": "--json", "report": "RUN_DIR"}
    assert expected[command] in out


def test_report_rebuilds_the_page_of_a_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = Report("Run <1>")
    report.section("Bars").add_figure(plot.bars(np.array([1.0, -1.0])), "bars")
    report.save(tmp_path / "run")
    (tmp_path / "run" / "report.html").unlink()
    assert main(["report", str(tmp_path / "run"), "--title", "Renamed"]) == 0
    written = Path(capsys.readouterr().out.strip())
    html = written.read_text(encoding="utf-8")
    assert written == tmp_path / "run" / "report.html"
    assert "<title>Renamed</title>" in html and "data:image/png;base64," in html


def test_report_of_a_missing_folder_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xaikit report: error: ") and "does not exist" in err


@pytest.fixture
def extra_sections() -> Iterator[None]:
    """Register a section needing a missing module and one that raises; removed afterwards."""

    @register_section("test-missing", "Needs a module that is not there", order=900,
                      requires=("xaikit_no_such_module:thing",))
    def missing(context: object) -> Section:
        raise AssertionError("must not run")

    @register_section("test-broken", "Raises", order=901)
    def broken(context: object) -> Section:
        raise ValueError("the broken section broke")

    yield
    for name in ("test-missing", "test-broken"):
        registry.unregister_section(name)


def test_demo_skips_missing_parts_and_reports_failures(
    extra_sections: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    status = main(["demo", "--out", str(out), "--only", "test-missing", "--only", "test-broken", "--no-progress"])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.out.strip() == str(out / "report.html")
    assert "section(s) failed: test-broken" in captured.err
    manifest = json.loads((out / "run.json").read_text())
    statuses = {s["title"]: (s["status"], s["note"]) for s in manifest["sections"]}
    assert statuses["Needs a module that is not there"][0] == "skipped"
    assert "xaikit_no_such_module:thing" in statuses["Needs a module that is not there"][1]
    assert statuses["Raises"] == ("failed", "This section raised the broken section broke")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "ValueError: the broken section broke" in html  # the traceback tail


@pytest.mark.slow
def test_demo_time_series_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--only", "time-series", "--no-progress"]) == 0
    manifest = json.loads((out / "run.json").read_text())
    assert [s["status"] for s in manifest["sections"]] == ["ok", "ok"]
    assert len(list((out / "figures").glob("time-series-*.png"))) == 2


def test_demo_rejects_unknown_sections(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path / "d"), "--only", "nonsense"]) == 2
    assert "unknown demo section(s) ['nonsense']" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
    assert main(["demo", "--list-sections"]) == 0
    assert "digits" in capsys.readouterr().out
