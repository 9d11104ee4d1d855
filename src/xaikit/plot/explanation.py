"""``Explanation.plot``: the picture that fits the data's shape."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from matplotlib.figure import Figure

from xaikit.plot._figure import new_figure
from xaikit.plot.heatmap import heatmap, input_image, overlay
from xaikit.plot.series import time_series
from xaikit.plot.tabular import bars

if TYPE_CHECKING:
    from xaikit.core.explanation import Explanation

Kind = Literal["auto", "bars", "time_series", "heatmap", "overlay"]


def describe(explanation: Explanation, index: int = 0) -> str:
    """A short title: method (and LRP composite), explained class and output value."""
    name = explanation.method
    composite = explanation.options.get("composite")
    if not isinstance(composite, str):  # the default (None) or an object: LRP records the one used
        composite = explanation.extras.get("composite")
    if isinstance(composite, str):
        name = f"{name} ({composite})"
    parts = [name]
    if explanation.target is not None:
        parts.append(f"class {int(explanation.target[index])}")
    parts.append(f"output {float(explanation.output[index]):.3g}")
    return ", ".join(parts)


def _kind_for(ndim: int) -> Kind:
    if ndim == 2:
        return "bars"
    if ndim == 3:
        return "time_series"
    if ndim == 4:
        return "heatmap"
    raise ValueError(
        f"no default picture for attributions with {ndim} dimensions (N, ...); "
        "plot tabular (N, d), time series (N, C, T) or images (N, C, H, W)"
    )


def plot_explanation(
    explanation: Explanation,
    index: int = 0,
    *,
    kind: Kind = "auto",
    title: str | None = None,
    **options: Any,
) -> Figure:
    """Draw sample ``index`` of an explanation with the picture that fits its shape.

    Tabular ``(N, d)`` attributions give a bar chart with the feature names, time series
    ``(N, C, T)`` a relevance-coloured curve per channel, images ``(N, C, H, W)`` the
    input beside its heatmap (or the heatmap over the input with ``kind="overlay"``).

    Parameters
    ----------
    explanation : xaikit.Explanation
        The explanation to draw.
    index : int
        Which sample of the batch.
    kind : {"auto", "bars", "time_series", "heatmap", "overlay"}
        Override the picture chosen from the shape.
    title : str, optional
        Figure title; by default the method, class and explained output.
    **options
        Passed to the drawing function (:func:`bars`, :func:`time_series`,
        :func:`heatmap` or :func:`overlay`), for example ``clip_percentile=99``.

    Returns
    -------
    matplotlib.figure.Figure
        Never shown; save it with ``fig.savefig(...)`` or display it in a notebook.
    """
    size = len(explanation)
    if not -size <= index < size:
        raise IndexError(f"index {index} is out of range for an explanation of {size} samples")
    attribution = explanation.attribution[index]
    inputs = None if explanation.inputs is None else explanation.inputs[index]
    chosen = _kind_for(explanation.attribution.ndim) if kind == "auto" else kind
    heading = title if title is not None else describe(explanation, index)
    if chosen == "bars":
        axes = bars(attribution, explanation.feature_names, title=heading, **options)
        figure = axes.figure
    elif chosen == "time_series":
        if inputs is None:
            figure = heatmap(attribution, title=heading, **options).figure
        else:
            figure = time_series(inputs, attribution, title=heading, **options)
    elif chosen in ("heatmap", "overlay"):
        if inputs is None and chosen == "overlay":
            raise ValueError("an overlay needs the explanation's inputs, which it does not carry")
        if inputs is None:
            figure = heatmap(attribution, colorbar=True, title=heading, **options).figure
        else:
            figure = new_figure((6.0, 3.0))
            left, right = figure.subplots(1, 2)
            input_image(inputs, left, title="input")
            if chosen == "overlay":
                overlay(inputs, attribution, right, title="relevance", **options)
            else:
                heatmap(attribution, right, colorbar=True, title="relevance", **options)
            figure.suptitle(heading)
    else:
        raise ValueError(
            f"unknown kind {kind!r}; use 'auto', 'bars', 'time_series', 'heatmap' or 'overlay'"
        )
    if not isinstance(figure, Figure):  # pragma: no cover - sub-figures are not used here
        raise TypeError("expected a top-level figure")
    return figure
