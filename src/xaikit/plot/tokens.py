"""Tokens coloured by their relevance: red for evidence, blue for counter-evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from xaikit.plot._arrays import to_numpy
from xaikit.plot._figure import new_axes
from xaikit.plot.colors import relevance_cmap
from xaikit.plot.normalize import relevance_scale

__all__ = ["token_relevance"]


def token_relevance(
    tokens: Sequence[Sequence[str]],
    relevance: Any,
    ax: Axes | None = None,
    *,
    row_labels: Sequence[str] | None = None,
    per_row: bool = True,
    title: str | None = None,
) -> Axes:
    """Draw sequences of tokens as boxes coloured by relevance (one row per sequence).

    Parameters
    ----------
    tokens : sequence of sequences of str
        The token texts, ``(rows, T)``.
    relevance : tensor or array-like
        ``(rows, T)`` or ``(T,)`` relevance per token (for example ``Explanation.attribution``
        of token ids); colour scales are symmetric around zero.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when omitted.
    row_labels : sequence of str, optional
        A label to the left of each row (for example the method).
    per_row : bool
        Scale each row by its own largest magnitude (rows from different methods), or all
        rows alike (``False``: rows of one explanation).
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on; ``show()`` is never called.
    """
    values = np.atleast_2d(to_numpy(relevance, name="relevance")).astype(float)
    if values.shape[0] != len(tokens) or any(len(row) != values.shape[1] for row in tokens):
        raise ValueError(f"relevance has shape {values.shape} but there are {len(tokens)} rows of tokens of other lengths")
    scales = [relevance_scale(row) or 1.0 for row in values] if per_row else [relevance_scale(values) or 1.0] * len(values)
    cmap = relevance_cmap()
    rows, length = values.shape
    axes = ax if ax is not None else new_axes((max(4.0, 0.75 * length + 1.5), 0.55 * rows + 0.6))
    for r, row in enumerate(tokens):
        for t, text in enumerate(row):
            level = float(np.clip(values[r, t] / scales[r], -1, 1))
            colour = cmap(0.5 + 0.5 * level)
            axes.text(t, -r, text, ha="center", va="center", fontsize=8, color="white" if abs(level) > 0.6 else "black",
                      bbox={"boxstyle": "round,pad=0.25", "facecolor": colour, "edgecolor": "0.7"})
    axes.set_xlim(-0.6, length - 0.4)
    axes.set_ylim(-rows + 0.4, 0.6)
    axes.set_xticks([])
    axes.set_yticks([-r for r in range(rows)], list(row_labels) if row_labels is not None else [""] * rows)
    for spine in axes.spines.values():
        spine.set_visible(False)
    if title:
        axes.set_title(title)
    return axes
