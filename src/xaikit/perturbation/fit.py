"""Goodness of fit of the weighted surrogate regressions (LIME, KernelSHAP)."""

from __future__ import annotations

import numpy as np

__all__ = ["weighted_r2"]


def weighted_r2(observed: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted coefficient of determination of each row of a fit.

    Parameters
    ----------
    observed : numpy.ndarray
        ``(S, K)`` values the surrogate was fit to, one row per problem.
    predicted : numpy.ndarray
        ``(S, K)`` the surrogate's values.
    weights : numpy.ndarray
        ``(K,)`` sample weights (normalized here).

    Returns
    -------
    numpy.ndarray
        ``(S,)`` ``1 - weighted residual variance / weighted variance``; 1 where the
        observed values of a row are constant.
    """
    w = weights / weights.sum()
    spread = ((observed - (observed @ w)[:, None]) ** 2) @ w
    fit = ((observed - predicted) ** 2) @ w
    return np.where(spread > 0, 1.0 - fit / np.where(spread > 0, spread, 1.0), 1.0)
