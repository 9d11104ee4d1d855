"""2-D embeddings (t-SNE, PCA, ...) coloured by a score or a cluster label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, Normalize, TwoSlopeNorm

from xaikit.plot._arrays import to_numpy
from xaikit.plot._figure import new_axes
from xaikit.plot.colors import DIVERGING


def _is_categorical(scores: Any) -> bool:
    """Integer or boolean scores are labels; floating-point scores are values."""
    dtype = getattr(scores, "dtype", None)
    if dtype is not None and hasattr(dtype, "is_floating_point"):  # torch
        return not (dtype.is_floating_point or dtype.is_complex)
    return np.asarray(scores).dtype.kind in "iub"


def embedding_scatter(
    points: Any,
    scores: Any = None,
    ax: Axes | None = None,
    *,
    categorical: bool | None = None,
    cmap: str | Colormap | None = None,
    highlight: Sequence[int] = (),
    highlight_labels: Sequence[str] | None = None,
    score_label: str = "score",
    size: float = 14.0,
    title: str | None = None,
) -> Axes:
    """Scatter a 2-D embedding coloured by a score per point.

    Parameters
    ----------
    points : array-like
        ``(N, 2)`` coordinates (for example from t-SNE).
    scores : array-like, optional
        ``(N,)`` values or integer labels. Signed scores (both signs present) use a
        diverging colormap centred at zero; non-negative ones a sequential map; labels a
        qualitative map with a legend.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when omitted.
    categorical : bool, optional
        Treat scores as labels; by default integer scores are labels, floats values.
    cmap : str or Colormap, optional
        Override the colormap.
    highlight : sequence of int
        Indices of points to mark and annotate (for example the customers discussed).
    highlight_labels : sequence of str, optional
        Annotation per highlighted point (the index by default).
    score_label : str
        Label of the colorbar.
    size : float
        Marker size.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
    """
    xy = to_numpy(points, name="points")
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {xy.shape}")
    axes = ax if ax is not None else new_axes((4.6, 4.0))
    if scores is None:
        axes.scatter(xy[:, 0], xy[:, 1], s=size, color="0.4", linewidths=0)
    else:
        values = to_numpy(scores, name="scores")
        if values.shape != (xy.shape[0],):
            raise ValueError(f"scores must have shape ({xy.shape[0]},), got {values.shape}")
        as_labels = _is_categorical(scores) if categorical is None else categorical
        if as_labels:
            palette = mpl.colormaps[cmap or "tab10"] if not isinstance(cmap, Colormap) else cmap
            for k, label in enumerate(np.unique(values)):
                mask = values == label
                axes.scatter(
                    xy[mask, 0], xy[mask, 1], s=size, color=palette(k % palette.N), linewidths=0,
                    label=f"{label:g}",
                )
            axes.legend(title=score_label, fontsize="small", frameon=False, markerscale=1.5)
        else:
            low, high = float(values.min()), float(values.max())
            if low < 0.0 < high:
                norm: Normalize = TwoSlopeNorm(vcenter=0.0, vmin=low, vmax=high)
                colormap = cmap if cmap is not None else DIVERGING
            else:
                norm = Normalize(low, high)
                colormap = cmap if cmap is not None else "viridis"
            mappable = axes.scatter(
                xy[:, 0], xy[:, 1], c=values, cmap=colormap, norm=norm, s=size, linewidths=0
            )
            axes.figure.colorbar(mappable, ax=axes, label=score_label)
    labels = [str(i) for i in highlight] if highlight_labels is None else list(highlight_labels)
    if len(labels) != len(highlight):
        raise ValueError(f"{len(labels)} labels for {len(highlight)} highlighted points")
    for index, text in zip(highlight, labels):
        x, y = xy[int(index)]
        axes.scatter([x], [y], s=size * 5, facecolors="none", edgecolors="black", linewidths=1.5)
        axes.annotate(text, (x, y), xytext=(6, 6), textcoords="offset points", fontsize="small")
    axes.set_xticks([])
    axes.set_yticks([])
    if title:
        axes.set_title(title)
    return axes
