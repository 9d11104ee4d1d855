"""Running the demo: every registered section, one report, written all at once."""

from __future__ import annotations

import platform
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pandas as pd
import torch

from xaikit.demo.context import DemoContext
from xaikit.demo.registry import DemoSection, SkipSection, available_sections
from xaikit.report import Report, Section, staged_output
from xaikit.utils.errors import XaikitError
from xaikit.utils.progress_bars import progress_setting, set_progress

TITLE = "xaikit demo"
DESCRIPTION = (
    "What xaikit does, run on this machine without network access: explanations of a digits CNN "
    "by LRP and the other registered methods, their evaluation, a time-series example and the "
    "neuralization of unsupervised models on the wholesale customers data, as far as those parts "
    "are installed."
)


class DemoError(XaikitError, ValueError):
    """Bad demo arguments (for example an unknown section name)."""


@dataclass(frozen=True)
class DemoResult:
    """What a demo run produced.

    Attributes
    ----------
    out : pathlib.Path
        The output folder.
    report : pathlib.Path
        The HTML report.
    statuses : dict of str to str
        Section name -> ``"ok"``, ``"skipped"`` or ``"failed"``.
    seconds : float
        Wall time of the run.
    """

    out: Path
    report: Path
    statuses: dict[str, str]
    seconds: float

    @property
    def failed(self) -> list[str]:
        """Names of the sections that raised."""
        return [name for name, status in self.statuses.items() if status == "failed"]


def select_sections(only: Sequence[str] | None = None, skip: Sequence[str] = ()) -> list[DemoSection]:
    """The registered sections to run, in order, after ``--only`` and ``--skip``."""
    sections = available_sections()
    known = {s.name for s in sections}
    unknown = sorted(set(only or ()) | set(skip) - known)
    unknown = [name for name in unknown if name not in known]
    if unknown:
        raise DemoError(f"unknown demo section(s) {unknown}; known sections: {', '.join(sorted(known))}")
    chosen = [s for s in sections if (not only or s.name in only) and s.name not in skip]
    if not chosen:
        raise DemoError("no demo section left to run")
    return chosen


def _run_one(section: DemoSection, context: DemoContext) -> Section:
    missing = section.missing()
    if missing:
        modules = ", ".join(sorted({m.partition(":")[0] for m in missing}))
        return Section.skipped(
            section.title,
            f"Skipped: this installation of xaikit does not provide {', '.join(missing)} yet "
            f"({modules} not available).",
        )
    try:
        built = section.build(context)
    except SkipSection as reason:
        return Section.skipped(section.title, f"Skipped: {reason}")
    except Exception as error:  # a broken section is reported, the others still run
        from xaikit.utils.errors import one_line

        failed = Section.failed(section.title, f"This section raised {one_line(error)}")
        tail = "".join(traceback.format_exception(error)[-12:])
        return failed.add_text(tail, style="code")
    if not isinstance(built, Section):
        return Section.failed(section.title, f"the section returned {type(built).__name__}, not a Section")
    return built


def _environment(context: DemoContext) -> dict[str, object]:
    from xaikit._version import __version__

    return {
        "quick": context.quick,
        "seed": context.seed,
        "xaikit": __version__,
        "torch": torch.__version__,
        "torch threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def run_demo(
    out: str | Path = "xaikit-output",
    *,
    quick: bool = False,
    progress: bool = True,
    only: Sequence[str] | None = None,
    skip: Sequence[str] = (),
    force: bool = False,
    seed: int = 0,
    threads: int | None = 1,
    stream: TextIO | None = None,
) -> DemoResult:
    """Run the demo sections and write heatmaps, figures, tables and ``report.html``.

    The output folder is written all at once: sections write into a temporary folder
    that replaces ``out`` at the end. A section whose requirements are not installed is
    skipped with a note in the report; one that raises is reported as failed and the
    others still run.

    Parameters
    ----------
    out : str or Path
        Output folder (replaced if it holds an earlier run).
    quick : bool
        Fewer digits and samples.
    progress : bool
        Show a progress bar per section (the inner bars of the methods stay off).
    only, skip : sequence of str
        Section names to run exclusively, or to leave out (see :func:`available_sections`).
    force : bool
        Replace ``out`` even if it is a non-empty folder not written by xaikit.
    seed : int
        Seed of all random choices.
    threads : int or None
        Torch CPU threads during the run (restored afterwards). The demo's models are
        tiny, so one thread is fastest and immune to the slowdown of oversubscribed
        cores; ``None`` keeps the current setting.
    stream : TextIO, optional
        Where progress messages go (standard error by default).

    Returns
    -------
    DemoResult
    """
    chosen = select_sections(only, skip)
    started = time.perf_counter()
    report = Report(TITLE, description=DESCRIPTION)
    log = stream if stream is not None else sys.stderr
    previous_threads = torch.get_num_threads()
    previous_progress = progress_setting()
    if threads is not None:
        torch.set_num_threads(threads)
    # sections show their own bars (explicitly enabled); the methods' inner bars stay off
    set_progress(False)
    try:
        return _run(chosen, out, report, log, quick=quick, progress=progress, force=force,
                    seed=seed, started=started)
    finally:
        torch.set_num_threads(previous_threads)
        set_progress(previous_progress)


def _run(
    chosen: list[DemoSection],
    out: str | Path,
    report: Report,
    log: TextIO,
    *,
    quick: bool,
    progress: bool,
    force: bool,
    seed: int,
    started: float,
) -> DemoResult:
    statuses: dict[str, str] = {}
    timing: list[dict[str, object]] = []
    with staged_output(out, force=force) as staging:
        context = DemoContext(staging, quick=quick, progress=progress, seed=seed, stream=log)
        for section in chosen:
            context.log(f"{section.title} ...")
            began = time.perf_counter()
            built = _run_one(section, context)
            seconds = time.perf_counter() - began
            report.add_section(built)
            statuses[section.name] = built.status
            timing.append({"section": section.title, "status": built.status, "seconds": seconds})
            context.log(f"{section.title}: {built.status} ({seconds:.1f} s)")
        summary = Section("About this run")
        total = time.perf_counter() - started
        summary.add_text(f"The demo took {total:.0f} s on this machine; every file it wrote is in {Path(out)}.")
        summary.add_table(pd.DataFrame(timing), "Sections and their wall time", name="tables/run-sections.csv")
        report.add_section(summary)
        report.add_settings(_environment(context))
        report.save(staging)
    final = Path(out)
    return DemoResult(final, final / "report.html", statuses, time.perf_counter() - started)
