"""Demo sections: pixel-flipping and model-randomization checks of the digits explanations."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from xaikit.demo.context import DemoContext
from xaikit.demo.methods import LRP_RUNS, MethodRun, chosen_runs
from xaikit.demo.registry import SkipSection, register_section
from xaikit.report import Section

FLIPPING_TITLE = "Evaluation: pixel-flipping"
RANDOMIZATION_TITLE = "Evaluation: model randomization"

#: Methods compared by pixel-flipping (those registered), besides the LRP composites.
FLIPPING_METHODS = ("integrated_gradients", "occlusion", "shapley_sampling", "saliency", "guided_backprop")
#: Methods compared under cascading randomization (those registered).
RANDOMIZATION_METHODS = ("saliency", "gradient_x_input", "integrated_gradients", "guided_backprop")

FLIPPING_INTRO = """\
Pixels of {n_digits} test digits are set to zero (the background value) two at a time, most \
relevant first, and the logit of the true class is recorded. A faithful explanation makes \
it fall faster than removing pixels in random order: a larger area over the perturbation \
curve (AOPC), a smaller area under it."""

RANDOMIZATION_INTRO = """\
The sanity check of Adebayo et al. (2018): the network's layers are re-initialized from the \
top down, one more at each step, and each explanation of the randomized network is compared \
with the original one on {n_digits} test digits. An explanation that stays similar does not \
depend on what the network learned. Maps are compared by magnitude (absolute values), as in \
the literature: the sign of a z-plus map flips with the sign of the randomized logit. On these \
8x8 digits with a black background, methods that multiply by the input (gradient x input, \
integrated gradients) inherit the input's structure in magnitude; Adebayo et al. point out \
the same effect. The signed comparison is in xaikit.evaluate (similarities='ssim')."""


@register_section("pixel-flipping", FLIPPING_TITLE, order=20, requires=("xaikit.evaluate:pixel_flipping",))
def pixel_flipping_section(context: DemoContext) -> Section:
    """Remove the most relevant pixels first; faithful heatmaps make the output drop fast."""
    from xaikit import plot
    from xaikit.evaluate import pixel_flipping

    data = context.digits()
    x, y = context.evaluation_digits()
    curves: dict[str, np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    fractions = None
    for run in chosen_runs(context, FLIPPING_METHODS, LRP_RUNS[:2], "pixel-flipping"):
        explanation = run.explain(data.model, x, y)
        result = pixel_flipping(data.model, x, explanation, y, order="morf", step=2, removal="constant",
                                progress=False)
        curves[run.label], fractions = result.curves, result.fractions
        rows.append({"method": run.label, "AOPC (mean)": float(result.aopc.mean()),
                     "AOPC (std. error)": float(result.aopc.std(ddof=1) / np.sqrt(len(result.aopc)))})
    if not curves:
        raise SkipSection("no method to evaluate")
    baseline = pixel_flipping(data.model, x, None, y, order="random", step=2, removal="constant",
                              seed=context.seed, progress=False)
    curves["random"] = baseline.curves
    rows.append({"method": "random", "AOPC (mean)": float(baseline.aopc.mean()),
                 "AOPC (std. error)": float(baseline.aopc.std(ddof=1) / np.sqrt(len(baseline.aopc)))})
    section = Section(FLIPPING_TITLE).add_text(FLIPPING_INTRO.format(n_digits=len(y)))
    axes = plot.pixel_flipping_curves(curves, fractions, ylabel="logit of the true class")
    section.add_figure(axes, "Mean curve per method (band: one standard error).",
                       name="figures/pixel-flipping.png")
    table = pd.DataFrame(rows).sort_values("AOPC (mean)", ascending=False, ignore_index=True)
    section.add_table(table, "Area over the perturbation curve (higher is more faithful)",
                      name="tables/pixel-flipping.csv")
    section.add_conclusion(flipping_conclusion(table))
    return section


def flipping_conclusion(table: pd.DataFrame) -> str:
    """Which method's order lowers the logit fastest, and which do not beat the random order."""
    from xaikit.demo.conclusions import enumeration

    scores = table.set_index("method")
    random_aopc, random_error = scores.loc["random", ["AOPC (mean)", "AOPC (std. error)"]]
    methods = scores.drop(index="random")
    best, best_aopc = methods["AOPC (mean)"].idxmax(), methods["AOPC (mean)"].max()
    beaten = methods.index[methods["AOPC (mean)"] - 2 * methods["AOPC (std. error)"] > random_aopc + 2 * random_error]
    behind = [name for name in methods.index if name not in beaten]
    verdict = (
        f"{enumeration(behind)} {'does' if len(behind) == 1 else 'do'} not: for this model, "
        f"{'its' if len(behind) == 1 else 'their'} ranking of the pixels is no better than chance."
        if behind else "every method's ranking of the pixels is better than chance for this model."
    )
    return (
        f"{best}'s curve falls fastest: AOPC {best_aopc:.3g} against {random_aopc:.3g} for removing the pixels "
        f"in random order. {len(beaten)} of {len(methods)} methods beat the random order by more than two "
        f"standard errors; {verdict} The ranking holds for this removal (pixels set to 0); it can change "
        "with another."
    )


