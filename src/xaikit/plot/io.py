"""Encoding figures and heatmaps as PNG."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image


def figure_to_png(figure: Figure, *, dpi: float = 100.0) -> bytes:
    """Render a matplotlib figure to PNG bytes (Agg, headless).

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        The figure; it is not closed or modified.
    dpi : float
        Resolution.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def rgb_to_png(rgb: Any, *, upscale: int = 1) -> bytes:
    """Encode an ``(H, W, 3)`` image with values in [0, 1] as PNG bytes.

    Parameters
    ----------
    rgb : array-like
        For example the result of :func:`xaikit.plot.heatmap_rgb`.
    upscale : int
        Enlarge each pixel to ``upscale x upscale`` pixels (nearest neighbour), so that
        small heatmaps (8x8 digits) stay visible and sharp.
    """
    array = np.asarray(rgb, dtype=np.float64)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {array.shape}")
    if upscale < 1:
        raise ValueError(f"upscale must be a positive integer, got {upscale}")
    if upscale > 1:
        array = array.repeat(upscale, axis=0).repeat(upscale, axis=1)
    pixels = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(path: str | Path, rgb: Any, *, upscale: int = 1) -> Path:
    """Write an ``(H, W, 3)`` image in [0, 1] to ``path`` as PNG; returns the path."""
    target = Path(path)
    target.write_bytes(rgb_to_png(rgb, upscale=upscale))
    return target
