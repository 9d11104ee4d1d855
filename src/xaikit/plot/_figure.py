"""Figures made without pyplot: no global state, no GUI backend, nothing shown."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure


def new_figure(figsize: tuple[float, float] = (4.0, 3.5)) -> Figure:
    """A new figure that pyplot does not track (safe headless, never shown, freed when dropped)."""
    return Figure(figsize=figsize, layout="constrained")


def new_axes(figsize: tuple[float, float] = (4.0, 3.5)) -> Axes:
    """One axes on a new :func:`new_figure`."""
    return new_figure(figsize).add_subplot()
