"""Demo section: are explanations specific to the explained class? (random-logit test)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from xaikit.demo.context import DemoContext
from xaikit.demo.methods import MethodRun
from xaikit.demo.registry import SkipSection, register_section
from xaikit.report import Section

TITLE = "Evaluation: class sensitivity"

#: Methods compared, by registered name and label (those registered are shown).
METHODS = (("deconvnet", "DeconvNet"), ("guided_backprop", "guided backprop"), ("saliency", "saliency"))
#: Digits drawn in the figure.
SHOWN = 4


@register_section(
    "class-sensitivity", TITLE, order=22, requires=("xaikit.evaluate:class_sensitivity",)
)
def class_sensitivity_section(context: DemoContext) -> Section:
    """Explain the true class and another class of each digit; compare the two maps by SSIM."""
    from xaikit import plot
    from xaikit.core.registry import methods as registered
    from xaikit.evaluate import class_sensitivity
    from xaikit.models import digits_vgg
    from xaikit.utils import progress

    methods = [(name, label) for name, label in METHODS if name in registered()]
    if not methods:
        raise SkipSection("none of the compared methods is registered")
    model = digits_vgg(progress=context.progress, seed=context.seed)
    x, y = context.evaluation_digits()
    scores: dict[str, np.ndarray] = {}
    maps: dict[str, torch.Tensor] = {}
    for name, label in progress(methods, desc="class sensitivity", enabled=context.progress):
        result = class_sensitivity(model, x, name, y, similarities=["ssim"], seed=context.seed)
        scores[label] = result.scores["ssim"]
        shown = slice(0, SHOWN)
        run = MethodRun(label, name)
        maps[f"{label}: true class"] = run.explain(model, x[shown], y[shown]).attribution
        other = torch.as_tensor(result.other[:SHOWN])
        maps[f"{label}: other class"] = run.explain(model, x[shown], other).attribution
    section = Section(TITLE).add_text(
        "For each test digit the method explains the true class and a randomly chosen other class, "
        "and the two maps are compared by their structural similarity (SSIM, 1 = identical). A "
        "method that answers the question 'why this class?' gives different maps for different "
        "classes. The model is the VGG-style digits CNN (seven convolutions, four max-pools); with "
        "that many pooling stages DeconvNet and guided backprop draw nearly the same map whatever "
        "the class, decided by the ReLU masks and pooling switches of the forward pass (Mahendran "
        "and Vedaldi, 2016; Nie et al., 2018), while the gradient is class-specific."
    )
    labels = list(scores)
    draws = np.stack([scores[label] for label in labels], axis=1)  # (inputs, methods)
    axes = plot.bars(draws, labels, horizontal=True, value_label="SSIM")
    section.add_figure(axes, f"Similarity of the maps of the true and another class, per method: mean over "
                       f"{len(y)} test digits, bars of one standard deviation.",
                       name="figures/class-sensitivity-ssim.png")
    columns = [f"class {int(c)} vs {int(o)}" for c, o in zip(y[:SHOWN], result.other[:SHOWN], strict=True)]
    figure = plot.grid(maps, x[:SHOWN], column_labels=columns, cell_size=1.05)
    section.add_figure(figure, f"Maps of the true class and of the other class (rows) for {SHOWN} digits (columns).",
                       name="figures/class-sensitivity-maps.png")
    table = pd.DataFrame(
        {"method": labels, "SSIM (mean)": draws.mean(0), "SSIM (std.)": draws.std(0, ddof=1)}
    )
    section.add_table(table, "Structural similarity of the two classes' maps (high: class-insensitive)",
                      name="tables/class-sensitivity.csv")
    from xaikit.demo.conclusions import ranked

    order = ranked(dict(zip(labels, draws.mean(0).tolist(), strict=True)), higher_first=False)
    (specific, low), (blind, high) = order[0], order[-1]
    section.add_conclusion(
        f"{specific} is the most class-specific method here (SSIM {low:.2f} between the true and another "
        f"class's map); {blind} the least (SSIM {high:.2f}). A map that hardly changes with the class "
        "answers 'what in the input does the network respond to', not 'why this class': it cannot justify "
        "a decision."
    )
    return section
