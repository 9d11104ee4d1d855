"""Scaling relevance to [-1, 1] for display: symmetric around zero, clipping, gamma."""

from __future__ import annotations

from typing import Any

import numpy as np

from xaikit.plot._arrays import to_numpy


def relevance_scale(
    relevance: Any, *, clip_percentile: float | None = None, positive_only: bool = False
) -> float:
    """The magnitude that is mapped to full colour.

    Parameters
    ----------
    relevance : array-like
        Relevance values of any shape.
    clip_percentile : float or None
        If given (in (0, 100]), the ``clip_percentile``-th percentile of ``|relevance|``
        (of the positive part with ``positive_only``), so that a few extreme values do
        not wash out the rest; ``None`` uses the maximum.
    positive_only : bool
        Consider the positive part only.

    Returns
    -------
    float
        A non-negative scale; 0 when all (considered) relevance is zero.
    """
    values = to_numpy(relevance, name="relevance")
    magnitude = np.maximum(values, 0.0) if positive_only else np.abs(values)
    if magnitude.size == 0:
        return 0.0
    if clip_percentile is None:
        return float(magnitude.max())
    if not 0.0 < clip_percentile <= 100.0:
        raise ValueError(f"clip_percentile must be in (0, 100], got {clip_percentile}")
    return float(np.percentile(magnitude, clip_percentile))


def normalize_relevance(
    relevance: Any,
    *,
    clip_percentile: float | None = None,
    gamma: float = 1.0,
    positive_only: bool = False,
    scale: float | None = None,
) -> np.ndarray:
    """Map relevance to [-1, 1] (or [0, 1] with ``positive_only``), keeping zero at zero.

    The values are divided by one scale for both signs (symmetric normalization, so
    that equal magnitudes get equal colour intensity), clipped, then optionally raised
    to the power ``gamma`` with the sign kept (``gamma < 1`` brightens faint relevance).

    Parameters
    ----------
    relevance : array-like
        Relevance values of any shape.
    clip_percentile : float or None
        Percentile of ``|relevance|`` mapped to full colour (see :func:`relevance_scale`).
    gamma : float
        Exponent applied to the magnitudes after scaling; must be positive.
    positive_only : bool
        Set negative relevance to zero (the result lies in [0, 1]).
    scale : float or None
        A fixed scale instead of one computed from the values, for example to compare
        several heatmaps on one scale.

    Returns
    -------
    numpy.ndarray
        Same shape as ``relevance``, values in [-1, 1]; all zeros if the scale is zero.
    """
    if gamma <= 0:
        raise ValueError(f"gamma must be positive, got {gamma}")
    values = to_numpy(relevance, name="relevance")
    if positive_only:
        values = np.maximum(values, 0.0)
    if scale is None:
        scale = relevance_scale(values, clip_percentile=clip_percentile)
    if scale < 0 or not np.isfinite(scale):
        raise ValueError(f"scale must be a non-negative finite number, got {scale}")
    if scale == 0:
        return np.zeros_like(values)
    out = np.clip(values / scale, -1.0, 1.0)
    if gamma != 1.0:
        out = np.sign(out) * np.abs(out) ** gamma
    return out
