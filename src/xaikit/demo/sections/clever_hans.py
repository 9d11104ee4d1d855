"""Demo section: Clever-Hans discovery on a whole data set, with an explanation store,
SpRAy and relevance pooling (review 001, sections VI-B and VIII-A)."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from xaikit.demo.context import DemoContext
from xaikit.demo.registry import register_section
from xaikit.report import Section

TITLE = "Whole data sets: unmasking a Clever-Hans predictor with SpRAy"


#: What one data set's analysis found: its name, SpRAy's purity and recall, the class the
#: relevance screen ranks first, and the class that carries the artefact.
Finding = tuple[str, float, float, str, str]


def _digits(context: DemoContext, section: Section) -> Finding:
    from xaikit.analysis import artefact_relevance, pool_relevance, spray
    from xaikit.datasets import digits_with_artefact
    from xaikit.models import DigitsCNN
    from xaikit.models.training import fit_classifier
    from xaikit.report.dataset import add_artefact_ranking, add_pooled_relevance, add_spray
    from xaikit.store import explain_dataset

    data = digits_with_artefact(artefact_class=3, fraction=0.5, seed=context.seed)
    model = fit_classifier(DigitsCNN, data.x_train, data.y_train, seed=context.seed, epochs=15)
    store = explain_dataset(
        model, data.x_test, "lrp", store=context.path("stores", "digits.zarr"), labels=data.y_test, target="label",
        chunk_size=128, progress=context.progress,
    )
    threes = store.read("label") == data.artefact_class
    result = spray(store, samples=threes, seed=context.seed)
    flags = data.artefact_test.numpy()[result.indices]
    cluster, purity, recall = result.best_match(flags)
    ranking = artefact_relevance(store, data.region)
    section.add_text(
        f"Half of the training threes carry a 2x2 white square in the top-left corner, where digits are blank. "
        f"A DigitsCNN trained on these data uses it. All {store.samples} test digits are explained with LRP "
        f"into a Zarr store (xaikit.explain_dataset, {store.chunk_count} chunks, resumable). SpRAy on the "
        f"{int(threes.sum())} test threes: the eigengap picks {result.eigengap_clusters} strategies; cluster "
        f"{cluster} holds the marked threes (purity {purity:.0%}, recall {recall:.0%}), and its mean heatmap "
        f"sits on the mark. Screening all ten classes by the share of relevance on the corner ranks class "
        f"{ranking.groups[0]} first ({ranking.scores[0]:.1%}, next {ranking.scores[1]:.1%})."
    )
    add_spray(section, result, inputs=store.array("inputs"), flags=flags, flag_name="carries the mark",
              slug="clever-hans-digits")
    add_artefact_ranking(section, ranking, slug="clever-hans-digits-artefact")
    labels = np.where(flags, "3 with mark", "3 without mark")
    corner = {"corner (the mark's place)": np.broadcast_to(data.region, (1, 8, 8))}  # the rest: "other"
    pooled = pool_relevance(store.explanation(index=result.indices), corner, labels)
    add_pooled_relevance(section, pooled, slug="clever-hans-digits-pooled")
    return "digits", purity, recall, str(ranking.groups[0]), str(data.artefact_class)


def _series(context: DemoContext, section: Section) -> Finding:
    from xaikit.analysis import Normalization, artefact_relevance, spray
    from xaikit.core.registry import make_method
    from xaikit.datasets import series_with_artefact
    from xaikit.models import CNN1d
    from xaikit.models.training import fit_classifier
    from xaikit.report.dataset import add_artefact_ranking, add_spray

    data = series_with_artefact(seed=context.seed)
    model = fit_classifier(partial(CNN1d, 1, 3, 64), data.x_train, data.y_train, seed=context.seed, epochs=30)
    explanation = make_method("lrp")(model, data.x_test, data.y_test)
    chosen = (data.y_test == data.artefact_class).numpy()
    result = spray(explanation.attribution[torch.from_numpy(chosen)], clusters=2,
                   normalization=Normalization(size=(16,)), seed=context.seed)
    flags = data.artefact_test.numpy()[chosen]
    _, purity, recall = result.best_match(flags)
    ranking = artefact_relevance(explanation.attribution.numpy(), data.region, data.y_test.numpy())
    section.add_text(
        "Time series: three bump shapes in noise; half of class 1 carries a sharp spike early on. SpRAy on the "
        f"class-1 explanations (resized to 16 steps, 2 clusters set by hand: the eigengap picks "
        f"{result.eigengap_clusters} here) separates the spiked series (purity {purity:.0%}, recall "
        f"{recall:.0%}); the artefact score ranks class {ranking.groups[0]} first."
    )
    add_spray(section, result, inputs=data.x_test[torch.from_numpy(chosen)], flags=flags, flag_name="carries the spike",
              slug="clever-hans-series")
    add_artefact_ranking(section, ranking, slug="clever-hans-series-artefact")
    return "time series", purity, recall, str(ranking.groups[0]), str(data.artefact_class)


@register_section("clever-hans", TITLE, order=75, requires=("zarr",))
def clever_hans_section(context: DemoContext) -> Section:
    """Plant an artefact, explain the whole test set into a store, and find it with SpRAy."""
    section = Section(TITLE)
    found = [_digits(context, section), _series(context, section)]
    flagged = [name for name, _, _, first, planted in found if first == planted]
    summary = "; ".join(f"{name}: purity {p:.0%}, recall {r:.0%}" for name, p, r, _, _ in found)
    section.add_conclusion(
        f"SpRAy separates the explanations that use the planted artefact without being told where it is "
        f"({summary}), and the relevance screen puts the class that carries it first in "
        f"{len(flagged)} of {len(found)} data sets. The test accuracy cannot show this, since the test data "
        "carry the same artefact; the explanations of the whole data set do: audit them before trusting "
        "a classifier's accuracy."
    )
    return section
