"""Evaluation curves: pixel-flipping (feature removal) and randomization similarity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes

from xaikit.plot._arrays import to_numpy
from xaikit.plot._figure import new_axes

#: Curves with these names are drawn as a dashed black reference line.
REFERENCE_NAMES = frozenset({"random", "baseline", "reference"})


def _as_draws(curves: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Each curve as ``(draws, steps)``; all with the same number of steps."""
    if not curves:
        raise ValueError("no curves given")
    out: dict[str, np.ndarray] = {}
    for label, values in curves.items():
        array = to_numpy(values, name=f"curve {label!r}")
        if array.ndim == 1:
            array = array[None]
        if array.ndim != 2 or array.shape[1] < 1:
            raise ValueError(
                f"curve {label!r} must have shape (steps,) or (samples, steps), got {array.shape}"
            )
        out[str(label)] = array
    steps = {label: a.shape[1] for label, a in out.items()}
    if len(set(steps.values())) != 1:
        raise ValueError(f"curves have different numbers of steps: {steps}")
    return out


def _draw_mean_band(
    axes: Axes, x: np.ndarray, draws: np.ndarray, label: str, *, error: str, reference: bool
) -> None:
    mean = draws.mean(0)
    style: dict[str, Any] = {"color": "black", "linestyle": "--"} if reference else {}
    (line,) = axes.plot(x, mean, label=label, linewidth=1.8, **style)
    if draws.shape[0] > 1:
        spread = draws.std(0, ddof=1)
        if error == "sem":
            spread = spread / np.sqrt(draws.shape[0])
        axes.fill_between(x, mean - spread, mean + spread, color=line.get_color(), alpha=0.18, linewidth=0)


def _label_axes(axes: Axes, title: str | None, xlabel: str, ylabel: str) -> Axes:
    """Axis labels, a legend outside on the right, and the title (if any)."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    if title:
        axes.set_title(title)
    return axes


def pixel_flipping_curves(
    curves: Mapping[str, Any],
    fractions: Any = None,
    ax: Axes | None = None,
    *,
    show_area: bool = True,
    metric: Literal["aopc", "auc"] = "aopc",
    title: str | None = "Pixel-flipping",
    xlabel: str = "fraction of features removed",
    ylabel: str = "model output",
) -> Axes:
    """Model output as the most relevant features are removed, one curve per method.

    Parameters
    ----------
    curves : mapping of str to array-like
        Method name -> output after each removal step, ``(steps,)`` or one row per
        sample ``(samples, steps)`` (drawn as the mean with a band of one standard error).
        A curve named ``"random"`` (or ``"baseline"``) is drawn as a dashed black reference.
    fractions : array-like, optional
        The x position of each step (fraction removed); ``0 .. 1`` evenly when omitted.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when omitted.
    show_area : bool
        Append the area ``metric`` of the mean curve to each legend entry.
    metric : {"aopc", "auc"}
        ``"aopc"``: the area over the perturbation curve, the mean output drop over the
        steps (what :attr:`xaikit.evaluate.faithfulness.FlippingResult.aopc` and the report's
        tables give; larger is a faster decay, i.e. a more faithful explanation, for
        most-relevant-first removal); ``"auc"``: the area under the mean curve over the
        fraction removed (smaller is faster).
    title, xlabel, ylabel : str
        Labels.

    Returns
    -------
    matplotlib.axes.Axes
    """
    table = _as_draws(curves)
    steps = next(iter(table.values())).shape[1]
    x = np.linspace(0.0, 1.0, steps) if fractions is None else to_numpy(fractions, name="fractions")
    if x.shape != (steps,):
        raise ValueError(f"fractions must have shape ({steps},), got {x.shape}")
    axes = ax if ax is not None else new_axes((7.0, 3.6))
    for label, draws in table.items():
        shown = label
        if show_area and steps > 1:
            mean = draws.mean(0)
            if metric == "aopc":
                shown = f"{label} (AOPC {float(mean[0] - mean.mean()):.3g})"
            elif metric == "auc":
                shown = f"{label} (AUC {float(np.trapezoid(mean, x)):.3g})"
            else:
                raise ValueError(f"metric must be 'aopc' or 'auc', got {metric!r}")
        reference = label.lower() in REFERENCE_NAMES
        _draw_mean_band(axes, x, draws, shown, error="sem", reference=reference)
    return _label_axes(axes, title, xlabel, ylabel)


def randomization_curves(
    similarities: Mapping[str, Any],
    layers: Sequence[str] | None = None,
    ax: Axes | None = None,
    *,
    title: str | None = "Model randomization",
    xlabel: str = "randomized up to layer",
    ylabel: str = "similarity to original",
) -> Axes:
    """Similarity of explanations to the original as layers are randomized, per method.

    Parameters
    ----------
    similarities : mapping of str to array-like
        Method name -> similarity after randomizing each layer, ``(layers,)`` or
        ``(draws, layers)`` for several seeds or inputs (drawn as the mean with a band of
        one standard deviation).
    layers : sequence of str, optional
        Layer names for the x axis, in randomization order.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when omitted.
    title, xlabel, ylabel : str
        Labels.

    Returns
    -------
    matplotlib.axes.Axes
    """
    table = _as_draws(similarities)
    steps = next(iter(table.values())).shape[1]
    names = [str(i) for i in range(steps)] if layers is None else [str(n) for n in layers]
    if len(names) != steps:
        raise ValueError(f"{len(names)} layer names for curves of {steps} steps")
    axes = ax if ax is not None else new_axes((max(7.0, 0.6 * steps + 4.0), 3.6))
    x = np.arange(steps, dtype=np.float64)
    for label, draws in table.items():
        reference = label.lower() in REFERENCE_NAMES
        _draw_mean_band(axes, x, draws, label, error="std", reference=reference)
        axes.scatter(x, draws.mean(0), s=12)
    axes.set_xticks(x, names, rotation=30 if steps > 3 else 0, ha="right" if steps > 3 else "center")
    axes.axhline(0.0, color="0.7", linewidth=0.8)
    return _label_axes(axes, title, xlabel, ylabel)
