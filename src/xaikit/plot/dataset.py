"""Figures of dataset-wide analyses: SpRAy's eigenvalue spectrum and cluster gallery, and
pooled relevance (feature groups x data groups, as in review 001's Fig. 11)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from xaikit.plot._figure import new_axes, new_figure
from xaikit.plot.colors import NEUTRAL_COLOR, POSITIVE_COLOR, relevance_cmap, sign_colors
from xaikit.plot.grid import colour_bar, scale_label
from xaikit.plot.heatmap import heatmap, input_image

if TYPE_CHECKING:
    from xaikit.analysis import PooledRelevance, SprayResult

__all__ = ["cluster_gallery", "eigenvalue_spectrum", "pooled_relevance"]


def eigenvalue_spectrum(result: SprayResult, ax: Axes | None = None, *, title: str | None = None) -> Axes:
    """The smallest eigenvalues of SpRAy's graph Laplacian, the eigengap's choice marked.

    Parameters
    ----------
    result : SprayResult
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    values = np.asarray(result.eigenvalues)
    axes = ax if ax is not None else new_axes((4.2, 3.0))
    ranks = np.arange(1, len(values) + 1)
    chosen = result.eigengap_clusters
    colors = [POSITIVE_COLOR if r <= chosen else NEUTRAL_COLOR for r in ranks]
    axes.bar(ranks, values, color=colors)
    axes.axvline(chosen + 0.5, color="black", linestyle="--", linewidth=0.8)
    axes.annotate(f"eigengap: {chosen} cluster{'s' if chosen != 1 else ''}", (chosen + 0.6, values.max() * 0.9))
    axes.set_xlabel("eigenvalue rank")
    axes.set_ylabel("eigenvalue of the normalized Laplacian")
    axes.set_xticks(ranks)
    axes.set_title(title or "SpRAy eigenvalue spectrum")
    return axes


def _mean_picture(axes: Axes, values: np.ndarray, title: str) -> None:
    if values.ndim == 1:
        axes.bar(np.arange(len(values)), values, color=sign_colors(values.tolist()), width=1.0)
        axes.axhline(0.0, color="black", linewidth=0.6)
        axes.set_title(title, fontsize=8)
        axes.set_xticks([])
    else:
        heatmap(values.reshape(-1, *values.shape[-2:]).sum(0), axes, title=title)
        axes.title.set_fontsize(8)


def cluster_gallery(
    result: SprayResult, inputs: Any = None, *, prototypes: int = 5, title: str | None = None
) -> Figure:
    """Per SpRAy cluster: its mean (normalized) explanation, then prototype samples.

    Parameters
    ----------
    result : SprayResult
    inputs : array-like, optional
        ``(N, ...)`` inputs indexed like the relevance analysed (for example
        ``store.read("inputs")``); images are drawn under the prototypes, series as lines.
    prototypes : int
        Prototypes shown per cluster.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows, columns = result.clusters, 1 + prototypes
    figure = new_figure((1.5 * columns, 1.6 * rows + 0.4))
    grid = figure.subplots(rows, columns, squeeze=False)
    sizes = result.sizes
    for cluster in range(rows):
        _mean_picture(grid[cluster, 0], result.mean_relevance[cluster], f"cluster {cluster}: mean\n({sizes[cluster]} samples)")
        picks = result.prototypes.get(cluster, np.zeros(0, dtype=int))[:prototypes]
        for column in range(1, columns):
            axes = grid[cluster, column]
            axes.set_axis_off()
            if column - 1 >= len(picks) or inputs is None:
                continue
            sample = np.asarray(inputs[int(picks[column - 1])])
            if sample.ndim >= 2 and sample.shape[-1] > 1 and sample.shape[-2] > 1:
                input_image(sample, axes, title=f"#{int(picks[column - 1])}")
            else:
                axes.plot(sample.reshape(-1), color="black", linewidth=0.8)
                axes.set_title(f"#{int(picks[column - 1])}", fontsize=8)
            axes.title.set_fontsize(8)
    if result.mean_relevance.ndim > 2:  # heatmaps: say what full colour means
        colour_bar(figure, list(grid[:, 0]), cmap=relevance_cmap(), positive_only=False,
                   label=scale_label(None, None, 1.0), aspect=min(20, 8 * rows))
    figure.suptitle(title or "SpRAy clusters: mean explanation and prototypes")
    return figure


def pooled_relevance(pooled: PooledRelevance, ax: Axes | None = None, *, per_sample: bool = True,
                     title: str | None = None) -> Axes:
    """Pooled relevance as grouped bars: one group of bars per data group, one bar per feature group.

    Parameters
    ----------
    pooled : PooledRelevance
    ax : matplotlib.axes.Axes, optional
    per_sample : bool
        Divide by the data group's size (mean contribution per sample), else the totals.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    values = pooled.mean if per_sample else pooled.relevance
    groups, features = values.shape
    axes = ax if ax is not None else new_axes((max(3.5, 0.9 * groups * max(features, 1) ** 0.5 + 1.5), 3.2))
    width = 0.8 / max(features, 1)
    palette = [f"C{i % 10}" for i in range(features)]
    for f in range(features):
        positions = np.arange(groups) - 0.4 + width * (f + 0.5)
        axes.bar(positions, values[:, f], width=width, color=palette[f], label=str(pooled.feature_groups[f]))
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.set_xticks(np.arange(groups), [str(g) for g in pooled.sample_groups])
    axes.set_ylabel("relevance per sample" if per_sample else "pooled relevance")
    if features > 1:
        axes.legend(fontsize=7, ncols=min(features, 4))
    axes.set_title(title or "pooled relevance: feature groups x data groups")
    return axes
