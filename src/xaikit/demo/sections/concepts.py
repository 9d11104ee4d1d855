"""Demo section: explanations inside the network (review 001, section IV-B): relevance at
layers, concept relevance propagation, relevance maximization and TCAV on the digits."""

from __future__ import annotations

import numpy as np
import torch

from xaikit.demo.context import DemoContext
from xaikit.demo.registry import register_section
from xaikit.report import Section

TITLE = "Inside the network: layers, concepts (CRP) and concept tests (TCAV)"

#: The layer whose 32 channels are the concepts, and the layers whose relevance is shown.
CONCEPT_LAYER = "features.3"
PROFILE_LAYERS = ["features.1", "features.3", "classifier.1", "classifier.2"]


def _layers_and_concepts(context: DemoContext, section: Section) -> tuple[float, float, float]:
    """Relevance at layers, CRP heatmaps and reference samples; returns the completeness error,
    the mean top-k overlap of relevance and activation maximization, and the conservation gap."""
    from xaikit.concepts import reference_samples
    from xaikit.core.registry import make_method
    from xaikit.models import load_digits_split
    from xaikit.report.concepts import (
        add_concept_heatmaps,
        add_layer_profile,
        add_reference_samples,
    )

    data = context.digits()
    model, x, y = data.model, data.x, data.y
    profile = make_method("lrp", layers=PROFILE_LAYERS)(model, x, y)
    add_layer_profile(section, profile, slug="inside-layers")
    gap = float((profile.layer_relevance("classifier.2").flatten(1).sum(1) - profile.output).abs().max())

    crp = make_method("crp", layer=CONCEPT_LAYER, per_concept=True)(model, x, y)
    lrp = make_method("lrp")(model, x, y)
    completeness = float((crp.extras["conditional_relevance"].sum(1) - lrp.attribution).abs().max())
    top = crp.extras["concept_relevance"].abs().sum(0).argsort(descending=True)[:5].tolist()
    add_concept_heatmaps(section, crp, concepts=top, column_labels=[f"digit {int(c)}" for c in y],
                         caption=f"The five channels of {CONCEPT_LAYER} with the most relevance over these digits. Over "
                                 f"all 32 channels the heatmaps add up to the LRP heatmap (largest difference "
                                 f"{completeness:.1e}).", slug="inside")

    _, _, x_test, _ = load_digits_split(seed=context.seed)
    pool = x_test[:120] if context.quick else x_test
    references = reference_samples(model, pool, CONCEPT_LAYER, top_k=6, progress=context.progress)
    heatmaps = {c: references.heatmaps(model, pool, c).attribution for c in top[:4]}
    add_reference_samples(section, references, pool, top[:4], heatmaps=heatmaps, slug="inside-references")
    section.add_text(
        f"Relevance at layers comes from the same backward pass as the input heatmap (xaikit.explain(..., "
        f"layers=[...])); CRP conditions it on single channels of {CONCEPT_LAYER}, all 32 in one batched pass. "
        f"Relevance maximization scores all {len(pool)} test digits for every channel at once, one LRP pass "
        "per batch."
    )
    return completeness, float(references.overlap().mean()), gap


def _tcav(context: DemoContext, section: Section) -> tuple[float, float, float]:
    """TCAV of a planted mark against random digits; returns the mark's score and p, the random concept's p."""
    from xaikit.concepts import tcav
    from xaikit.datasets import digits_with_artefact
    from xaikit.models import DigitsCNN
    from xaikit.models.training import fit_classifier
    from xaikit.report.concepts import add_tcav

    data = digits_with_artefact(artefact_class=3, fraction=0.5, seed=context.seed)
    model = fit_classifier(DigitsCNN, data.x_train, data.y_train, seed=context.seed, epochs=15)
    others, labels = data.x_train[data.y_train != 3], data.y_train[data.y_train != 3]
    rng = np.random.default_rng(context.seed)
    pools = [rng.permutation(np.flatnonzero(labels.numpy() == c)) for c in np.unique(labels.numpy())]
    count = 8 if context.quick else 14
    sets = [others[torch.from_numpy(np.concatenate([p[i * 6:(i + 1) * 6] for p in pools]))] for i in range(count)]
    marked = sets[0].clone()
    marked[:, 0, :2, :2] = 1.0  # the planted mark, on digits that are not threes
    threes = data.x_test[data.y_test == 3]
    results = {
        "corner mark": tcav(model, threes, 3, layer="classifier.1", concept=marked, random_sets=sets[2:],
                            seed=context.seed),
        "random digits": tcav(model, threes, 3, layer="classifier.1", concept=sets[1], random_sets=sets[2:],
                              seed=context.seed),
    }
    add_tcav(section, results, slug="inside-tcav",
             caption="Class 3 of a DigitsCNN trained on digits where half of the threes carry a 2x2 corner mark; "
                     "concepts at classifier.1: the mark drawn on digits of other classes, and plain digits.")
    mark, chance = results["corner mark"], results["random digits"]
    return mark.mean, mark.p_value, chance.p_value


@register_section("inside-the-network", TITLE, order=45)
def concepts_section(context: DemoContext) -> Section:
    """Relevance at layers, CRP, relevance maximization and TCAV on the digits models."""
    section = Section(TITLE)
    completeness, overlap, gap = _layers_and_concepts(context, section)
    score, p_mark, p_random = _tcav(context, section)
    section.add_conclusion(
        f"The relevance at the top layer equals the explained logit (largest gap {gap:.1e}), and the per-channel "
        f"heatmaps add up to the input heatmap (largest difference {completeness:.1e}): a heatmap splits into "
        f"the contributions of the network's channels without loss. Relevance and activation maximization share "
        f"only {overlap:.0%} of their reference digits: the digits where a channel fires most are often not those "
        f"where the class uses it. TCAV names a planted shortcut the class relies on: the corner mark scores "
        f"{score:.2f} for class 3 (p = {p_mark:.1e}), while a random concept is "
        f"{'not significant' if p_random > 0.05 else 'also significant: a warning that the test is too weak'} "
        f"(p = {p_random:.2f})."
    )
    return section
