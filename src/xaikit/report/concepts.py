"""The report's figures of explanations inside the network: relevance at layers, CRP's
per-concept heatmaps, reference samples per concept and TCAV scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xaikit.report.section import Section

if TYPE_CHECKING:
    from xaikit.concepts import ReferenceSamples, TCAVResult
    from xaikit.core.explanation import Explanation

__all__ = ["add_concept_heatmaps", "add_layer_profile", "add_reference_samples", "add_tcav"]


def add_layer_profile(section: Section, explanation: Explanation, *, slug: str = "layers") -> Section:
    """Append the relevance at each layer (figure and table) with what each layer absorbed.

    Parameters
    ----------
    section : Section
    explanation : Explanation
        With relevance at named layers (``method="lrp", layers=[...]``).
    slug : str
        Prefix of the figure and table file names.

    Returns
    -------
    Section
    """
    from xaikit import plot

    names = list(reversed(explanation.layers))
    sums = [float(explanation.layer_relevance(n).flatten(1).sum(1).double().mean()) for n in names]
    levels = ["output", *names, "input"]
    values = [float(explanation.output.double().mean()), *sums, float(explanation.relevance_sum.double().mean())]
    section.add_figure(plot.layer_relevance_profile(explanation),
                       "Relevance summed over each named layer (mean over the explained samples), from the output "
                       "down to the input; a drop is what the layers between absorbed (their biases, the stabilizer).",
                       name=f"figures/{slug}-profile.png")
    frame = pd.DataFrame({"level": levels, "relevance": values,
                          "absorbed since the level above": [0.0, *np.negative(np.diff(values))]})
    return section.add_table(frame, "Relevance per level (mean over samples)", name=f"tables/{slug}-profile.csv")


def add_concept_heatmaps(section: Section, explanation: Explanation, *, concepts: Sequence[int] | None = None,
                         column_labels: Sequence[str] | None = None, caption: str = "",
                         slug: str = "crp") -> Section:
    """Append CRP's concepts x inputs heatmap grid.

    Parameters
    ----------
    section : Section
    explanation : Explanation
        ``method="crp"`` with ``per_concept=True``.
    concepts : sequence of int, optional
        The channels shown (all explained ones by default).
    column_labels : sequence of str, optional
    caption : str
        Added after the standard caption.
    slug : str
        The figure's file name.

    Returns
    -------
    Section
    """
    from xaikit import plot

    figure = plot.concept_heatmaps(explanation, concepts=concepts, column_labels=column_labels)
    text = ("Concept relevance propagation: the heatmap of each channel (row) for each input (column), on one "
            "colour scale per input; the cell title is the channel's share of the input's relevance at the layer.")
    return section.add_figure(figure, f"{text} {caption}".strip(), name=f"figures/{slug}-concepts.png")


def add_reference_samples(section: Section, references: ReferenceSamples, data: Any, concepts: Sequence[int], *,
                          heatmaps: Mapping[int, Any] | None = None, slug: str = "references") -> Section:
    """Append the reference samples of ``concepts`` by relevance and by activation, and their overlap.

    Parameters
    ----------
    section : Section
    references : ReferenceSamples
    data : array-like
        The samples scored.
    concepts : sequence of int
    heatmaps : mapping of int to array-like, optional
        CRP heatmaps of each concept's reference samples (by relevance).
    slug : str
        Prefix of the file names.

    Returns
    -------
    Section
    """
    from xaikit import plot

    section.add_figure(plot.reference_gallery(references, data, concepts, heatmaps=heatmaps),
                       "Relevance maximization: the samples where each channel is most relevant for the explained "
                       "class, with the channel's CRP heatmap on them.", name=f"figures/{slug}-by-relevance.png")
    section.add_figure(plot.reference_gallery(references, data, concepts, by="activation"),
                       "Activation maximization: the samples where each channel fires most.",
                       name=f"figures/{slug}-by-activation.png")
    overlap = references.overlap()
    frame = pd.DataFrame({"channel": list(concepts), "top-k shared by both rankings": overlap[list(concepts)]})
    return section.add_table(frame, f"Overlap of the two top-{references.by_relevance.shape[1]} rankings "
                             f"(over all {references.concepts} channels: mean {overlap.mean():.0%})",
                             name=f"tables/{slug}-overlap.csv")


def add_tcav(section: Section, results: Mapping[str, TCAVResult], *, caption: str = "", slug: str = "tcav") -> Section:
    """Append the TCAV bar chart and the table of scores and p-values.

    Parameters
    ----------
    section : Section
    results : mapping of str to TCAVResult
        Concept name -> result, for one class.
    caption : str
        Added after the standard caption.
    slug : str
        Prefix of the file names.

    Returns
    -------
    Section
    """
    from xaikit import plot

    section.add_figure(plot.tcav_scores(results),
                       f"TCAV scores (mean and standard deviation over the random sets) beside random concepts'; "
                       f"stars mark the p-value of the test. {caption}".strip(), name=f"figures/{slug}.png")
    frame = pd.DataFrame({
        "concept": list(results),
        "TCAV score": [r.mean for r in results.values()],
        "random concepts": [float(r.random_scores.mean()) for r in results.values()],
        "p (t-test)": [r.score_p_value for r in results.values()],
        "p (CAV better than chance)": [r.separable_p_value for r in results.values()],
        "p": [r.p_value for r in results.values()],
        "CAV accuracy": [float(r.accuracies.mean()) for r in results.values()],
    })
    return section.add_table(frame, "TCAV: the concept is significant when both tests are (p is the larger)",
                             name=f"tables/{slug}.csv")
