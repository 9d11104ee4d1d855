"""Neuralized kernel density estimation: outlierness, inlierness (direct and random features).

With support points ``u_1..u_N`` (weights ``w_k``, uniform by default) and the Gaussian
kernel ``exp(-gamma ||x - u||^2)`` the KDE score is ``p(x) = sum_k w_k exp(-gamma h_k)``
with ``h_k = ||x - u_k||^2``, and

- outlierness ``o(x) = -(1/gamma) log p(x) = LME^{-gamma}_k {h_k}`` (distance layer +
  log-mean-exp pooling, :class:`KDEOutlierness`), optionally leave-one-out for points of
  the training set;
- inlierness ``i(x) = p(x)``, directly (:class:`KDEInlierness`, uninformative uniform
  redistribution) or with random Fourier features (:class:`RandomFeatureInlierness`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xaikit.neon.base import Neuralized, as_float_tensor
from xaikit.neon.functional import PoolSpec, pool_weights
from xaikit.neon.layers import (
    CosineFeatures,
    GaussianKernelLayer,
    RandomFeatureMap,
    SoftPool,
    SquaredDistanceLayer,
    WeightedSum,
)
from xaikit.utils.random import as_generator

__all__ = [
    "KDEInlierness",
    "KDEOutlierness",
    "RandomFeatureInlierness",
    "coincidence_thresholds",
    "normalized_log_weights",
]


def _check_support(support: Any) -> Tensor:
    u = as_float_tensor(support, name="support")
    if u.ndim != 2 or u.shape[0] < 1:
        raise ValueError(f"support must have shape (N, d) with N >= 1, got {tuple(u.shape)}")
    return u


def _check_gamma(gamma: float) -> float:
    gamma = float(gamma)
    if not (gamma > 0 and math.isfinite(gamma)):
        raise ValueError(f"gamma must be positive and finite, got {gamma}")
    return gamma


def _resolve_beta(beta: float | str | None, gamma: float) -> float | None:
    if isinstance(beta, str):
        if beta != "auto":
            raise ValueError(f"beta must be a positive float, 'auto' or None, got {beta!r}")
        return gamma
    return None if beta is None else float(beta)


def normalized_log_weights(weights: Any, n: int) -> Tensor:
    """``log(w_k / sum_k w_k)`` of non-negative weights (uniform ``log(1/n)`` for ``None``).

    Parameters
    ----------
    weights : array-like or None
        Shape ``(n,)``, non-negative with a positive sum.
    n : int
        Number of support points.

    Returns
    -------
    torch.Tensor
        Shape ``(n,)``, float64 (``-inf`` for zero weights).
    """
    if weights is None:
        return torch.full((n,), -math.log(n), dtype=torch.float64)
    w = as_float_tensor(weights, name="weights").reshape(-1)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got {tuple(w.shape)}")
    if bool((w < 0).any()) or not float(w.sum()) > 0:
        raise ValueError("weights must be non-negative with a positive sum")
    return torch.log(w / w.sum())


def coincidence_thresholds(support: Tensor, tol: float) -> Tensor:
    """Squared distances ``tol (1 + ||u_k||^2)`` within which a point counts as support point ``k``.

    Parameters
    ----------
    support : torch.Tensor
        Support points, ``(N, d)``.
    tol : float
        Relative tolerance (non-negative).

    Returns
    -------
    torch.Tensor
        Shape ``(N,)``.
    """
    tol = float(tol)
    if not (tol >= 0 and math.isfinite(tol)):
        raise ValueError(f"coincidence_tol must be non-negative and finite, got {tol}")
    return tol * (1.0 + (support * support).sum(-1))


class KDEOutlierness(Neuralized):
    """KDE outlierness ``o(x) = LME^{-gamma}_k ||x - u_k||^2`` (Montavon et al., 2022, sec. 3.1).

    Layer 1 computes the squared distances ``h_k``, layer 2 the (weighted)
    log-mean-exp pooling ``-(1/gamma) log sum_k w_k exp(-gamma h_k)``, a soft minimum.
    Relevance: ``R_k = softmin_beta(h)_k o(x)`` (weights ``w_k`` included), then
    ``R_i = sum_k (x_i - u_ik)^2 / (eps + h_k) R_k``. Only the share
    ``sum_k eps / (eps + h_k) R_k`` is dissipated.

    **Relation to scikit-learn.** For a ``KernelDensity`` (Gaussian kernel, bandwidth
    ``b``) neuralized by :func:`xaikit.neon.neuralize`, ``gamma = 1 / (2 b^2)`` and
    the output is not the estimator's score but the transformed outlierness

    ``o(x) = -(score_samples(x) - log_normalizer) / gamma``,
    ``log_normalizer = -(d/2) log(2 pi b^2)``

    (:meth:`score_samples` and :meth:`outlierness_from_score_samples` map between the
    two). ``o`` grows as the log-density falls.

    **Training points.** A point ``x`` of the training set is one of the support points:
    its own term (``h_k = 0``) takes nearly all the pooling weight when the bandwidth is
    small, and the distance rule dissipates the relevance it receives, so the
    explanation keeps almost none of ``o(x)``; explaining such a point warns
    (:class:`~xaikit.neon.functional.CoincidentSupportWarning`). With
    ``leave_one_out=True`` the support points that coincide with ``x`` (squared
    distance at most ``coincidence_tol (1 + ||u_k||^2)``) are left out of the pooling
    and the other weights renormalized: ``o(x)`` is then the outlierness of ``x``
    under the KDE fitted on the other points with the same bandwidth (the literature's
    treatment of training customers, Montavon et al., 2022, sec. 5.1), and relevance
    is conserved. All copies of a duplicated point are left out. A point that
    coincides with no support point is not affected.

    Parameters
    ----------
    support : array-like or torch.Tensor
        Support points ``u_k``, shape ``(N, d)``.
    gamma : float
        Kernel parameter of ``exp(-gamma ||x - u||^2)`` (for a bandwidth ``h``:
        ``gamma = 1 / (2 h^2)``).
    weights : array-like, optional
        Non-negative weights of the support points (normalized to sum to one).
    beta : float, "auto" or None, default "auto"
        Soft-argmin sharpness of the redistribution; ``"auto"`` is ``gamma`` (then
        ``R_k`` is ``o(x)`` times the posterior weight of support point ``k``), ``None``
        sends all relevance to the nearest support point.
    eps : float, default 1e-9
        Stabilizer of the distance rule.
    leave_one_out : bool, default False
        Leave the support points that coincide with the explained point out (see
        above); also settable later as :attr:`leave_one_out`.
    coincidence_tol : float, default 1e-12
        Relative tolerance of coincidence: ``x`` coincides with ``u_k`` when
        ``||x - u_k||^2 <= coincidence_tol (1 + ||u_k||^2)`` (exact copies, and copies
        rounded through float32 or a preprocessing step).
    """

    def __init__(
        self,
        support: Any,
        gamma: float,
        weights: Any = None,
        beta: float | str | None = "auto",
        eps: float = 1e-9,
        *,
        leave_one_out: bool = False,
        coincidence_tol: float = 1e-12,
    ) -> None:
        super().__init__()
        u = _check_support(support)
        self.gamma = _check_gamma(gamma)
        self.beta = _resolve_beta(beta, self.gamma)
        log_w = normalized_log_weights(weights, u.shape[0])
        self.coincidence_tol = float(coincidence_tol)
        threshold = coincidence_thresholds(u, self.coincidence_tol)
        self.distances = SquaredDistanceLayer(u, eps)
        self.pool = SoftPool(
            PoolSpec("min", self.gamma, self.beta), log_w, exclude=threshold, leave_out=bool(leave_one_out)
        )
        #: Constant of the estimator's log-density (``KernelDensity``: ``-(d/2) log(2 pi h^2)``).
        self.log_normalizer = 0.0

    @property
    def support(self) -> Tensor:
        """The support points, ``(N, d)``."""
        return self.distances.support

    @property
    def leave_one_out(self) -> bool:
        """Whether support points coinciding with the explained point are left out."""
        return self.pool.leave_out

    @leave_one_out.setter
    def leave_one_out(self, value: bool) -> None:
        self.pool.leave_out = bool(value)

    def coincides(self, x: Tensor) -> Tensor:
        """Which rows of ``x`` coincide with a support point (within the tolerance), ``(M,)`` bool."""
        with torch.no_grad():
            h = self.distances(self._cast(x))
            assert self.pool.exclude is not None
            return (h <= self.pool.exclude).any(-1)

    def forward(self, x: Tensor) -> Tensor:
        """Outlierness, ``(M, d) -> (M,)`` (leave-one-out when :attr:`leave_one_out` is set)."""
        out: Tensor = self.pool(self.distances(self._cast(x)))
        return out

    def score_samples(self, x: Tensor) -> Tensor:
        """``log_normalizer - gamma o(x)``: ``KernelDensity.score_samples`` for a neuralized KDE.

        With :attr:`leave_one_out`, the log-density of the KDE fitted (with the same
        bandwidth) on the support points that do not coincide with ``x``.
        """
        with torch.no_grad():
            return self.log_normalizer - self.gamma * self.forward(x)

    def outlierness_from_score_samples(self, scores: Any) -> Tensor:
        """``o = -(scores - log_normalizer) / gamma`` from ``KernelDensity.score_samples`` values.

        Parameters
        ----------
        scores : array-like or torch.Tensor
            Log-densities, shape ``(M,)``.

        Returns
        -------
        torch.Tensor
            Outlierness, ``(M,)``.
        """
        s = as_float_tensor(scores, self.dtype, name="scores")
        return -(s - self.log_normalizer) / self.gamma

    def pooling_weights(self, x: Tensor) -> Tensor:
        """The redistribution weights ``p_k`` of the pooling (``R_k = p_k o(x)``), ``(M, N)``."""
        with torch.no_grad():
            h = self.distances(self._cast(x))
            pool = self.pool
            return pool_weights(h, pool.spec, pool.log_weights, pool.exclude if pool.leave_out else None)

    def dissipation(self, x: Tensor) -> Tensor:
        """Relevance the distance rule dissipates: ``sum_k eps / (eps + h_k) R_k``, ``(M,)``."""
        with torch.no_grad():
            h = self.distances(self._cast(x))
            o = self.pool(h)
            p = self.pooling_weights(x)
            eps = self.distances.eps
            return (p * o[:, None] * eps / (eps + h)).sum(1)


class KDEInlierness(Neuralized):
    """KDE inlierness ``i(x) = sum_k w_k exp(-gamma ||x - u_k||^2)``, neuralized directly.

    Layer 1 computes the Gaussian kernels, layer 2 their (weighted) mean. Relevance:
    ``R_k = w_k h_k / i(x) * i(x)`` in proportion to the summands, then, since every
    feature can switch a Gaussian off, the **uniform** share ``R_i = i(x) / d``. The
    explanation is the same for every point and therefore **uninformative**; it is a
    baseline. Use :class:`RandomFeatureInlierness` for a feature-wise explanation.

    Parameters
    ----------
    support : array-like or torch.Tensor
        Support points, shape ``(N, d)``.
    gamma : float
        Kernel parameter.
    weights : array-like, optional
        Non-negative weights of the support points (normalized to sum to one).
    """

    def __init__(self, support: Any, gamma: float, weights: Any = None) -> None:
        super().__init__()
        u = _check_support(support)
        self.gamma = _check_gamma(gamma)
        self.kernels = GaussianKernelLayer(u, self.gamma)
        self.pool = WeightedSum(torch.exp(normalized_log_weights(weights, u.shape[0])))
        #: Constant of the estimator's log-density (``KernelDensity``: ``-(d/2) log(2 pi h^2)``).
        self.log_normalizer = 0.0

    def forward(self, x: Tensor) -> Tensor:
        """Inlierness, ``(M, d) -> (M,)``."""
        out: Tensor = self.pool(self.kernels(self._cast(x)))
        return out

    def score_samples(self, x: Tensor) -> Tensor:
        """``log i(x) + log_normalizer``: ``KernelDensity.score_samples`` for a neuralized KDE."""
        with torch.no_grad():
            return torch.log(self.forward(x)) + self.log_normalizer


def _draw_features(
    d: int, n_features: int, gamma: float, seed: int | torch.Generator | None
) -> tuple[Tensor, Tensor]:
    generator = as_generator(seed)
    omega = torch.randn(n_features, d, generator=generator, dtype=torch.float64) * math.sqrt(2.0 * gamma)
    phase = torch.rand(n_features, generator=generator, dtype=torch.float64) * (2.0 * math.pi)
    return omega, phase


class RandomFeatureInlierness(Neuralized):
    """KDE inlierness through random Fourier features (Montavon et al., 2022, sec. 3.3).

    With ``omega_j ~ N(0, 2 gamma I)`` and ``b_j ~ U(0, 2 pi)`` (Rahimi and Recht, 2007),
    ``i(x) ~ (1/H) sum_j h_j`` with ``h_j = sqrt(2) cos(omega_j^T x + b_j) mu_j`` and
    ``mu_j = sum_k w_k sqrt(2) cos(omega_j^T u_k + b_j)``; the approximation error falls as
    ``1 / sqrt(H)``. Relevance: ``R_j = h_j / sum_j h_j * i_hat(x)`` in the mean, then the
    w-square rule ``R_i = sum_j omega_ij^2 / ||omega_j||^2 R_j`` along each feature's
    direction. Conservation is exact. Redraw the features with other seeds to get error
    bars (:func:`xaikit.neon.redraw_inlierness`).

    Parameters
    ----------
    support : array-like or torch.Tensor, optional
        Support points, shape ``(N, d)``; or give ``mu`` with ``omega`` and ``phase``.
    gamma : float, optional
        Kernel parameter (needed to draw the features).
    n_features : int, default 2500
        Number ``H`` of random features.
    seed : int or torch.Generator, optional
        Seed of the draw (a local generator: the global random state is not touched).
    weights : array-like, optional
        Weights of the support points (normalized to sum to one).
    omega, phase, mu : torch.Tensor, optional
        Raw parameters ``(H, d)``, ``(H,)``, ``(H,)`` instead of a draw.
    """

    def __init__(
        self,
        support: Any = None,
        gamma: float | None = None,
        n_features: int = 2500,
        seed: int | torch.Generator | None = 0,
        weights: Any = None,
        *,
        omega: Any = None,
        phase: Any = None,
        mu: Any = None,
    ) -> None:
        super().__init__()
        raw = omega is not None or phase is not None or mu is not None
        if raw:
            if omega is None or phase is None or mu is None or support is not None:
                raise ValueError("give either support (with gamma) or all of omega, phase and mu")
            om = as_float_tensor(omega, name="omega")
            ph = as_float_tensor(phase, name="phase").reshape(-1)
            mean = as_float_tensor(mu, name="mu").reshape(-1)
            if mean.shape != ph.shape:
                raise ValueError(f"mu {tuple(mean.shape)} and phase {tuple(ph.shape)} do not match")
            self.gamma = None if gamma is None else _check_gamma(gamma)
        else:
            if support is None or gamma is None:
                raise ValueError("give support and gamma (or the raw parameters omega, phase and mu)")
            if int(n_features) < 1:
                raise ValueError(f"n_features must be positive, got {n_features}")
            u = _check_support(support)
            self.gamma = _check_gamma(gamma)
            om, ph = _draw_features(u.shape[1], int(n_features), self.gamma, seed)
            w = torch.exp(normalized_log_weights(weights, u.shape[0]))
            mean = w @ (math.sqrt(2.0) * torch.cos(u @ om.T + ph))
        self.n_features = int(om.shape[0])
        #: Constant of the estimator's log-density (``KernelDensity``: ``-(d/2) log(2 pi h^2)``).
        self.log_normalizer = 0.0
        self.phases = RandomFeatureMap(om, ph)
        self.detection = CosineFeatures(mean)
        self.pool = WeightedSum(torch.full((self.n_features,), 1.0 / self.n_features, dtype=om.dtype))

    def features(self, x: Tensor) -> Tensor:
        """The random feature map ``sqrt(2) cos(omega^T x + b)``, ``(M, d) -> (M, H)``."""
        with torch.no_grad():
            return math.sqrt(2.0) * torch.cos(self.phases(self._cast(x)))

    def forward(self, x: Tensor) -> Tensor:
        """Approximate inlierness, ``(M, d) -> (M,)``."""
        out: Tensor = self.pool(self.detection(self.phases(self._cast(x))))
        return out


def derive_seeds(seed: int | None, n: int) -> list[int]:
    """``n`` independent integer seeds derived from ``seed`` (NumPy ``SeedSequence``).

    Parameters
    ----------
    seed : int or None
        Root seed (``None``: fresh entropy).
    n : int
        How many seeds.

    Returns
    -------
    list of int
    """
    return [int(s.generate_state(1, np.uint64)[0] >> np.uint64(1)) for s in np.random.SeedSequence(seed).spawn(n)]
