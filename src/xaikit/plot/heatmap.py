"""Heatmaps of image attributions, alone or over the input image."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap

from xaikit.plot._arrays import Reduce, display_image, image_attribution, to_gray
from xaikit.plot._figure import new_axes
from xaikit.plot.colors import relevance_cmap
from xaikit.plot.normalize import normalize_relevance, relevance_scale


def _relevance_colours(
    values: np.ndarray,
    *,
    cmap: str | Colormap | None,
    clip_percentile: float | None,
    gamma: float,
    positive_only: bool,
    scale: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalized relevance (``[-1, 1]``, or ``[0, 1]`` with ``positive_only``) and its RGBA colours."""
    normed = normalize_relevance(
        values, clip_percentile=clip_percentile, gamma=gamma, positive_only=positive_only, scale=scale
    )
    colormap = relevance_cmap(cmap, positive_only=positive_only)
    position = normed if positive_only else (normed + 1.0) / 2.0
    return normed, np.asarray(colormap(position), dtype=np.float64)


def _as_picture(axes: Axes, title: str | None) -> Axes:
    """Remove the ticks (an image, not a chart) and set the title, if any."""
    axes.set_xticks([])
    axes.set_yticks([])
    if title:
        axes.set_title(title)
    return axes


def heatmap_rgb(
    attribution: Any,
    *,
    cmap: str | Colormap | None = None,
    clip_percentile: float | None = None,
    gamma: float = 1.0,
    positive_only: bool = False,
    reduce: Reduce = "sum",
    scale: float | None = None,
) -> np.ndarray:
    """Colour an image attribution: red positive, blue negative, white zero by default.

    Parameters
    ----------
    attribution : torch.Tensor or array-like
        ``(H, W)``, ``(C, H, W)`` or ``(1, C, H, W)``; channels are reduced with ``reduce``.
    cmap : str, Colormap or None
        Colormap; the default is blue-white-red (white to red with ``positive_only``).
    clip_percentile : float or None
        Percentile of ``|attribution|`` shown at full colour; ``None`` uses the maximum.
    gamma : float
        Exponent on the scaled magnitudes (``< 1`` brightens faint relevance).
    positive_only : bool
        Show positive relevance only (negative shown as zero).
    reduce : {"sum", "mean", "abs", "norm"}
        How channels are combined (see :func:`xaikit.plot.reduce_channels`).
    scale : float or None
        Fixed magnitude mapped to full colour (shared scale across heatmaps).

    Returns
    -------
    numpy.ndarray
        ``float64`` array of shape ``(H, W, 3)`` with values in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> rgb = heatmap_rgb(np.array([[1.0, 0.0, -1.0]]))
    >>> rgb[0, 0].round(2).tolist(), rgb[0, 1].round(2).tolist(), rgb[0, 2].round(2).tolist()
    ([1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 1.0])
    """
    _, rgba = _relevance_colours(
        image_attribution(attribution, reduce=reduce),
        cmap=cmap, clip_percentile=clip_percentile, gamma=gamma, positive_only=positive_only, scale=scale,
    )
    return rgba[..., :3]


def heatmap(
    attribution: Any,
    ax: Axes | None = None,
    *,
    cmap: str | Colormap | None = None,
    clip_percentile: float | None = None,
    gamma: float = 1.0,
    positive_only: bool = False,
    reduce: Reduce = "sum",
    scale: float | None = None,
    colorbar: bool = False,
    title: str | None = None,
) -> Axes:
    """Draw an image attribution as a heatmap, symmetric around zero.

    Parameters
    ----------
    attribution : torch.Tensor or array-like
        ``(H, W)``, ``(C, H, W)`` or ``(1, C, H, W)``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when omitted.
    cmap, clip_percentile, gamma, positive_only, reduce, scale
        As in :func:`heatmap_rgb`.
    colorbar : bool
        Add a colorbar labelled with the relevance that maps to full colour.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on (``ax.figure`` is the figure); ``show()`` is never called.
    """
    values = image_attribution(attribution, reduce=reduce)
    full = scale if scale is not None else relevance_scale(
        values, clip_percentile=clip_percentile, positive_only=positive_only
    )
    normed = normalize_relevance(values, gamma=gamma, positive_only=positive_only, scale=full)
    axes = ax if ax is not None else new_axes()
    image = axes.imshow(
        normed,
        cmap=relevance_cmap(cmap, positive_only=positive_only),
        vmin=0.0 if positive_only else -1.0,
        vmax=1.0,
        interpolation="nearest",
    )
    _as_picture(axes, title)
    if colorbar:
        bar = axes.figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
        gamma_note = f", gamma {gamma:g}" if gamma != 1.0 else ""
        bar.set_label(f"relevance / {full:.3g}{gamma_note}")
    return axes


def overlay(
    image: Any,
    attribution: Any,
    ax: Axes | None = None,
    *,
    alpha: float = 0.9,
    fade: float = 0.7,
    cmap: str | Colormap | None = None,
    clip_percentile: float | None = None,
    gamma: float = 1.0,
    positive_only: bool = False,
    reduce: Reduce = "sum",
    scale: float | None = None,
    title: str | None = None,
) -> Axes:
    """Draw the heatmap over the input image.

    The image is shown in light grey; the heatmap's opacity grows with ``|relevance|``
    (as its square root, so that moderate relevance stays visible), so pixels without
    relevance show the image.

    Parameters
    ----------
    image : torch.Tensor or array-like
        The input: ``(H, W)``, ``(1 or 3, H, W)`` or ``(H, W, 3)``.
    attribution : torch.Tensor or array-like
        Its attribution, of matching height and width.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when omitted.
    alpha : float
        Opacity of the heatmap where the relevance is largest, in [0, 1].
    fade : float
        How much the grey image is lightened towards white (0: unchanged, 1: white),
        so that the colours stay readable over dark pixels.
    cmap, clip_percentile, gamma, positive_only, reduce, scale
        As in :func:`heatmap_rgb`.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if not 0.0 <= fade <= 1.0:
        raise ValueError(f"fade must be in [0, 1], got {fade}")
    picture = 1.0 - (1.0 - fade) * (1.0 - to_gray(display_image(image)))
    values = image_attribution(attribution, reduce=reduce)
    if values.shape != picture.shape:
        raise ValueError(
            f"image of size {picture.shape} and attribution of size {values.shape} differ"
        )
    normed, rgba = _relevance_colours(
        values, cmap=cmap, clip_percentile=clip_percentile, gamma=gamma, positive_only=positive_only, scale=scale
    )
    rgba[..., 3] = alpha * np.sqrt(np.abs(normed))
    axes = ax if ax is not None else new_axes()
    axes.imshow(picture, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    axes.imshow(rgba, interpolation="nearest")
    return _as_picture(axes, title)


def input_image(picture: Any, ax: Axes | None = None, *, title: str | None = None) -> Axes:
    """Draw an input image (grey or RGB) without ticks.

    Parameters
    ----------
    picture : torch.Tensor or array-like
        ``(H, W)``, ``(1 or 3, H, W)`` or ``(H, W, 3)``; rescaled to [0, 1] if outside.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when omitted.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
    """
    shown = display_image(picture)
    axes = ax if ax is not None else new_axes()
    if shown.ndim == 2:
        axes.imshow(shown, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        axes.imshow(shown, interpolation="nearest")
    return _as_picture(axes, title)
