"""Shapley values of feature groups: exact enumeration and permutation sampling.

The game: the value ``v(S)`` of a coalition ``S`` of groups is the explained output on
the input that keeps the groups in ``S`` and takes the others from the baseline (or its
expectation over a background set). The Shapley value of group ``i`` is

.. math:: \\phi_i = \\sum_{S \\not\\ni i} \\frac{|S|!\\,(G-|S|-1)!}{G!}\\,[v(S \\cup \\{i\\}) - v(S)],

and the values sum to ``v(all) - v(none) = f(x) - f(baseline)`` (efficiency).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb
from typing import ClassVar

import numpy as np

from xaikit.core.registry import register_method
from xaikit.perturbation.base import CoalitionExplainer, SampledCoalitionExplainer
from xaikit.perturbation.groups import FeatureGroups
from xaikit.utils.options import check_positive_int

__all__ = ["MAX_EXACT_GROUPS", "ShapleySampling", "ShapleyValues", "all_coalitions", "exact_shapley"]

#: Largest number of groups for exact enumeration (2^20 ≈ 10^6 coalitions per sample).
MAX_EXACT_GROUPS = 20


def all_coalitions(count: int) -> np.ndarray:
    """All ``2^count`` coalitions as a bool array; row ``m`` holds the bits of ``m``."""
    masks = np.arange(2**count, dtype=np.int64)
    return ((masks[:, None] >> np.arange(count)) & 1).astype(bool)


def exact_shapley(values: np.ndarray, count: int) -> np.ndarray:
    """Shapley values from the values of all ``2^count`` coalitions.

    Parameters
    ----------
    values : numpy.ndarray
        ``(..., 2^count)``, the value of the coalition whose bit ``i`` says whether group
        ``i`` is in it (the row order of :func:`all_coalitions`); leading dimensions are
        independent games.
    count : int
        Number of players.

    Returns
    -------
    numpy.ndarray
        ``(..., count)`` float64 Shapley values.

    Notes
    -----
    With ``w(s) = s!(G-s-1)!/G!``, ``phi_i = sum_{S∋i} w(|S|-1) v(S) - sum_{S∌i} w(|S|) v(S)``
    ``= sum_{S∋i} c(S) - sum_S b(S)`` with ``b(S) = w(|S|) v(S)`` (0 for the full
    coalition) and ``c(S) = w(|S|-1) v(S) + b(S)``; the sums over coalitions containing
    ``i`` are slices of the values arranged as a ``2 x ... x 2`` array.
    """
    values = np.asarray(values, dtype=np.float64)
    lead = values.shape[:-1]
    sizes = all_coalitions(count).sum(1)
    weight = np.array([1.0 / (count * comb(count - 1, s)) for s in range(count)] + [0.0])
    b = weight[sizes] * values
    c = np.where(sizes > 0, weight[np.maximum(sizes - 1, 0)] * values, 0.0) + b
    cube = c.reshape(*lead, *(2,) * count)
    total_b = b.sum(-1)
    axis = len(lead) + count - 1
    phi = [cube.take(1, axis=axis - i).reshape(*lead, -1).sum(-1) - total_b for i in range(count)]
    return np.stack(phi, axis=-1)


@register_method("shapley", aliases=("shapley_values", "exact_shapley"))
@dataclass(eq=False, repr=False)
class ShapleyValues(CoalitionExplainer[None]):
    """Exact Shapley values of feature groups by enumerating all coalitions.

    Evaluates all ``2^G`` coalitions of the ``G`` groups (in batched forward passes) and
    weighs their marginal contributions by the Shapley formula. The attribution sums to
    ``output = f(x) - f(baseline)`` up to floating-point rounding.

    Parameters
    ----------
    groups : None, integer mask, mapping or callable
        The players (see :mod:`xaikit.perturbation.groups`); each input element by default.
        At most 20 groups per sample.
    baseline : None, float, tensor, Background or Removal
        What replaces removed groups (see :mod:`xaikit.perturbation.baseline`); zeros by
        default. With ``Background(data)`` values are expectations over the rows.
    group_attribution : {"divide", "repeat"}
        How a group's value is spread over its elements: shared equally (sums are kept)
        or repeated on each element (Captum's convention).
    batch_size : int or None
        Largest number of model inputs per forward pass (a perturbation averaged over
        ``M`` background rows counts ``M``); ``None``: about 2^20 input elements per
        pass, at most 65536 inputs.
    progress : bool or None
        Show a progress bar (``None``: the package default).

    Notes
    -----
    ``extras``: ``group_values`` ``(N, G)``, ``group_labels``, ``group_counts``,
    ``group_names``, ``model_output`` (``f(x)``), ``baseline_output`` (``f(baseline)``),
    ``evaluations`` (model evaluations per sample).
    """

    def check_groups(self, groups: FeatureGroups) -> None:
        if groups.max_count > MAX_EXACT_GROUPS:
            raise ValueError(
                f"exact Shapley values enumerate 2^G coalitions and the inputs have G = "
                f"{groups.max_count} feature groups (at most {MAX_EXACT_GROUPS} allowed); use "
                "method='kernel_shap' or method='shapley_sampling', or merge features into fewer "
                "groups with groups=... (for example xaikit.perturbation.Patches or Superpixels)"
            )

    def plan(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, None]:
        return all_coalitions(count)[1:-1], None

    def solve(
        self, state: None, coalitions: np.ndarray, values: np.ndarray, empty: np.ndarray, full: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        count = coalitions.shape[1]
        table = np.concatenate([empty[:, None], values, full[:, None]], axis=1)
        return exact_shapley(table, count), {}


@register_method("shapley_sampling", aliases=("approshapley", "shapley_value_sampling"))
@dataclass(eq=False, repr=False)
class ShapleySampling(SampledCoalitionExplainer[np.ndarray]):
    """Shapley values estimated from random permutations (ApproShapley).

    For each sampled order of the groups, the groups are added one at a time and each is
    credited with the change of the value; the estimate averages over the orders. Each
    order telescopes to ``f(x) - f(baseline)``, so efficiency holds exactly for any
    number of samples. Antithetic sampling pairs each order with its reverse, which
    cancels much of the variance (exact for games of pairwise interactions).

    Parameters
    ----------
    samples : int
        Number of permutations (rounded up to even with ``antithetic``); costs
        ``samples * (G - 1) + 2`` evaluations per sample at most (repeated coalitions
        are evaluated once).
    antithetic : bool
        Pair each permutation with its reverse.
    seed : int, numpy Generator or None
        Randomness. An int makes results deterministic and seeds every sample's draws
        alike, so a sample's result does not depend on the rest of the batch; a
        Generator is drawn from in turn; ``None`` takes fresh entropy.
    groups, baseline, group_attribution, batch_size, progress
        As for :class:`ShapleyValues`.

    Notes
    -----
    ``extras["stderr"]``: standard error of each group value (over permutations, or
    over antithetic pairs), besides the extras of :class:`ShapleyValues`.
    """

    samples: int = 50
    antithetic: bool = True
    deduplicate: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self.samples = check_positive_int(self.samples, "samples")

    def plan(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if self.antithetic:
            half = rng.permuted(np.tile(np.arange(count), ((self.samples + 1) // 2, 1)), axis=1)
            orders = np.stack([half, half[:, ::-1]], axis=1).reshape(-1, count)
        else:
            orders = rng.permuted(np.tile(np.arange(count), (self.samples, 1)), axis=1)
        ranks = np.argsort(orders, axis=1)
        steps = np.arange(1, count)
        coalitions = ranks[:, None, :] < steps[None, :, None]
        return coalitions.reshape(-1, count), orders

    def solve(
        self, state: np.ndarray, coalitions: np.ndarray, values: np.ndarray, empty: np.ndarray, full: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        orders = state
        p, count = orders.shape
        s = len(values)
        chain = np.empty((s, p, count + 1))
        chain[:, :, 0], chain[:, :, -1] = empty[:, None], full[:, None]
        chain[:, :, 1:-1] = values.reshape(s, p, count - 1)
        estimates = np.zeros((s, p, count))
        np.put_along_axis(estimates, np.broadcast_to(orders, (s, p, count)), np.diff(chain, axis=2), axis=2)
        units = estimates.reshape(s, p // 2, 2, count).mean(2) if self.antithetic else estimates
        if units.shape[1] > 1:
            stderr = units.std(1, ddof=1) / np.sqrt(units.shape[1])
        else:
            stderr = np.full((s, count), np.nan)
        return estimates.mean(1), {"stderr": stderr}
