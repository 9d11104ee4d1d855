"""KernelSHAP: Shapley values as a weighted linear regression over sampled coalitions.

The Shapley values are the solution of

.. math:: \\min_\\phi \\sum_{S} k(S)\\,\\big(v(S) - v(\\emptyset) - \\textstyle\\sum_{i\\in S}\\phi_i\\big)^2
          \\quad\\text{s.t.}\\quad \\textstyle\\sum_i \\phi_i = v(\\text{all}) - v(\\emptyset),

with the Shapley kernel ``k(S) = (G-1) / (C(G,|S|) |S| (G-|S|))`` over the coalitions of
sizes ``1..G-1`` (Lundberg & Lee, 2017). The estimator here evaluates a budget of
coalitions chosen to keep its variance low:

1. sizes are taken in complementary pairs ``(s, G-s)``, from the heaviest (``s = 1``)
   inwards; a size pair whose coalitions all fit into its share of the budget is
   enumerated completely and given its exact kernel weights;
2. the rest of the budget is split over the remaining size pairs in proportion to their
   kernel mass (stratified by size, not drawn at random as in ``shap``), and each
   stratum draws distinct coalitions uniformly *without replacement*, each together with
   its complement (paired sampling); a stratum of ``n`` draws gives each of them ``1/n``
   of the stratum's kernel mass, an unbiased estimate of the full regression;
3. the constrained least-squares problem is solved exactly (a KKT system in float64), so
   the values sum to ``f(x) - f(baseline)``; an optional l1 penalty (off by default)
   selects groups first.

With a budget of at least ``2^G - 2`` coalitions every coalition is enumerated and the
result equals the exact Shapley values.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from math import comb

import numpy as np

from xaikit.core.registry import register_method
from xaikit.perturbation.base import SampledCoalitionExplainer
from xaikit.perturbation.fit import weighted_r2
from xaikit.utils.options import check_positive_int

__all__ = ["KernelShap", "kernel_weights", "sample_coalitions", "solve_constrained"]


def kernel_weights(count: int) -> np.ndarray:
    """Total Shapley-kernel mass of each coalition size ``0..count`` (0 at both ends), summing to 1."""
    mass = np.zeros(count + 1)
    sizes = np.arange(1, count)
    mass[1:count] = (count - 1) / (sizes * (count - sizes))
    total = mass.sum()
    return mass / total if total > 0 else mass


@dataclass(frozen=True)
class CoalitionSample:
    """Coalitions chosen for a KernelSHAP regression, with their regression weights."""

    coalitions: np.ndarray
    weights: np.ndarray
    enumerated: int


@lru_cache(maxsize=256)
def _all_of_size(count: int, size: int) -> np.ndarray:
    """All coalitions of ``size`` out of ``count`` (read-only, cached)."""
    out = np.zeros((comb(count, size), count), dtype=bool)
    for row, members in enumerate(combinations(range(count), size)):
        out[row, list(members)] = True
    out.flags.writeable = False
    return out


#: Largest number of coalitions of one size that is enumerated to draw from it.
_ENUMERATE_LIMIT = 2**14


def _draw_distinct(count: int, size: int, draws: int, rng: np.random.Generator, paired: bool) -> np.ndarray:
    """``draws`` distinct coalitions of ``size``, uniformly without replacement.

    With ``paired`` (``size = count / 2``) no two drawn coalitions are complements (the
    caller adds the complements).
    """
    if comb(count, size) <= _ENUMERATE_LIMIT:
        pool = _all_of_size(count, size)
        if paired:
            pool = pool[pool[:, 0]]
        return pool[rng.choice(len(pool), draws, replace=False)]
    found = np.zeros((0, count), dtype=bool)
    while len(found) < draws:
        keys = rng.random((2 * (draws - len(found)) + 8, count))
        ranks = np.argsort(keys, axis=1)
        candidates = ranks < size
        if paired:
            candidates = np.where(candidates[:, :1], candidates, ~candidates)
        merged = np.concatenate([found, candidates])
        _, first = np.unique(merged, axis=0, return_index=True)
        keep = np.sort(first)
        found = merged[keep[: draws]] if len(keep) >= draws else merged[keep]
    return found


def sample_coalitions(count: int, budget: int, rng: np.random.Generator) -> CoalitionSample:
    """Choose up to ``budget`` coalitions of sizes ``1..count-1`` and their weights.

    Parameters
    ----------
    count : int
        Number of groups ``G``.
    budget : int
        Number of coalitions to evaluate (besides the empty and the full one).
    rng : numpy.random.Generator
        Randomness.

    Returns
    -------
    CoalitionSample
        Coalitions ``(K, G)``; weights ``(K,)``, the rows of each size sharing that
        size's kernel mass (the weights sum to 1 when every size is represented); and
        how many leading rows come from completely enumerated sizes.
    """
    mass = kernel_weights(count)
    pairs = [(s, count - s) for s in range(1, count // 2 + 1)]
    pair_mass = [mass[s] + (mass[t] if t != s else 0.0) for s, t in pairs]
    pair_count = [comb(count, s) * (2 if t != s else 1) for s, t in pairs]
    rows: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    left_budget, left_mass = budget, float(sum(pair_mass))
    k = 0
    while k < len(pairs) and left_mass > 0 and left_budget * pair_mass[k] / left_mass >= pair_count[k] - 1e-9:
        for size in sorted(set(pairs[k])):
            subsets = _all_of_size(count, size)
            rows.append(subsets)
            weights.append(np.full(len(subsets), mass[size] / len(subsets)))
        left_budget -= pair_count[k]
        left_mass -= pair_mass[k]
        k += 1
    enumerated = int(sum(len(r) for r in rows))
    rest = list(range(k, len(pairs)))
    units = left_budget // 2
    if rest and units > 0:
        capacity = {j: pair_count[j] // 2 for j in rest}
        share = _allocate(units, {j: pair_mass[j] for j in rest}, capacity)
        for j in rest:
            draws = share[j]
            if draws == 0:
                continue
            s, t = pairs[j]
            chosen = _draw_distinct(count, s, draws, rng, paired=s == t)
            both = np.concatenate([chosen, ~chosen])
            rows.append(both)
            if s == t:
                weights.append(np.full(len(both), mass[s] / len(both)))
            else:
                weights.append(np.concatenate([np.full(draws, mass[s] / draws), np.full(draws, mass[t] / draws)]))
    if not rows:
        return CoalitionSample(np.zeros((0, count), dtype=bool), np.zeros(0), 0)
    return CoalitionSample(np.concatenate(rows), np.concatenate(weights), enumerated)


def _allocate(units: int, mass: dict[int, float], capacity: dict[int, int]) -> dict[int, int]:
    """Split ``units`` over strata in proportion to ``mass`` (largest remainders), capped by ``capacity``."""
    share = dict.fromkeys(mass, 0)
    open_strata = {j for j in mass if capacity[j] > 0}
    while units > 0 and open_strata:
        total = sum(mass[j] for j in open_strata)
        ideal = {j: units * mass[j] / total for j in open_strata}
        give = {j: min(int(np.floor(ideal[j])), capacity[j] - share[j]) for j in open_strata}
        given = sum(give.values())
        if given < units:
            order = sorted(open_strata, key=lambda j: ideal[j] - np.floor(ideal[j]), reverse=True)
            for j in order:
                if given == units:
                    break
                if share[j] + give[j] < capacity[j]:
                    give[j] += 1
                    given += 1
        for j, g in give.items():
            share[j] += g
        units -= given
        open_strata = {j for j in open_strata if share[j] < capacity[j]}
        if given == 0:
            break
    return share


#: Relative cut-off of small singular values in the regression.
_RCOND = 1e-10


def solve_constrained(
    coalitions: np.ndarray, targets: np.ndarray, weights: np.ndarray, total: float | np.ndarray
) -> np.ndarray:
    """Weighted least squares ``targets ≈ coalitions @ phi`` subject to ``sum(phi) = total``.

    Solves the KKT system ``[[2A, 1], [1^T, 0]] [phi; nu] = [2b; total]`` with
    ``A = Z^T W Z`` and ``b = Z^T W y`` in float64 by least squares, dropping directions
    with singular values below ``1e-10`` of the largest: when too few coalitions leave
    the problem (nearly) singular, the result is the minimum-norm solution, never one
    blown up by round-off.

    Parameters
    ----------
    coalitions : numpy.ndarray
        ``(K, G)`` bool design.
    targets : numpy.ndarray
        ``(K,)``, or ``(S, K)`` for ``S`` problems sharing the design.
    weights : numpy.ndarray
        ``(K,)`` regression weights.
    total : float or numpy.ndarray
        The required sum (``(S,)`` for several problems).

    Returns
    -------
    numpy.ndarray
        ``(G,)`` or ``(S, G)``.
    """
    z = coalitions.astype(np.float64)
    count = z.shape[1]
    many = np.ndim(targets) == 2
    y = np.atleast_2d(targets)
    totals = np.broadcast_to(np.asarray(total, dtype=np.float64), (len(y),))
    a = z.T @ (weights[:, None] * z)
    b = z.T @ (weights[:, None] * y.T)
    kkt = np.zeros((count + 1, count + 1))
    kkt[:count, :count] = 2 * a
    kkt[:count, count] = 1.0
    kkt[count, :count] = 1.0
    rhs = np.concatenate([2 * b, totals[None]], axis=0)
    solution = np.linalg.lstsq(kkt, rhs, rcond=_RCOND)[0]
    phi = solution[:count].T
    phi = phi + (totals - phi.sum(1))[:, None] / count
    return phi if many else phi[0]


def _lasso_support(
    coalitions: np.ndarray, targets: np.ndarray, weights: np.ndarray, total: float, alpha: float
) -> np.ndarray:
    """Groups kept by an l1-penalized fit (with the constraint eliminated as in shap)."""
    from sklearn.linear_model import Lasso

    z = coalitions.astype(np.float64)
    last = z[:, -1:]
    design = z[:, :-1] - last
    response = targets - last[:, 0] * total
    root = np.sqrt(weights)
    fit = Lasso(alpha=alpha, fit_intercept=False).fit(design * root[:, None], response * root)
    keep = np.append(fit.coef_ != 0, True)
    return keep


@register_method("kernel_shap", aliases=("kernelshap", "kernel_shapley"))
@dataclass(eq=False, repr=False)
class KernelShap(SampledCoalitionExplainer[CoalitionSample]):
    """KernelSHAP: Shapley values by a Shapley-kernel weighted regression on coalitions.

    See :mod:`xaikit.perturbation.kernel_shap` for the sampling scheme. The attribution
    sums to ``output = f(x) - f(baseline)`` exactly (the constraint is enforced, not
    approximated).

    Parameters
    ----------
    samples : int or None
        Coalitions evaluated per sample besides the empty and the full one (capped at
        ``2^G - 2``; sampled strata use an even number). ``None``: ``2G + 2048``.
    l1 : float or None
        Strength of an l1 penalty (scikit-learn ``Lasso`` ``alpha``) that selects the
        groups before the constrained fit; groups not selected get 0. Off by default.
    seed : int, numpy Generator or None
        Randomness. An int makes results deterministic and seeds every sample's draws
        alike, so a sample's result does not depend on the rest of the batch; a
        Generator is drawn from in turn; ``None`` takes fresh entropy.
    groups, baseline, group_attribution, batch_size, progress
        As for :class:`~xaikit.perturbation.shapley.ShapleyValues`; with
        ``Background(data)`` values are expectations over the background rows (as in
        shap's ``KernelExplainer``).

    Notes
    -----
    ``extras["enumerated"]``: how many coalitions of each sample came from completely
    enumerated sizes; ``extras["r2"]``: weighted R² of the fit.
    """

    samples: int | None = None
    l1: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.samples = None if self.samples is None else check_positive_int(self.samples, "samples")
        if self.l1 is not None and not (isinstance(self.l1, int | float) and self.l1 > 0):
            raise ValueError(f"l1 must be a positive number or None (no penalty), got {self.l1!r}")

    def _budget(self, count: int) -> int:
        budget = 2 * count + 2048 if self.samples is None else self.samples
        return min(budget, 2**count - 2) if count < 62 else budget

    def plan(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, CoalitionSample]:
        if count < 2:
            sample = CoalitionSample(np.zeros((0, count), dtype=bool), np.zeros(0), 0)
        else:
            sample = sample_coalitions(count, self._budget(count), rng)
        return sample.coalitions, sample

    def solve(
        self, state: CoalitionSample, coalitions: np.ndarray, values: np.ndarray, empty: np.ndarray, full: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        s, count = len(values), coalitions.shape[1]
        total = full - empty
        enumerated = np.full(s, state.enumerated)
        if count < 2 or len(coalitions) == 0:
            phi = np.repeat((total / max(count, 1))[:, None], count, axis=1)
            return phi, {"enumerated": enumerated, "r2": np.full(s, np.nan)}
        targets = values - empty[:, None]
        if self.l1 is None:
            phi = solve_constrained(coalitions, targets, state.weights, total)
        else:
            phi = np.zeros((s, count))
            for row in range(s):
                keep = _lasso_support(coalitions, targets[row], state.weights, total[row], float(self.l1))
                phi[row, keep] = solve_constrained(coalitions[:, keep], targets[row], state.weights, total[row])
        r2 = weighted_r2(targets, phi @ coalitions.T.astype(np.float64), state.weights)
        return phi, {"enumerated": enumerated, "r2": r2}
