"""Demo section: a small vision transformer on the digits, explained per pixel and per patch."""

from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from xaikit.demo.context import DemoContext
from xaikit.demo.methods import MethodRun
from xaikit.demo.registry import register_section
from xaikit.models import VisionTransformer, load_digits_split
from xaikit.report import Section

TITLE = "Vision transformer: the patches a ViT's digit decision rests on"
PATCH = 2
SHOWN = 6

METHODS = (
    MethodRun("AttnLRP", "lrp", {"composite": "attnlrp"}),
    MethodRun("CP-LRP", "lrp", {"composite": "cp_lrp"}),
    MethodRun("integrated gradients", "integrated_gradients", {"steps": 16, "progress": False}),
    MethodRun("gradient x input", "gradient_x_input", {}),
)


def train_digits_vit(seed: int, x: Tensor, y: Tensor, steps: int = 400) -> VisionTransformer:
    """Train a :class:`~xaikit.models.VisionTransformer` (2x2 patches) on the digits for a few seconds.

    The global random state is left untouched.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VisionTransformer(image_size=8, patch_size=PATCH)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(steps):
            index = torch.randint(0, len(x), (64,), generator=generator)
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[index]), y[index]).backward()
            optimizer.step()
    return model.eval()


def per_patch(attribution: Tensor) -> Tensor:
    """The relevance of each patch (summed over its pixels), spread back over its pixels for display."""
    summed = F.avg_pool2d(attribution, PATCH) * PATCH**2
    return summed.repeat_interleave(PATCH, -2).repeat_interleave(PATCH, -1)


@register_section("vision-transformer", TITLE, order=37, requires=("xaikit.evaluate:pixel_flipping",))
def vision_transformer_section(context: DemoContext) -> Section:
    """Train a ViT on the digits, show per-patch heatmaps and compare the methods by patch flipping."""
    from xaikit import plot
    from xaikit.evaluate import pixel_flipping

    x_train, y_train, x_test, y_test = load_digits_split(seed=context.seed)
    model = train_digits_vit(context.seed, x_train, y_train).double()
    x = x_test[:100].double()
    with torch.no_grad():
        accuracy = float((model(x_test.double()).argmax(1) == y_test).double().mean())
        predicted = model(x).argmax(1)
    explanations = {run.label: run.explain(model, x, predicted) for run in METHODS}
    reached = explanations["CP-LRP"]
    share = float((reached.attribution.sum((1, 2, 3)) / reached.output).median())
    section = Section(TITLE).add_text(
        "A vision transformer (2x2 patches embedded by a strided convolution, a class token, learned "
        "position embeddings, two pre-norm nn.TransformerEncoderLayer blocks, read at the class token) is "
        f"trained for a few seconds on the 8x8 digits (test accuracy {accuracy:.1%}). xaikit runs its "
        "attention as explicit products and a softmax, with AttnLRP's rules or CP-LRP's (attention held "
        "constant); no part of the model is patched. Heatmaps show each patch's relevance (the sum over its "
        f"four pixels). Under CP-LRP the pixels receive a median {share:.0%} of the explained logit; the class "
        "token, the position embeddings and the biases absorb the rest."
    )
    maps = {label: per_patch(e.attribution[:SHOWN]) for label, e in explanations.items()}
    figure = plot.grid(maps, x[:SHOWN], column_labels=[f"predicted {int(c)}" for c in predicted[:SHOWN]],
                       cell_size=1.05)
    section.add_figure(figure, f"Relevance per patch of {SHOWN} test digits (columns), by method (rows); red: for the "
                       "predicted digit, blue: against it.", name="figures/vit-patches.png")
    rows = []
    for label, e in explanations.items():
        flipped = pixel_flipping(model, x, e, predicted, patch=PATCH, removal="constant", progress=False)
        rows.append((label, flipped.mean_aopc))
    section.add_table(pd.DataFrame(rows, columns=["method", "AOPC, most relevant patch first"]),
                      "Patch flipping on 100 test digits: the mean drop of the logit as the 2x2 patches are "
                      "removed (set to 0) in the order of each method's relevance; higher is more faithful.",
                      name="tables/vit-patch-flipping.csv", precision=3)
    from xaikit.demo.conclusions import ranked

    order = ranked(dict(rows))
    (best, top), (worst, bottom) = order[0], order[-1]
    aopc = dict(rows)
    section.add_conclusion(
        f"Removing the patches in the order of {best} lowers the logit most (AOPC {top:.3g}), in the order "
        f"of {worst} least ({bottom:.3g}); AttnLRP reaches {aopc['AttnLRP']:.3g} and CP-LRP "
        f"{aopc['CP-LRP']:.3g}, so the rule chosen for attention changes how faithful the heatmaps are. "
        f"Under CP-LRP the pixels carry a median {share:.0%} of the logit: read its heatmaps as the pixels' "
        "share, with the rest held by the class token, the position embeddings and the biases."
    )
    return section
