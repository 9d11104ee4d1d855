"""The demo, the project's main job: ``xaikit demo`` (or :func:`run_demo`).

It trains (or loads the cached) digits CNN, explains test digits with LRP composites and
every other registered method, evaluates them, explains a time series, reproduces the
wholesale neuralization example, and writes heatmaps and a self-contained
``report.html``. Each part is a registered section (:func:`register_section`); a part
whose module is not installed yet is skipped with a note in the report.
"""

from xaikit.demo.context import DemoContext, DigitsData
from xaikit.demo.methods import LRP_RUNS, MethodRun, plan_runs
from xaikit.demo.registry import (
    DemoSection,
    SkipSection,
    available_sections,
    register_section,
    unregister_section,
)
from xaikit.demo.runner import DemoError, DemoResult, run_demo, select_sections

__all__ = [
    "LRP_RUNS",
    "DemoContext",
    "DemoError",
    "DemoResult",
    "DemoSection",
    "DigitsData",
    "MethodRun",
    "SkipSection",
    "available_sections",
    "plan_runs",
    "register_section",
    "run_demo",
    "select_sections",
    "unregister_section",
]
