"""A methods x inputs comparison grid of heatmaps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure

from xaikit.plot._arrays import Reduce, to_numpy
from xaikit.plot._figure import new_figure
from xaikit.plot.colors import relevance_cmap
from xaikit.plot.heatmap import heatmap, input_image, overlay
from xaikit.plot.normalize import relevance_scale


def _attribution_of(value: Any) -> np.ndarray:
    attribution = getattr(value, "attribution", value)
    return to_numpy(attribution, name="attribution")


def _inputs_of(explanations: Mapping[str, Any]) -> Any:
    for value in explanations.values():
        inputs = getattr(value, "inputs", None)
        if inputs is not None:
            return inputs
    return None


def blank_axes(axes: Axes) -> None:
    """Hide the ticks and frame of ``axes`` (a picture cell)."""
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_visible(False)


def scale_label(shared: float | None, clip_percentile: float | None, gamma: float) -> str:
    """What full colour means: a row's shared scale, or each cell's own maximum (or percentile)."""
    own = "max |R|" if clip_percentile is None else f"{clip_percentile:g}th percentile of |R|"
    label = f"relevance / {shared:.3g}" if shared is not None else f"relevance / each map's {own}"
    return label + (f", gamma {gamma:g}" if gamma != 1.0 else "")


def colour_bar(figure: Figure, cells: Sequence[Axes], *, cmap: Colormap, positive_only: bool, label: str,
                aspect: float) -> None:
    """One colour bar beside ``cells`` (a row, or all heatmap rows), labelled with the scale."""
    norm = Normalize(vmin=0.0 if positive_only else -1.0, vmax=1.0)
    bar = figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(cells), fraction=0.04, pad=0.02,
                          aspect=aspect)
    ticks = [0.0, 0.5, 1.0] if positive_only else [-1.0, 0.0, 1.0]
    bar.set_ticks(ticks, labels=["0", "+0.5", "+1"] if positive_only else ["-1", "0", "+1"])
    bar.set_label(label, fontsize="small")
    bar.ax.tick_params(labelsize="small")


def grid(
    explanations: Mapping[str, Any],
    inputs: Any = None,
    *,
    indices: Sequence[int] | None = None,
    column_labels: Sequence[str] | None = None,
    show_inputs: bool = True,
    use_overlay: bool = False,
    shared_scale: bool = False,
    cmap: str | Colormap | None = None,
    clip_percentile: float | None = None,
    gamma: float = 1.0,
    positive_only: bool = False,
    reduce: Reduce = "sum",
    cell_size: float = 1.4,
    colorbar: bool = True,
) -> Figure:
    """Compare methods (rows) on inputs (columns) with one heatmap per cell.

    Parameters
    ----------
    explanations : mapping of str to Explanation or tensor
        Row label -> explanation of the same batch of images ``(N, C, H, W)`` (an
        :class:`~xaikit.Explanation` or its attribution).
    inputs : torch.Tensor or array-like, optional
        The images ``(N, C, H, W)``; taken from the first explanation that carries them
        when omitted.
    indices : sequence of int, optional
        Which samples to show (all by default).
    column_labels : sequence of str, optional
        One label per shown sample (for example the true and predicted class).
    show_inputs : bool
        Put a first row with the input images (when inputs are known).
    use_overlay : bool
        Draw heatmaps over the (grey) inputs instead of alone.
    shared_scale : bool
        One colour scale per row (each method's samples compared on one scale) instead
        of one per cell.
    cmap, clip_percentile, gamma, positive_only, reduce
        As in :func:`xaikit.plot.heatmap_rgb`.
    cell_size : float
        Size of one cell in inches.
    colorbar : bool
        Draw the colour scale: one bar beside the heatmap rows (each map scaled to its own
        maximum, or ``clip_percentile``), or with ``shared_scale`` one bar per row labelled
        with that row's scale. Red is positive, blue negative relevance.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not explanations:
        raise ValueError("grid needs at least one explanation")
    rows = {label: _attribution_of(value) for label, value in explanations.items()}
    shapes = {label: a.shape for label, a in rows.items()}
    first = next(iter(shapes.values()))
    if len(first) != 4 or any(s != first for s in shapes.values()):
        raise ValueError(
            f"grid needs attributions of one image batch shape (N, C, H, W); got {shapes}"
        )
    if inputs is None:
        inputs = _inputs_of(explanations)
    images = None if inputs is None else to_numpy(inputs, name="inputs")
    if images is not None and (images.shape[0] != first[0] or images.shape[-2:] != first[-2:]):
        raise ValueError(f"inputs of shape {images.shape} do not match attributions {first}")
    if use_overlay and images is None:
        raise ValueError("use_overlay needs the inputs")
    chosen = list(range(first[0])) if indices is None else [int(i) for i in indices]
    if not chosen:
        raise ValueError("grid needs at least one sample index")
    if column_labels is not None and len(column_labels) != len(chosen):
        raise ValueError(f"{len(column_labels)} column labels for {len(chosen)} samples")
    input_row = show_inputs and images is not None
    n_rows = len(rows) + int(input_row)
    figure = new_figure((cell_size * len(chosen) + 1.2 + (0.9 if colorbar else 0.0), cell_size * n_rows + 0.3))
    axes = np.atleast_2d(figure.subplots(n_rows, len(chosen), squeeze=False))
    style: dict[str, Any] = {
        "cmap": cmap, "clip_percentile": clip_percentile, "gamma": gamma,
        "positive_only": positive_only, "reduce": reduce,
    }
    colour_map = relevance_cmap(cmap, positive_only=positive_only)
    row = 0
    if input_row:
        assert images is not None
        for col, index in enumerate(chosen):
            input_image(images[index], axes[row, col])
        axes[row, 0].set_ylabel("input", rotation=0, ha="right", va="center")
        row += 1
    for label, attribution in rows.items():
        scale = None
        if shared_scale:
            scale = relevance_scale(
                attribution[chosen], clip_percentile=clip_percentile, positive_only=positive_only
            )
        for col, index in enumerate(chosen):
            cell = axes[row, col]
            if use_overlay:
                assert images is not None
                overlay(images[index], attribution[index], cell, scale=scale, **style)
            else:
                heatmap(attribution[index], cell, scale=scale, **style)
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center")
        if colorbar and shared_scale:
            colour_bar(figure, list(axes[row]), cmap=colour_map, positive_only=positive_only,
                        label=scale_label(scale, clip_percentile, gamma), aspect=8)
        row += 1
    if colorbar and not shared_scale:
        colour_bar(figure, list(axes[int(input_row):].flat), cmap=colour_map, positive_only=positive_only,
                    label=scale_label(None, clip_percentile, gamma), aspect=min(20, 8 * len(rows)))
    for cell in axes.flat:
        blank_axes(cell)
    if column_labels is not None:
        for col, text in enumerate(column_labels):
            axes[0, col].set_title(text, fontsize="small")
    return figure
