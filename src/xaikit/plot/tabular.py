"""Bar charts of tabular attributions, coloured by sign, with error bars over draws."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from xaikit.plot._arrays import to_numpy
from xaikit.plot._figure import new_axes
from xaikit.plot.colors import sign_colors


def bars(
    values: Any,
    feature_names: Sequence[str] | None = None,
    ax: Axes | None = None,
    *,
    errors: Any = None,
    sort: bool = False,
    horizontal: bool = False,
    title: str | None = None,
    value_label: str = "relevance",
) -> Axes:
    """Bar chart of one tabular attribution: red for positive, blue for negative.

    Parameters
    ----------
    values : torch.Tensor or array-like
        ``(d,)`` relevance per feature, or ``(draws, d)`` from several draws (for example
        random-feature redraws or sampling seeds), shown as the mean with error bars of
        one standard deviation.
    feature_names : sequence of str, optional
        One name per feature (``x0, x1, ...`` when omitted).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when omitted.
    errors : array-like, optional
        Explicit error bar half-lengths ``(d,)`` (instead of the spread over draws).
    sort : bool
        Order features by decreasing relevance.
    horizontal : bool
        Horizontal bars (features on the vertical axis), for long names.
    title : str, optional
        Axes title.
    value_label : str
        Label of the value axis.

    Returns
    -------
    matplotlib.axes.Axes
    """
    array = to_numpy(values, name="values")
    if array.ndim == 1:
        mean = array
        spread = None
    elif array.ndim == 2:
        mean = array.mean(0)
        spread = array.std(0, ddof=1) if array.shape[0] > 1 else None
    else:
        raise ValueError(f"bars expects values of shape (d,) or (draws, d), got {array.shape}")
    d = mean.shape[0]
    if errors is not None:
        spread = to_numpy(errors, name="errors")
        if spread.shape != (d,):
            raise ValueError(f"errors must have shape ({d},), got {spread.shape}")
    names = [f"x{i}" for i in range(d)] if feature_names is None else [str(n) for n in feature_names]
    if len(names) != d:
        raise ValueError(f"{len(names)} feature names for {d} features")
    order = np.argsort(-mean, kind="stable") if sort else np.arange(d)
    mean = mean[order]
    spread = None if spread is None else spread[order]
    names = [names[i] for i in order]
    axes = ax if ax is not None else new_axes((max(3.0, 0.55 * d + 1.0), 3.2))
    positions = np.arange(d)
    colors = sign_colors(mean.tolist())
    error_style = {"ecolor": "black", "capsize": 3, "elinewidth": 1}
    if horizontal:
        axes.barh(positions, mean, xerr=spread, color=colors, error_kw=error_style)
        axes.set_yticks(positions, names)
        axes.invert_yaxis()
        axes.axvline(0.0, color="black", linewidth=0.8)
        axes.set_xlabel(value_label)
    else:
        axes.bar(positions, mean, yerr=spread, color=colors, error_kw=error_style)
        axes.set_xticks(positions, names, rotation=30 if d > 4 else 0, ha="right" if d > 4 else "center")
        axes.axhline(0.0, color="black", linewidth=0.8)
        axes.set_ylabel(value_label)
    if title:
        axes.set_title(title)
    return axes
