"""Figures of explanations inside the network: per-concept heatmaps (CRP), reference
samples per concept, TCAV scores with their significance, and layer-relevance profiles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from xaikit.plot._arrays import image_attribution, to_numpy
from xaikit.plot._figure import new_axes, new_figure
from xaikit.plot.colors import NEGATIVE_COLOR, NEUTRAL_COLOR, POSITIVE_COLOR, relevance_cmap
from xaikit.plot.grid import blank_axes, colour_bar
from xaikit.plot.heatmap import heatmap, input_image, overlay
from xaikit.plot.normalize import relevance_scale

if TYPE_CHECKING:
    from xaikit.concepts import ReferenceSamples, TCAVResult
    from xaikit.core.explanation import Explanation

__all__ = ["concept_heatmaps", "layer_relevance_profile", "reference_gallery", "tcav_scores"]


def _conditional(explanation: Explanation) -> tuple[np.ndarray, list[int]]:
    if "conditional_relevance" not in explanation.extras:
        raise ValueError(
            "concept_heatmaps needs per-concept heatmaps: explain with method='crp' and per_concept=True"
        )
    values = to_numpy(explanation.extras["conditional_relevance"], name="conditional_relevance")
    if values.ndim != 5:
        raise ValueError(f"concept_heatmaps draws image heatmaps (N, K, C, H, W); got shape {values.shape}")
    return values, [int(c) for c in explanation.extras["concepts"]]


def concept_heatmaps(
    explanation: Explanation,
    *,
    indices: Sequence[int] | None = None,
    concepts: Sequence[int] | None = None,
    column_labels: Sequence[str] | None = None,
    use_overlay: bool = False,
    cell_size: float = 1.3,
    title: str | None = None,
) -> Figure:
    """Concepts (rows) x inputs (columns): the CRP heatmap of each concept on each input.

    The first rows show the input and the unconditioned heatmap. The heatmaps of one input
    share one colour scale (a column's concepts compare directly); each cell's title is
    the concept's share of the input's relevance at the layer.

    Parameters
    ----------
    explanation : Explanation
        A ``method="crp"`` explanation with ``per_concept=True`` of an image batch.
    indices : sequence of int, optional
        The samples to show (all by default).
    concepts : sequence of int, optional
        Channels to show, among those explained (all of them by default).
    column_labels : sequence of str, optional
        One label per shown sample.
    use_overlay : bool
        Draw the heatmaps over the (grey) inputs.
    cell_size : float
        Size of one cell in inches.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    values, explained = _conditional(explanation)
    shown = explained if concepts is None else [int(c) for c in concepts]
    missing = [c for c in shown if c not in explained]
    if missing:
        raise ValueError(f"concepts {missing} were not explained; the explanation holds {explained}")
    rows = [explained.index(c) for c in shown]
    chosen = list(range(len(values))) if indices is None else [int(i) for i in indices]
    if column_labels is not None and len(column_labels) != len(chosen):
        raise ValueError(f"{len(column_labels)} column labels for {len(chosen)} samples")
    images = None if explanation.inputs is None else to_numpy(explanation.inputs, name="inputs")
    if use_overlay and images is None:
        raise ValueError("use_overlay needs the inputs (explain with keep_inputs=True)")
    totals = to_numpy(explanation.extras["concept_relevance"], name="concept_relevance")
    union = to_numpy(explanation.attribution, name="attribution")
    top = 1 + int(images is not None)
    figure = new_figure((cell_size * len(chosen) + 1.6, cell_size * (len(rows) + top) + 0.5))
    axes = figure.subplots(len(rows) + top, len(chosen), squeeze=False)
    for col, n in enumerate(chosen):
        maps = values[n, rows]
        scale = relevance_scale(np.stack([image_attribution(m) for m in maps]))
        if images is not None:
            input_image(images[n], axes[0, col])
        heatmap(union[n], axes[top - 1, col], title="all concepts")
        layer_total = float(np.abs(totals[n]).sum()) or 1.0
        for row, k in enumerate(rows, start=top):
            cell = axes[row, col]
            share = f"{totals[n, explained[k]] / layer_total:+.0%}"
            if use_overlay:
                assert images is not None
                overlay(images[n], maps[row - top], cell, scale=scale, title=share)
            else:
                heatmap(maps[row - top], cell, scale=scale, title=share)
        if column_labels is not None:
            axes[0, col].set_title(column_labels[col], fontsize="small")
    for row, concept in enumerate(shown, start=top):
        axes[row, 0].set_ylabel(f"channel {concept}", rotation=0, ha="right", va="center", fontsize="small")
    axes[top - 1, 0].set_ylabel("CRP, all", rotation=0, ha="right", va="center", fontsize="small")
    for cell in axes.flat:
        blank_axes(cell)
        cell.title.set_fontsize(7)
    colour_bar(figure, list(axes[top:].flat), cmap=relevance_cmap(), positive_only=False,
               label="relevance / the column's max |R|", aspect=min(20, 8 * len(rows)))
    layer = explanation.extras.get("layer", "the layer")
    figure.suptitle(title or f"CRP: each channel's heatmap at {layer!s} (title: its share of the layer's |R|)")
    return figure


def reference_gallery(
    references: ReferenceSamples,
    data: Any,
    concepts: Sequence[int],
    *,
    by: Literal["relevance", "activation"] = "relevance",
    heatmaps: Mapping[int, Any] | None = None,
    shown: int | None = None,
    cell_size: float = 1.2,
    title: str | None = None,
) -> Figure:
    """Per concept (rows), its reference samples (columns), best first.

    Parameters
    ----------
    references : ReferenceSamples
        From :func:`xaikit.concepts.reference_samples`.
    data : array-like
        ``(N, ...)`` the samples scored (images, or crops of them indexed alike).
    concepts : sequence of int
        The channels to show.
    by : {"relevance", "activation"}
        Relevance maximization's choice or activation maximization's.
    heatmaps : mapping of int to array-like, optional
        Per concept, ``(k, C, H, W)`` CRP heatmaps of its reference samples (for example
        ``references.heatmaps(model, data, c).attribution``): drawn over the images.
    shown : int, optional
        Samples per concept (all ``k`` by default).
    cell_size : float
        Inches per sample shown.
    title : str, optional
        The figure's title (by default it names the layer and the ranking).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if by not in ("relevance", "activation"):
        raise ValueError(f"by must be 'relevance' or 'activation', got {by!r}")
    if heatmaps is not None and by != "relevance":
        raise ValueError("heatmaps belong to the samples chosen by relevance; pass by='relevance'")
    picks = references.by_relevance if by == "relevance" else references.by_activation
    scores = references.relevance if by == "relevance" else references.activation
    columns = picks.shape[1] if shown is None else min(int(shown), picks.shape[1])
    figure = new_figure((cell_size * columns + 1.4, cell_size * len(concepts) + 0.5))
    axes = figure.subplots(len(concepts), columns, squeeze=False)
    for row, concept in enumerate(concepts):
        if not 0 <= int(concept) < references.concepts:
            raise ValueError(f"concept {concept} is not a channel of {references.layer!r} ({references.concepts})")
        maps = None if heatmaps is None or concept not in heatmaps else to_numpy(heatmaps[concept], name="heatmaps")
        for col in range(columns):
            index = int(picks[concept, col])
            sample = np.asarray(data[index])
            cell = axes[row, col]
            label = f"#{index}: {scores[concept, col]:.2g}"
            if maps is not None:
                overlay(sample, maps[col], cell, title=label)
            elif sample.ndim >= 2:
                input_image(sample, cell, title=label)
            else:
                cell.plot(sample.reshape(-1), color="black", linewidth=0.8)
                cell.set_title(label)
            blank_axes(cell)
            cell.title.set_fontsize(7)
        axes[row, 0].set_ylabel(f"channel {concept}", rotation=0, ha="right", va="center", fontsize="small")
    what = "relevance maximization" if by == "relevance" else "activation maximization"
    figure.suptitle(title or f"Reference samples at {references.layer} by {what} (title: sample, score)")
    return figure


def _stars(p: float) -> str:
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "n.s."


def tcav_scores(
    results: Mapping[str, TCAVResult],
    ax: Axes | None = None,
    *,
    level: float = 0.05,
    title: str | None = None,
) -> Axes:
    """TCAV scores per concept: mean and spread over the random sets, beside random concepts'.

    Each concept's bar is coloured when its p-value is below ``level`` (grey when not) and
    marked with its significance (``*`` < 0.05, ``**`` < 0.01, ``***`` < 0.001, else
    ``n.s.``); the grey bars beside are the scores of random concepts, the baseline of the test.

    Parameters
    ----------
    results : mapping of str to TCAVResult
        Concept name -> :func:`xaikit.concepts.tcav`'s result for one class.
    ax : matplotlib.axes.Axes, optional
    level : float
        The significance level that colours a bar.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not results:
        raise ValueError("tcav_scores needs at least one concept's result")
    axes = ax if ax is not None else new_axes((max(3.6, 1.3 * len(results) + 1.5), 3.2))
    positions = np.arange(len(results))
    for x, result in zip(positions, results.values(), strict=True):
        significant = result.p_value < level
        mean = float(result.scores.mean())
        colour = (POSITIVE_COLOR if mean >= 0.5 else NEGATIVE_COLOR) if significant else NEUTRAL_COLOR
        axes.bar(x - 0.18, mean, width=0.34, yerr=float(result.scores.std()), color=colour, capsize=3,
                 label="concept" if x == 0 else None)
        axes.bar(x + 0.18, float(result.random_scores.mean()), width=0.34, yerr=float(result.random_scores.std()),
                 color="lightgrey", edgecolor="grey", capsize=3, label="random concepts" if x == 0 else None)
        axes.annotate(f"{_stars(result.p_value)}\np={result.p_value:.2g}", (x - 0.18, min(mean + 0.08, 1.02)),
                      ha="center", fontsize=7)
    axes.axhline(0.5, color="black", linestyle="--", linewidth=0.7)
    axes.set_xticks(positions, list(results))
    axes.set_ylim(0.0, 1.18)
    axes.set_ylabel("TCAV score (share of positive\ndirectional derivatives)")
    axes.legend(fontsize=7, loc="upper right")
    axes.set_title(title or "TCAV: concept scores against random concepts", fontsize="medium")
    return axes


def layer_relevance_profile(
    explanation: Explanation,
    ax: Axes | None = None,
    *,
    title: str | None = None,
) -> Axes:
    """Relevance summed at each layer, from the output down to the input (conservation at a glance).

    Parameters
    ----------
    explanation : Explanation
        An explanation with relevance at named layers (``method="lrp", layers=[...]``);
        bars are the mean over its samples, in the order output, layers (as given, from the
        top), input.
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    names = explanation.layers
    if not names:
        raise ValueError("the explanation carries no layer relevance: explain with layers=[...] (method='lrp')")
    per_layer = [float(explanation.layer_relevance(n).flatten(1).sum(1).double().mean()) for n in reversed(names)]
    labels = ["output", *reversed(names), "input"]
    values = [float(explanation.output.double().mean()), *per_layer, float(explanation.relevance_sum.double().mean())]
    axes = ax if ax is not None else new_axes((max(4.0, 0.7 * len(labels) + 1.5), 3.2))
    colours = [NEUTRAL_COLOR, *([POSITIVE_COLOR] * len(names)), POSITIVE_COLOR]
    axes.bar(np.arange(len(values)), values, color=colours)
    for x, value in enumerate(values):
        axes.annotate(f"{value:.3g}", (x, value), ha="center", va="bottom", fontsize=7)
    axes.axhline(values[0], color="black", linestyle="--", linewidth=0.7)
    axes.set_xticks(np.arange(len(values)), labels, rotation=30, ha="right", fontsize=8)
    axes.set_ylabel("relevance (mean over samples)")
    axes.set_title(title or "Relevance at each layer (dashed: the explained output)", fontsize="medium")
    return axes
