"""Colour conventions: red for positive evidence, blue for negative, white for none."""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib as mpl
from matplotlib.colors import Colormap, LinearSegmentedColormap

#: Colour of positive relevance in bar charts and curves (red).
POSITIVE_COLOR = "#d62728"
#: Colour of negative relevance in bar charts and curves (blue).
NEGATIVE_COLOR = "#1f5fbf"
#: Colour of exactly zero relevance in bar charts.
NEUTRAL_COLOR = "#9e9e9e"

#: Name of the default diverging colormap: blue (-1), white (0), red (+1).
DIVERGING = "bwr"

#: White (0) to red (1): the default colormap of positive-only heatmaps.
POSITIVE_CMAP: Colormap = LinearSegmentedColormap.from_list(
    "xaikit_positive", [(1.0, 1.0, 1.0), (1.0, 0.0, 0.0)]
)


def relevance_cmap(cmap: str | Colormap | None = None, *, positive_only: bool = False) -> Colormap:
    """Resolve the colormap of a relevance plot.

    Parameters
    ----------
    cmap : str, Colormap or None
        A matplotlib colormap or its name; ``None`` picks the default: :data:`DIVERGING`
        (blue-white-red, white at zero) or, with ``positive_only``, white to red.
    positive_only : bool
        Whether only positive relevance is shown (values mapped from 0 to 1).

    Returns
    -------
    matplotlib.colors.Colormap
    """
    if cmap is None:
        return POSITIVE_CMAP if positive_only else mpl.colormaps[DIVERGING]
    if isinstance(cmap, Colormap):
        return cmap
    try:
        return mpl.colormaps[cmap]
    except KeyError:
        raise ValueError(
            f"unknown colormap {cmap!r}; use a matplotlib colormap name such as 'bwr', "
            "'seismic' or 'coolwarm'"
        ) from None


def sign_colors(values: Iterable[float]) -> list[str]:
    """Red for positive values, blue for negative, grey for zero."""
    return [
        POSITIVE_COLOR if v > 0 else NEGATIVE_COLOR if v < 0 else NEUTRAL_COLOR for v in values
    ]
