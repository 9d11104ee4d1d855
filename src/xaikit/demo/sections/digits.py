"""Demo section: heatmaps of test digits with LRP composites and every other method."""

from __future__ import annotations

import re
import time
from typing import Any

import pandas as pd

from xaikit.demo.context import DemoContext, DigitsData
from xaikit.demo.methods import MethodRun, describe_options, plan_runs
from xaikit.demo.registry import register_section
from xaikit.report import Section

TITLE = "Digits: heatmaps of LRP and the other methods"

INTRO = """\
A small CNN trained on the 8x8 scikit-learn digits (trained on first use in a few seconds, \
then loaded from the cache) is explained on the first test digit of each of the classes \
{classes} (one column each), for the true class. \
Red marks pixels whose presence is evidence for the class, blue evidence against it, white \
no relevance; each heatmap is scaled by its largest absolute relevance.

LRP runs with three composites of the literature: epsilon_plus (z-plus on convolutions, \
epsilon on dense layers), epsilon_gamma_box (z^B with the pixel bounds 0 and 1 on the first \
layer, gamma on convolutions) and epsilon_alpha2_beta1. Every other registered method runs \
with options suited to the digits (listed in the table); perturbation methods play with \
2x2 pixel patches."""

UPSCALE = 16  # 8x8 heatmaps saved as 128x128 PNGs


def file_slug(text: str) -> str:
    """A file-name-safe version of a label."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "method"


def _write_heatmaps(context: DemoContext, label: str, explanation: Any, data: DigitsData) -> None:
    from xaikit import plot

    folder = file_slug(label)
    for k, (values, y) in enumerate(zip(explanation.attribution, data.y)):
        path = context.path("heatmaps", folder, f"digit-{k}-label{int(y)}.png")
        plot.save_png(path, plot.heatmap_rgb(values), upscale=UPSCALE)


def _write_inputs(context: DemoContext, data: DigitsData) -> None:
    import numpy as np

    from xaikit import plot

    for k, (image, y) in enumerate(zip(data.x, data.y)):
        gray = image[0].numpy().astype(np.float64)
        path = context.path("heatmaps", "inputs", f"digit-{k}-label{int(y)}.png")
        plot.save_png(path, np.repeat(gray[..., None], 3, axis=2), upscale=UPSCALE)


def run_methods(
    context: DemoContext, data: DigitsData, runs: list[MethodRun], failed: dict[str, str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Explain the digits with each run; failures are recorded in ``failed``."""
    from xaikit.utils import progress
    from xaikit.utils.errors import one_line

    explanations: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for run in progress(runs, desc="explaining digits", enabled=context.progress):
        start = time.perf_counter()
        try:
            explanation = run.explain(data.model, data.x, data.y)
        except Exception as error:  # one method failing must not stop the demo
            failed[run.label] = f"raised {one_line(error)}"
            continue
        seconds = time.perf_counter() - start
        if explanation.attribution.shape != data.x.shape:
            failed[run.label] = f"attribution of shape {tuple(explanation.attribution.shape)} is not an input heatmap"
            continue
        explanations[run.label] = explanation
        ratio = (explanation.relevance_sum / explanation.output).double().mean()
        rows.append({
            "method": run.label,
            "options": describe_options(run.options),
            "seconds": seconds,
            "sum(R) / output": float(ratio),
        })
    return explanations, rows


@register_section("digits", TITLE, order=10)
def digits_section(context: DemoContext) -> Section:
    """Explain test digits with LRP composites and the other registered methods."""
    from xaikit import plot

    data = context.digits()
    context.log(f"digits CNN ready (test accuracy {data.accuracy:.1%}); explaining {len(data.y)} digits")
    runs, skipped = plan_runs(data, quick=context.quick)
    explanations, rows = run_methods(context, data, runs, skipped)
    context.shared["explanations"] = explanations
    _write_inputs(context, data)
    for label, explanation in explanations.items():
        _write_heatmaps(context, label, explanation, data)
    columns = [f"label {int(y)}\npred {int(p)}" for y, p in zip(data.y, data.predicted)]
    shown_classes = sorted({int(c) for c in data.y})
    section = Section(TITLE).add_text(INTRO.format(classes=f"{shown_classes[0]}-{shown_classes[-1]}"))
    section.add_text(f"Model test accuracy: {data.accuracy:.1%}. Heatmap PNGs of every method are in the "
                     "folder heatmaps/ next to this report.", style="note")
    if explanations:
        figure = plot.grid(explanations, data.x, column_labels=columns, cell_size=1.05)
        section.add_figure(figure, f"{len(explanations)} methods (rows) on {len(columns)} test digits (columns).",
                           name="figures/digits-grid.png")
        lrp = {k: v for k, v in explanations.items() if k.startswith("LRP")}
        if lrp:
            figure = plot.grid(lrp, data.x, column_labels=columns, use_overlay=True, cell_size=1.3)
            section.add_figure(figure, "LRP composites over the (lightened) digits.", name="figures/digits-lrp-overlay.png")
            label, first = next(iter(lrp.items()))
            section.add_figure(first.plot(0), f"Explanation.plot() of the first digit ({label}).",
                               name="figures/digits-explanation-plot.png")
        section.add_table(pd.DataFrame(rows), "Methods run: options, time for all digits, and how much of the "
                          "explained output the heatmap accounts for (1 for conservative methods)",
                          name="tables/digits-methods.csv")
    if skipped:
        frame = pd.DataFrame({"method": list(skipped), "reason": list(skipped.values())})
        section.add_table(frame, "Registered methods not shown", name="tables/digits-skipped.csv")
    if not explanations:
        return Section.failed(TITLE, "no method produced a heatmap: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    section.add_conclusion(conclusion(rows))
    return section


def conclusion(rows: list[dict[str, Any]]) -> str:
    """What the table of methods says: which conserve the output, and what they cost."""
    from xaikit.demo.conclusions import enumeration, ranked

    ratios = {row["method"]: row["sum(R) / output"] for row in rows}
    conserving = [name for name, ratio in ratios.items() if abs(ratio - 1.0) <= 0.01]
    by_time = ranked({row["method"]: row["seconds"] for row in rows}, higher_first=False)
    (fastest, quick), (slowest, slow) = by_time[0], by_time[-1]
    return (
        f"{len(conserving)} of {len(rows)} methods conserve the explained logit (sum of relevance within 1% "
        f"of it): {enumeration(conserving)}. Their heatmaps split the logit among the pixels; the others "
        "rank pixels without adding up to the output, so only their pattern, not their size, can be "
        f"compared. The fastest method took {quick:.3g} s for all digits ({fastest}), the slowest "
        f"{slow:.3g} s ({slowest}), {slow / max(quick, 1e-9):.0f} times as long. Each map is scaled to its "
        "own largest |relevance| (the colour bar): compare where red and blue lie, not how deep they are."
    )
