"""Time series coloured by per-time-step relevance, optionally over a spectrogram."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure

from xaikit.plot._arrays import to_numpy
from xaikit.plot._figure import new_figure
from xaikit.plot.colors import relevance_cmap
from xaikit.plot.normalize import normalize_relevance, relevance_scale


def _as_channels(values: Any, name: str) -> np.ndarray:
    array = to_numpy(values, name=name)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (T,), (C, T) or (1, C, T), got {array.shape}")
    return array


def _draw_spectrogram(axes: Axes, signal: np.ndarray, sample_rate: float) -> Axes:
    from scipy.signal import spectrogram

    segment = int(min(64, max(8, signal.shape[0] // 4)))
    freqs, times, power = spectrogram(
        signal, fs=sample_rate, nperseg=segment, noverlap=segment // 2
    )
    twin = axes.twinx()
    half = segment / sample_rate / 2.0
    extent = (float(times[0] - half), float(times[-1] + half), float(freqs[0]), float(freqs[-1]))
    twin.imshow(
        np.log10(power + 1e-12), origin="lower", aspect="auto", extent=extent, cmap="Greys", alpha=0.35
    )
    twin.set_ylabel("frequency")
    # keep the curve above the spectrogram
    axes.set_zorder(twin.get_zorder() + 1)
    axes.patch.set_visible(False)
    return twin


def time_series(
    signal: Any,
    attribution: Any,
    *,
    style: Literal["segments", "scatter"] = "segments",
    spectrogram: bool = False,
    sample_rate: float = 1.0,
    channel_names: Sequence[str] | None = None,
    cmap: str | Colormap | None = None,
    clip_percentile: float | None = None,
    gamma: float = 1.0,
    positive_only: bool = False,
    linewidth: float = 2.0,
    title: str | None = None,
    figure: Figure | None = None,
) -> Figure:
    """Draw a (multichannel) time series with each time step coloured by its relevance.

    Parameters
    ----------
    signal : torch.Tensor or array-like
        ``(T,)``, ``(C, T)`` or ``(1, C, T)``: one panel per channel.
    attribution : torch.Tensor or array-like
        Relevance of the same shape.
    style : {"segments", "scatter"}
        Colour the line segments between time steps (by the mean relevance of their two
        ends) or draw coloured points over a thin grey line.
    spectrogram : bool
        Show each channel's spectrogram (grey, log power) behind the curve, with the
        frequency on a right-hand axis.
    sample_rate : float
        Samples per unit of time (the time axis is ``t / sample_rate``).
    channel_names : sequence of str, optional
        One label per channel.
    cmap, clip_percentile, gamma, positive_only
        As in :func:`xaikit.plot.heatmap_rgb`; one scale for all channels.
    linewidth : float
        Width of the coloured segments (marker size follows it in scatter style).
    title : str, optional
        Figure title.
    figure : matplotlib.figure.Figure, optional
        An empty figure to draw into; a new one is made when omitted.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if style not in ("segments", "scatter"):
        raise ValueError(f"style must be 'segments' or 'scatter', got {style!r}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    values = _as_channels(signal, "signal")
    relevance = _as_channels(attribution, "attribution")
    if values.shape != relevance.shape:
        raise ValueError(f"signal {values.shape} and attribution {relevance.shape} differ in shape")
    n_channels, steps = values.shape
    names = [f"channel {c}" for c in range(n_channels)] if channel_names is None else list(channel_names)
    if len(names) != n_channels:
        raise ValueError(f"{len(names)} channel names for {n_channels} channels")
    scale = relevance_scale(relevance, clip_percentile=clip_percentile, positive_only=positive_only)
    normed = normalize_relevance(relevance, gamma=gamma, positive_only=positive_only, scale=scale)
    colormap = relevance_cmap(cmap, positive_only=positive_only)
    color_norm = Normalize(0.0 if positive_only else -1.0, 1.0)
    fig = figure if figure is not None else new_figure((7.0, 1.9 * n_channels + 0.6))
    panels = np.atleast_1d(fig.subplots(n_channels, 1, sharex=True, squeeze=False)[:, 0])
    time = np.arange(steps) / sample_rate
    for channel, axes in enumerate(panels):
        x, r = values[channel], normed[channel]
        if spectrogram:
            _draw_spectrogram(axes, x, sample_rate)
        if style == "segments":
            points = np.stack([time, x], axis=1)
            segments = np.stack([points[:-1], points[1:]], axis=1)
            lines = LineCollection(
                list(segments), cmap=colormap, norm=color_norm, linewidths=linewidth
            )
            lines.set_array((r[:-1] + r[1:]) / 2.0)
            # a dark outline keeps segments without relevance (white) visible
            axes.plot(time, x, color="0.3", linewidth=linewidth + 1.5, zorder=1)
            axes.add_collection(lines)
            lines.set_zorder(2)
        else:
            axes.plot(time, x, color="0.6", linewidth=0.8, zorder=0)
            axes.scatter(
                time, x, c=r, cmap=colormap, norm=color_norm, s=(2.5 * linewidth) ** 2,
                edgecolors="black", linewidths=0.2, zorder=2,
            )
        axes.autoscale_view()
        axes.set_ylabel(names[channel])
    panels[-1].set_xlabel("time" if sample_rate == 1.0 else "time (s)")
    mappable = ScalarMappable(norm=color_norm, cmap=colormap)
    bar = fig.colorbar(mappable, ax=list(panels), fraction=0.03, pad=0.06 if spectrogram else 0.02)
    bar.set_label(f"relevance / {scale:.3g}")
    if title:
        fig.suptitle(title)
    return fig
