"""Figures of the NEON analyses (plain matplotlib, Agg canvas, never ``show()``).

All figure code of :mod:`xaikit.neon` lives here so that it can move to
:mod:`xaikit.plot` later. Figures are built with :class:`matplotlib.figure.Figure`
directly, without pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from xaikit.neon.images import ClusterDemo, ScratchDemo
    from xaikit.neon.wholesale import CustomerAnalysis, WholesaleResult

__all__ = [
    "cluster_figure",
    "customer_figure",
    "relevance_bars",
    "save",
    "scratch_figure",
    "tsne_figure",
]


def save(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix) and return the path."""
    out = Path(path)
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    return out


def relevance_bars(
    ax: Axes, names: Sequence[str], values: np.ndarray, errors: np.ndarray | None = None, title: str = ""
) -> Axes:
    """Horizontal bars of per-feature relevance (red positive, blue negative)."""
    y = np.arange(len(names))
    colors = ["tab:red" if v >= 0 else "tab:blue" for v in values]
    ax.barh(y, values, xerr=errors, color=colors, capsize=3)
    ax.set_yticks(y, [n.replace("_", " ").lower() for n in names])
    ax.invert_yaxis()
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_title(title, fontsize=10)
    ax.locator_params(axis="x", nbins=4)
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 3))
    return ax


def customer_figure(analysis: CustomerAnalysis, names: Sequence[str]) -> Figure:
    """Inlierness (with error bars), outlierness and cluster evidence of one customer."""
    fig = Figure(figsize=(11, 3.2))
    axes = fig.subplots(1, 3, sharey=True)
    a = analysis
    relevance_bars(
        axes[0], names, a.inlierness_relevance, a.inlierness_relevance_std,
        f"inlierness {a.inlierness:.3f} (random features {a.inlierness_rff:.3f} ± {a.inlierness_rff_std:.3f})",
    )
    relevance_bars(axes[1], names, a.outlierness_relevance, None, f"outlierness {a.outlierness:.2f}")
    relevance_bars(axes[2], names, a.cluster_relevance, None, f"cluster {a.cluster} evidence {a.cluster_evidence:.2f}")
    fig.suptitle(f"customer {a.row} (0-based row)")
    return fig


def tsne_figure(result: WholesaleResult) -> Figure:
    """t-SNE map coloured by inlierness, outlierness and cluster (opacity: evidence)."""
    if result.embedding is None:
        raise ValueError("the result has no t-SNE embedding; run reproduce(tsne=True)")
    e = result.embedding
    fig = Figure(figsize=(13, 4.2))
    axes = fig.subplots(1, 3)
    panels: list[tuple[str, Any, str]] = [
        ("inlierness", result.inlierness, "viridis"),
        ("outlierness", result.outlierness, "magma"),
    ]
    for ax, (title, values, cmap) in zip(axes[:2], panels):
        sc = ax.scatter(e[:, 0], e[:, 1], c=values, cmap=cmap, s=10)
        fig.colorbar(sc, ax=ax, shrink=0.8)
        ax.set_title(title)
    ev = np.clip(result.cluster_evidence, 0.0, None)
    alpha = 0.15 + 0.85 * ev / ev.max() if ev.max() > 0 else np.ones_like(ev)
    colors = np.asarray([f"C{int(c) % 10}" for c in result.clusters])
    for c in np.unique(result.clusters):
        m = result.clusters == c
        axes[2].scatter(e[m, 0], e[m, 1], c=colors[m].tolist(), alpha=alpha[m], s=10, label=f"cluster {c}")
    axes[2].legend(fontsize=7, markerscale=1.5)
    axes[2].set_title("k-means cluster (opacity: evidence)")
    for ax in axes:
        for row in result.customers:
            ax.scatter(e[row, 0], e[row, 1], marker="x", c="black", s=60)
            ax.annotate(str(row), e[row], textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def _heat(ax: Axes, heatmap: np.ndarray, title: str) -> None:
    limit = float(np.abs(heatmap).max()) or 1.0
    ax.imshow(heatmap, cmap="bwr", vmin=-limit, vmax=limit)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def scratch_figure(demo: ScratchDemo) -> Figure:
    """The scratched texture, the outlierness map and the pixel heatmap."""
    fig = Figure(figsize=(10, 3.4))
    axes = fig.subplots(1, 3)
    axes[0].imshow(demo.image, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("texture with scratch", fontsize=9)
    axes[0].axis("off")
    im = axes[1].imshow(demo.outlierness, cmap="magma")
    fig.colorbar(im, ax=axes[1], shrink=0.8)
    axes[1].set_title("outlierness per location", fontsize=9)
    axes[1].axis("off")
    _heat(axes[2], demo.heatmap, "relevance of outlierness")
    return fig


def cluster_figure(demo: ClusterDemo) -> Figure:
    """The picture, its cluster map and one pixel heatmap per cluster."""
    k = demo.heatmaps.shape[0]
    fig = Figure(figsize=(2.6 * (k + 2), 2.8))
    axes = fig.subplots(1, k + 2)
    axes[0].imshow(demo.image, cmap="gray" if demo.image.ndim == 2 else None)
    axes[0].set_title("picture", fontsize=9)
    axes[0].axis("off")
    axes[1].imshow(demo.assignments, cmap="tab10", vmin=0, vmax=9)
    axes[1].set_title("clusters", fontsize=9)
    axes[1].axis("off")
    for c in range(k):
        _heat(axes[c + 2], demo.heatmaps[c], f"cluster {c}")
    return fig