@register_section(
    "randomization", RANDOMIZATION_TITLE, order=21, requires=("xaikit.evaluate:model_randomization",)
)
def randomization_section(context: DemoContext) -> Section:
    """Cascading randomization: explanations should change when the weights are destroyed."""
    from xaikit import plot
    from xaikit.evaluate import model_randomization

    data = context.digits()
    x, y = context.evaluation_digits()
    x, y = x[:16], y[:16]
    lrp = (LRP_RUNS[0], MethodRun("LRP alpha1_beta0", "lrp", {"composite": "alpha1_beta0"}))
    ssim: dict[str, np.ndarray] = {}
    spearman: dict[str, np.ndarray] = {}
    layers: list[str] = []
    for run in chosen_runs(context, RANDOMIZATION_METHODS, lrp, "randomization"):
        result = model_randomization(data.model, x, run.method, y, order="top_down",
                                     similarities=("ssim_abs", "spearman_abs"), seeds=(context.seed,),
                                     method_options=run.options, progress=False)
        layers = list(result.layers)
        ssim[run.label] = result.scores["ssim_abs"].mean(0).T  # (inputs, layers)
        spearman[run.label] = result.scores["spearman_abs"].mean(0).T
    if not ssim:
        raise SkipSection("no method to evaluate")
    section = Section(RANDOMIZATION_TITLE).add_text(RANDOMIZATION_INTRO.format(n_digits=len(y)))
    axes = plot.randomization_curves(ssim, layers, ylabel="SSIM to the original |heatmap|")
    section.add_figure(axes, "Structural similarity of the absolute maps per randomized layer (band: one standard deviation).",
                       name="figures/randomization-ssim.png")
    table = pd.DataFrame(
        {label: values.mean(0) for label, values in spearman.items()}, index=pd.Index(layers, name="randomized up to")
    ).T
    table.index.name = "method"
    section.add_table(table, "Spearman rank correlation of the absolute maps with the original, per randomized layer",
                      name="tables/randomization-spearman.csv")
    section.add_conclusion(randomization_conclusion(table))
    return section


def randomization_conclusion(table: pd.DataFrame) -> str:
    """Which maps change most, and which least, once every layer is randomized."""
    final = table.iloc[:, -1]
    changed, kept = final.idxmin(), final.idxmax()
    return (
        f"With every layer randomized, {changed}'s map keeps a rank correlation of {final.min():.2f} with the "
        f"original: it depends on the learned weights, as an explanation of the model must. {kept}'s keeps "
        f"{final.max():.2f}: the more a map survives the destruction of the model, the more it shows the "
        "input (its edges, its bright pixels) rather than what the model learned."
    )
