"""LIME: a kernel-weighted linear surrogate of the model around one input.

Random binary coalitions ``z`` switch feature groups (segments, patches, columns) on and
off; the surrogate ``g(z) = intercept + sum_i coef_i z_i`` is fit to the model's values
by ridge regression weighted with the proximity kernel ``exp(-D(z, 1)^2 / width^2)``
(Ribeiro et al., 2016), where ``D`` is the cosine or Hamming distance of ``z`` to the
unperturbed input (all ones). The coefficients are the group attributions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from xaikit.core.registry import register_method
from xaikit.perturbation.base import SampledCoalitionExplainer
from xaikit.perturbation.fit import weighted_r2
from xaikit.utils.options import check_positive_int

__all__ = ["Lime", "proximity", "weighted_ridge"]


def proximity(coalitions: np.ndarray, kernel_width: float, distance: str = "cosine") -> np.ndarray:
    """Kernel weight ``exp(-D^2 / width^2)`` of each coalition ``(K, G)``.

    Parameters
    ----------
    coalitions : numpy.ndarray
        Binary coalitions.
    kernel_width : float
        Width of the exponential kernel.
    distance : {"cosine", "hamming"}
        Cosine distance ``1 - sqrt(|z| / G)`` to the all-ones vector (1 for the empty
        coalition), or the fraction of groups switched off.
    """
    count = coalitions.shape[1]
    on = coalitions.sum(1).astype(np.float64)
    if distance == "cosine":
        d = 1.0 - np.sqrt(on / count)
    elif distance == "hamming":
        d = 1.0 - on / count
    else:
        raise ValueError(f"distance must be 'cosine' or 'hamming', got {distance!r}")
    return np.exp(-(d**2) / kernel_width**2)


def weighted_ridge(
    design: np.ndarray, targets: np.ndarray, weights: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted ridge regression with an unpenalized intercept (closed form, float64).

    Minimizes ``sum_k w_k (y_k - b - x_k^T c)^2 + alpha ||c||^2``; the same problem as
    ``sklearn.linear_model.Ridge(alpha).fit(X, y, sample_weight=w)``.

    Parameters
    ----------
    design : numpy.ndarray
        ``(K, G)`` regressors.
    targets : numpy.ndarray
        ``(K,)``, or ``(K, S)`` for ``S`` problems sharing design and weights.
    weights : numpy.ndarray
        ``(K,)`` sample weights.
    alpha : float
        Ridge penalty.

    Returns
    -------
    coef : numpy.ndarray
        ``(G,)`` or ``(G, S)`` coefficients.
    intercept : numpy.ndarray
        ``()`` or ``(S,)``.
    """
    x = design.astype(np.float64)
    y = np.asarray(targets, dtype=np.float64)
    w = weights / weights.sum()
    x_mean = w @ x
    y_mean = w @ y
    xc, yc = x - x_mean, y - y_mean
    gram = xc.T @ (weights[:, None] * xc) + alpha * np.eye(x.shape[1])
    rhs = xc.T @ (weights[:, None] * yc if y.ndim == 2 else weights * yc)
    coef = np.linalg.lstsq(gram, rhs, rcond=None)[0]
    return coef, y_mean - x_mean @ coef


@register_method("lime")
@dataclass(eq=False, repr=False)
class Lime(SampledCoalitionExplainer[np.ndarray]):
    """LIME on feature groups: kernel-weighted ridge fit to random group perturbations.

    Parameters
    ----------
    samples : int
        Perturbed inputs per sample (the first is the unperturbed input, the others keep
        each group with probability 1/2; repeated coalitions are evaluated once).
    kernel_width : float
        Width of the proximity kernel ``exp(-D^2 / width^2)`` (LIME's image default 0.25).
    distance : {"cosine", "hamming"}
        Distance of a coalition to the unperturbed input.
    alpha : float
        Ridge penalty (LIME's default 1.0); the intercept is not penalized.
    seed : int, numpy Generator or None
        Randomness. An int makes results deterministic and seeds every sample's draws
        alike, so a sample's result does not depend on the rest of the batch; a
        Generator is drawn from in turn; ``None`` takes fresh entropy.
    groups, baseline, group_attribution, batch_size, progress
        As for :class:`~xaikit.perturbation.shapley.ShapleyValues`; for images pass
        segments, e.g. ``groups=xaikit.perturbation.Superpixels(50)``.

    Notes
    -----
    ``output`` is ``f(x) - f(baseline)`` (the coefficients sum to it only
    approximately). ``extras``: ``intercept``, ``score`` (kernel-weighted R² of the
    surrogate) and the group extras of the Shapley methods.
    """

    samples: int = 1000
    kernel_width: float = 0.25
    distance: str = "cosine"
    alpha: float = 1.0
    deduplicate: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self.samples = check_positive_int(self.samples, "samples")
        if not self.kernel_width > 0:
            raise ValueError(f"kernel_width must be positive, got {self.kernel_width!r}")
        if self.distance not in ("cosine", "hamming"):
            raise ValueError(f"distance must be 'cosine' or 'hamming', got {self.distance!r}")
        if not self.alpha >= 0:
            raise ValueError(f"alpha must be non-negative, got {self.alpha!r}")

    def plan(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        coalitions = rng.random((self.samples, count)) < 0.5
        coalitions[0] = True
        return coalitions, proximity(coalitions, self.kernel_width, self.distance)

    def solve(
        self, state: np.ndarray, coalitions: np.ndarray, values: np.ndarray, empty: np.ndarray, full: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        weights = state
        coef, intercept = weighted_ridge(coalitions, values.T, weights, self.alpha)
        fitted = intercept[:, None] + coef.T @ coalitions.T.astype(np.float64)
        return coef.T, {"intercept": intercept, "score": weighted_r2(values, fitted, weights)}
