"""Pearson and Spearman correlation of the rows of two matrices: the one implementation of the library.

Every correlation xaikit reports goes through :func:`pearson_rows` (and Spearman through
ranks, :func:`rank_rows`): the similarity measures of :mod:`xaikit.evaluate.similarity`, the
randomization tests, faithfulness correlation and sensitivity-n, the input-invariance and
continuity axioms.

Constant rows
-------------
The correlation of a constant row is undefined (0 / 0). A row also counts as constant
when its spread is lost in float64 round-off: when the norm of its deviations from its
mean is at most :data:`CONSTANT_RTOL` (``1e-10``) times the norm of the row,
``||x - mean(x)|| <= 1e-10 * ||x||``. The correlation of such a row is NaN, not a value
made of round-off: the deviations ``x - mean(x)`` carry absolute errors of about
``eps * |mean(x)|`` (``eps = 2.2e-16``), so below this spread the coefficient is mostly
round-off (``[1, 1 + 2e-16, 1, 1]`` against ``[1, 2, 3, 4]`` computes to ``-0.224``, the
exact value is ``-0.258``). Above it the coefficient is within a few ``1e-6`` of the
exact one. Rows of ``+-inf`` or NaN give NaN.

This is SciPy's convention for exactly constant input (:func:`scipy.stats.pearsonr`
returns NaN with a ``ConstantInputWarning``), extended to the near-constant rows for
which SciPy only warns (``NearConstantInputWarning``, below ``1e-13 |mean|``) and returns
the round-off value; no warning is raised here, the NaN is the signal. Spearman ranks the
rows first, and ranks are exact, so its only constant rows are rows of equal values, as
in :func:`scipy.stats.spearmanr`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["CONSTANT_RTOL", "constant_rows", "pearson_rows", "rank_rows", "spearman_rows"]

#: Relative spread ``||x - mean(x)|| / ||x||`` at or below which a row counts as constant.
CONSTANT_RTOL = 1e-10


def _rows(x: Tensor | np.ndarray, name: str) -> Tensor:
    t = torch.as_tensor(x).detach()
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows, values), got shape {tuple(t.shape)}")
    return t.to(torch.float64)


def _unit_deviations(x: Tensor) -> tuple[Tensor, Tensor]:
    """Deviations of each row from its mean scaled to unit norm, and which rows are constant.

    Rows are first divided by their largest absolute value, so that neither tiny nor huge
    values underflow or overflow in the norms. The deviations of a constant row are zeros.
    """
    if x.shape[1] == 0:
        return x, torch.ones(len(x), dtype=torch.bool, device=x.device)
    peak = x.abs().amax(1, keepdim=True)
    x = x / torch.where(torch.isfinite(peak) & (peak > 0), peak, torch.ones_like(peak))
    deviations = x - x.mean(1, keepdim=True)
    norm = deviations.norm(dim=1, keepdim=True)
    constant = ~(norm > CONSTANT_RTOL * x.norm(dim=1, keepdim=True))  # NaN rows count as constant
    unit = deviations / torch.where(constant, torch.ones_like(norm), norm)
    return unit.masked_fill(constant, 0.0), constant.squeeze(1)


def constant_rows(x: Tensor | np.ndarray) -> Tensor:
    """Which rows of ``x`` count as constant (see the module docstring).

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray
        ``(N, d)`` values.

    Returns
    -------
    torch.Tensor
        ``(N,)`` bool; also true for rows with NaN or infinite values, and for ``d = 0``.
    """
    return _unit_deviations(_rows(x, "x"))[1]


def pearson_rows(x: Tensor | np.ndarray, y: Tensor | np.ndarray) -> Tensor:
    """Pearson correlation of each row of ``x`` with the same row of ``y``.

    Parameters
    ----------
    x, y : torch.Tensor or numpy.ndarray
        ``(N, d)`` values (the correlation is computed in float64).

    Returns
    -------
    torch.Tensor
        ``(N,)`` float64 correlations in ``[-1, 1]`` on the device of ``x``; NaN where a
        row of ``x`` or ``y`` is constant (see the module docstring) or ``d < 2``.
    """
    a, b = _rows(x, "x"), _rows(y, "y")
    if a.shape != b.shape:
        raise ValueError(f"x and y differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    ua, constant_a = _unit_deviations(a)
    ub, constant_b = _unit_deviations(b.to(a.device))
    r = (ua * ub).sum(1).clamp(-1, 1)
    return r.masked_fill(constant_a | constant_b, float("nan"))


def rank_rows(x: Tensor | np.ndarray) -> Tensor:
    """Ranks within each row, ties given their average rank (1-based).

    Equals ``scipy.stats.rankdata(x, axis=1)`` (method ``"average"``). On the CPU the sort
    runs in NumPy (about 3x faster than ``torch.sort`` there); elsewhere in torch.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray
        ``(N, d)`` values, ranked along ``d``.

    Returns
    -------
    torch.Tensor
        ``(N, d)`` float64 ranks on the device of ``x``.
    """
    a = torch.as_tensor(x).detach()
    if a.ndim != 2:
        raise ValueError("rank expects a 2-D tensor (N, features)")
    if a.device.type == "cpu":
        return torch.from_numpy(_rank_numpy(a.numpy()))
    values, order = torch.sort(a, dim=1)
    sorted_ranks = torch.from_numpy(_average_ranks(values.cpu().numpy())).to(a.device)
    return torch.empty_like(sorted_ranks).scatter_(1, order, sorted_ranks)


def spearman_rows(x: Tensor | np.ndarray, y: Tensor | np.ndarray) -> Tensor:
    """Spearman rank correlation of each row of ``x`` with the same row of ``y``.

    The Pearson correlation (:func:`pearson_rows`) of the rows' average ranks
    (:func:`rank_rows`), as :func:`scipy.stats.spearmanr`; NaN where a row's values are
    all equal.

    Parameters
    ----------
    x, y : torch.Tensor or numpy.ndarray
        ``(N, d)`` values.

    Returns
    -------
    torch.Tensor
        ``(N,)`` float64 rank correlations.
    """
    return pearson_rows(rank_rows(x), rank_rows(y))


def _rank_numpy(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, axis=1)
    ranks = np.empty(x.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, _average_ranks(np.take_along_axis(x, order, axis=1)), axis=1)
    return ranks


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of row-wise sorted ``values``, each run of equal values given its average rank."""
    n, d = values.shape
    positions = np.broadcast_to(np.arange(d), (n, d))
    equal = values[:, 1:] == values[:, :-1]
    if not equal.any():
        return (positions + 1).astype(np.float64)
    starts = np.ones((n, d), dtype=bool)
    starts[:, 1:] = ~equal
    ends = np.ones((n, d), dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, positions, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, positions, d)[:, ::-1], axis=1)[:, ::-1]
    return (first + last) / 2 + 1
