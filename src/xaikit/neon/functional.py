"""Explainable primitives of neuralized models: pooling, distance and feature layers.

Each primitive is a plain torch function outside the propagation engine. Inside it
(``xaikit.explain(..., method="lrp")``) the engine computes its exact value and asks the
primitive's NEON rule for the propagation graph, whose gradient is the relevance.

Each rule reads the constants it needs (support points, temperatures, masks) from the
call's arguments (``call.args``, see :class:`xaikit.engine.OpCall`); the public
functions call their explainable counterpart with every argument positional.

References
----------
Montavon, Kauffmann, Samek, Müller, "Explaining the predictions of unsupervised learning
models" (2022), sections 3-4 and appendix A; Kauffmann et al., "From clustering to
cluster explanations via neural networks" (2022); Kauffmann, Müller, Montavon, "Towards
explaining anomalies" (2020).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from xaikit.engine import OpCall, explainable, graft, safe_reciprocal, times_input

__all__ = [
    "CoincidentSupportWarning",
    "PoolSpec",
    "cosine_features",
    "dot_cluster_evidence",
    "dot_outlierness",
    "gaussian_kernels",
    "leave_out_log_weights",
    "pairwise_squared_distances",
    "pool_value",
    "pool_weights",
    "soft_pool",
    "squared_distances",
    "weighted_sum",
]



@dataclass(frozen=True)
class PoolSpec:
    """How a pooling layer computes its value and redistributes relevance.

    Attributes
    ----------
    mode : {"min", "max"}
        Min- or max-pooling.
    temperature : float or None
        ``alpha`` of the exact value ``LSE`` pooling, ``(s / alpha) log sum_k w_k
        exp(s alpha h_k)`` with ``s = -1`` for min and ``+1`` for max; ``None`` for the
        hard minimum or maximum.
    beta : float or None
        Sharpness of the redistribution ``R_k = softmax(s beta h + log w)_k R``; ``None``
        sends all relevance to the arg-min (arg-max).
    dim : int
        The pooled dimension.
    """

    mode: str
    temperature: float | None
    beta: float | None
    dim: int = -1

    @property
    def sign(self) -> float:
        """``-1`` for min-pooling, ``+1`` for max-pooling."""
        return -1.0 if self.mode == "min" else 1.0


class CoincidentSupportWarning(UserWarning):
    """An explained point coincides with a support point of a pooling over support points.

    The point's own term (squared distance zero) then takes most of the pooling weight, and
    the distance rule dissipates the relevance it receives: the explanation of a training
    point of a KDE or one-class SVM keeps almost none of its output. Explain training
    points leave-one-out (``leave_one_out=True``).
    """


def _masked(h: Tensor, log_weights: Tensor | None, fill: float) -> Tensor:
    if log_weights is None:
        return h
    return torch.where(torch.isneginf(log_weights), torch.full_like(h, fill), h)


def _coincident(h: Tensor, exclude: Tensor) -> Tensor:
    """Which entries of ``h`` lie at or below their threshold ``exclude`` (a boolean tensor)."""
    return h.detach() <= exclude


def leave_out_log_weights(h: Tensor, log_weights: Tensor | None, exclude: Tensor, dim: int = -1) -> Tensor:
    """Log weights with the entries ``h <= exclude`` left out, renormalized over the others.

    ``log w'_k = log w_k - log sum_{j kept} w_j + log sum_j w_j`` for kept entries and
    ``-inf`` for the left-out ones (``w_k = 1`` for ``log_weights=None``): the kept weights
    are rescaled to the total of all weights, to one for normalized weights. Pooling with
    them is pooling over the kept entries only, as if the left-out support points had
    never been there (for a KDE: the KDE fitted on the other points).

    Parameters
    ----------
    h : torch.Tensor
        The pooled activations (for a KDE the squared distances to the support points).
    log_weights : torch.Tensor or None
        Normalized log weights broadcastable to ``h``.
    exclude : torch.Tensor
        Thresholds broadcastable to ``h``.
    dim : int, default -1
        The pooled dimension.

    Returns
    -------
    torch.Tensor
        Shape of ``h``.

    Raises
    ------
    ValueError
        If every entry of a pooled row is left out (nothing is left to pool).
    """
    h = h.detach()
    base = torch.zeros_like(h) if log_weights is None else torch.broadcast_to(log_weights.to(h.dtype), h.shape)
    dropped = _coincident(h, exclude) | torch.isneginf(base)
    kept = torch.where(dropped, torch.full_like(h, -math.inf), base)
    total = torch.logsumexp(kept, dim=dim, keepdim=True)
    if bool(torch.isneginf(total).any()):
        rows = torch.nonzero(torch.isneginf(total).flatten()).flatten().tolist()
        raise ValueError(
            f"leave-one-out leaves no support point for row(s) {rows[:10]}: every support point "
            "coincides with the explained point; explain it with leave_one_out=False, or add "
            "support points"
        )
    return kept - total + torch.logsumexp(base, dim=dim, keepdim=True)


def _effective_log_weights(
    h: Tensor, spec: PoolSpec, log_weights: Tensor | None, exclude: Tensor | None
) -> Tensor | None:
    if exclude is None:
        return log_weights
    return leave_out_log_weights(h, log_weights, exclude, spec.dim)


def pool_value(
    h: Tensor, spec: PoolSpec, log_weights: Tensor | None = None, exclude: Tensor | None = None
) -> Tensor:
    """The exact value of a pooling layer (no propagation rule attached).

    ``exclude`` (thresholds broadcastable to ``h``) leaves the entries ``h <= exclude``
    out, the other weights renormalized (:func:`leave_out_log_weights`).
    """
    log_weights = _effective_log_weights(h, spec, log_weights, exclude)
    s = spec.sign
    if spec.temperature is None:
        hm = _masked(h, log_weights, -s * math.inf)
        return hm.amin(spec.dim) if spec.mode == "min" else hm.amax(spec.dim)
    alpha = spec.temperature
    z = s * alpha * h
    if log_weights is not None:
        z = z + log_weights
    return torch.logsumexp(z, dim=spec.dim) * (s / alpha)


def pool_weights(
    h: Tensor, spec: PoolSpec, log_weights: Tensor | None = None, exclude: Tensor | None = None
) -> Tensor:
    """The redistribution weights of a pooling layer (they sum to one along ``spec.dim``).

    Parameters
    ----------
    h : torch.Tensor
        The pooled activations.
    spec : PoolSpec
        The pooling layer's description.
    log_weights : torch.Tensor, optional
        Log prior weights broadcastable to ``h`` (``-inf`` masks an entry out).
    exclude : torch.Tensor, optional
        Thresholds broadcastable to ``h``: the entries ``h <= exclude`` are left out (weight
        zero) and the other prior weights renormalized (:func:`leave_out_log_weights`).

    Returns
    -------
    torch.Tensor
        ``softmax(s beta h + log w)`` along ``spec.dim``, or the one-hot arg-min/arg-max
        when ``spec.beta`` is ``None``.
    """
    h = h.detach()
    log_weights = _effective_log_weights(h, spec, log_weights, exclude)
    s = spec.sign
    if spec.beta is None:
        hm = _masked(h, log_weights, -s * math.inf)
        index = hm.argmin(spec.dim, keepdim=True) if spec.mode == "min" else hm.argmax(spec.dim, keepdim=True)
        return torch.zeros_like(h).scatter(spec.dim, index, 1.0)
    z = s * spec.beta * h
    if log_weights is not None:
        z = z + log_weights
    return torch.softmax(z, dim=spec.dim)


def _warn_coincident(h: Tensor, exclude: Tensor, dim: int) -> None:
    hit = _coincident(h, exclude).any(dim)
    if not bool(hit.any()):
        return
    rows = torch.nonzero(hit.flatten()).flatten().tolist()
    shown = ", ".join(str(r) for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
    warnings.warn(
        f"explained row(s) {shown} coincide with a support point: its own term takes the pooling "
        "weight and its relevance is dissipated by the distance rule, so the explanation keeps "
        "little of the output. To explain points of the training set, leave them out: pass "
        "leave_one_out=True (xaikit.neon.neuralize(estimator, leave_one_out=True), or "
        "KDEOutlierness/OneClassSVMOutlierness(..., leave_one_out=True), or set "
        "model.leave_one_out = True).",
        CoincidentSupportWarning,
        stacklevel=2,
    )


def _soft_pool_rule(call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
    _, spec, log_weights, exclude, leave_out = call.args
    (g,) = graphs
    if exclude is not None and not leave_out:
        _warn_coincident(g, exclude, spec.dim)
    weights = pool_weights(g, spec, log_weights, exclude if leave_out else None)
    return graft((g * weights).sum(spec.dim), value)


@explainable(_soft_pool_rule)
def _soft_pool(
    h: Tensor, spec: PoolSpec, log_weights: Tensor | None, exclude: Tensor | None, leave_out: bool
) -> Tensor:
    return pool_value(h, spec, log_weights, exclude if leave_out else None)


def soft_pool(
    h: Tensor,
    spec: PoolSpec,
    log_weights: Tensor | None = None,
    exclude: Tensor | None = None,
    leave_out: bool = True,
) -> Tensor:
    """Min- or max-pooling whose relevance follows a soft arg-min (arg-max).

    The value is exact (the hard extremum, or the log-sum-exp pooling of
    ``spec.temperature``); relevance is redistributed as ``R_k = p_k R`` with
    ``p = softmax(s beta h + log w)`` (:func:`pool_weights`), so it is conserved.

    Parameters
    ----------
    h : torch.Tensor
        Activations to pool.
    spec : PoolSpec
        Value temperature, redistribution sharpness, mode and dimension.
    log_weights : torch.Tensor, optional
        Log weights broadcastable to ``h``, normalized by the caller (for log-mean-exp
        pooling ``log(1/N)``, for weighted pooling ``log(alpha_k / sum alpha)``);
        ``-inf`` excludes an entry.
    exclude : torch.Tensor, optional
        Coincidence thresholds broadcastable to ``h`` (for a pooling over squared
        distances to support points: the squared distance at which the pooled point
        counts as that support point).
    leave_out : bool, default True
        With ``exclude``: leave the entries ``h <= exclude`` out of value and
        redistribution, the other weights renormalized to sum to one
        (:func:`leave_out_log_weights`); when false they are kept, and explaining
        (inside the propagation engine) issues a :class:`CoincidentSupportWarning` for
        the rows that have such entries.

    Returns
    -------
    torch.Tensor
        ``h`` pooled along ``spec.dim``.

    Raises
    ------
    ValueError
        If leave-out leaves a row with no entry.
    """
    return _soft_pool(h, spec, log_weights, exclude, bool(leave_out))


#: Elements of the largest ``(rows, support, d)`` block of differences computed at once.
_BLOCK = 1 << 22


def _support_blocks(n: int, k: int, d: int) -> list[slice]:
    step = max(1, _BLOCK // max(1, n * d))
    return [slice(start, min(start + step, k)) for start in range(0, k, step)]


def pairwise_squared_distances(x: Tensor, support: Tensor) -> Tensor:
    """``||x_n - u_k||^2`` from explicit differences (exactly zero where ``x_n = u_k``).

    Computed in blocks of support points, so that no more than about four million
    differences are held at once.
    """
    n, d = x.shape
    blocks = [
        (x[:, None, :] - support[None, s, :]).pow(2).sum(-1) for s in _support_blocks(n, support.shape[0], d)
    ]
    return torch.cat(blocks, dim=1) if len(blocks) != 1 else blocks[0]


class _DistanceRelevance(torch.autograd.Function):
    """Value ``h``; backward ``R_ni = sum_k (x_ni - u_ki)^2 grad_nk / denominator_nk``.

    The squared differences are recomputed block by block in the backward pass, so that
    no ``(N, K, d)`` tensor is stored and coincident points contribute exactly zero.
    """

    @staticmethod
    def forward(ctx: Any, graph: Tensor, value: Tensor, x: Tensor, support: Tensor, denominator: Tensor) -> Tensor:
        ctx.save_for_backward(x, support, safe_reciprocal(denominator))
        return value

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None, None]:
        x, support, reciprocal = ctx.saved_tensors
        c = grad * reciprocal
        n, d = x.shape
        out = torch.zeros_like(x)
        for s in _support_blocks(n, support.shape[0], d):
            diff2 = (x[:, None, :] - support[None, s, :]).pow(2)
            out = out + torch.einsum("nk,nkd->nd", c[:, s], diff2)
        return out, None, None, None, None


def _squared_distances_rule(call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
    _, support, eps = call.args
    (g,) = graphs
    graph: Tensor = _DistanceRelevance.apply(g, value.detach(), g.detach(), support.detach(), (value + eps).detach())
    return graph


@explainable(_squared_distances_rule)
def _squared_distances(x: Tensor, support: Tensor, eps: float) -> Tensor:
    return pairwise_squared_distances(x, support)


def squared_distances(x: Tensor, support: Tensor, eps: float = 1e-9) -> Tensor:
    """Squared distances ``h_k = ||x - u_k||^2`` with the NEON distance rule.

    Relevance ``R_k`` of each distance goes to the input features by
    ``R_i = sum_k (x_i - u_ik)^2 / (eps + h_k) R_k``; the share
    ``eps / (eps + h_k) R_k`` is dissipated (it matters only where ``x`` is a support
    point).

    Parameters
    ----------
    x : torch.Tensor
        Points, shape ``(N, d)``.
    support : torch.Tensor
        Support points ``u_k``, shape ``(K, d)``.
    eps : float, default 1e-9
        Stabilizer (non-negative).

    Returns
    -------
    torch.Tensor
        Shape ``(N, K)``.
    """
    return _squared_distances(x, support, float(eps))


def _gaussian_kernels_rule(call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
    (g,) = graphs
    d = g.shape[-1]
    spread = (g.sum(-1, keepdim=True) / d).expand_as(value)
    return graft(spread, value)


@explainable(_gaussian_kernels_rule)
def _gaussian_kernels(x: Tensor, support: Tensor, gamma: float) -> Tensor:
    return torch.exp(-gamma * pairwise_squared_distances(x, support))


def gaussian_kernels(x: Tensor, support: Tensor, gamma: float) -> Tensor:
    """Gaussian kernels ``exp(-gamma ||x - u_k||^2)`` with uniform redistribution.

    Each kernel is a product over features; every feature can switch it off, so the
    rule gives each feature the same share ``R_k / d``. This is the direct
    neuralization of KDE inlierness, documented in the literature as uninformative: the
    explanation has the same shape for every point. Prefer random features
    (:class:`xaikit.neon.RandomFeatureInlierness`).

    Parameters
    ----------
    x : torch.Tensor
        Points, shape ``(N, d)``.
    support : torch.Tensor
        Support points, shape ``(K, d)``.
    gamma : float
        Kernel parameter.

    Returns
    -------
    torch.Tensor
        Shape ``(N, K)``.
    """
    return _gaussian_kernels(x, support, float(gamma))


def _weighted_sum_rule(call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
    _, weights = call.args
    (g,) = graphs
    return graft((times_input(g) * weights).sum(-1), value, safe_reciprocal(value))


@explainable(_weighted_sum_rule)
def _weighted_sum(h: Tensor, weights: Tensor) -> Tensor:
    return (h * weights).sum(-1)


def weighted_sum(h: Tensor, weights: Tensor) -> Tensor:
    """Sum pooling ``s = sum_k w_k h_k`` with proportional redistribution.

    ``R_k = w_k h_k / s * R``, exactly conservative (nothing is absorbed by a
    stabilizer; an output equal to zero passes no relevance on).

    Parameters
    ----------
    h : torch.Tensor
        Activations, shape ``(..., K)``.
    weights : torch.Tensor
        Shape ``(K,)`` (for a mean ``1/K``).

    Returns
    -------
    torch.Tensor
        Shape ``(...)``.
    """
    return _weighted_sum(h, weights)


def _cosine_rule(call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
    return graft(graphs[0], value)


@explainable(_cosine_rule)
def _cosine_features(z: Tensor, mu: Tensor) -> Tensor:
    return math.sqrt(2.0) * torch.cos(z) * mu


def cosine_features(z: Tensor, mu: Tensor) -> Tensor:
    """Random-feature detection ``h_j = sqrt(2) cos(z_j) mu_j`` with pass-through relevance.

    ``z_j = omega_j^T x + b_j`` is computed by a linear layer before it, whose rule (the
    w-square rule) sends ``R_j`` to the input features along ``omega_j``.

    Parameters
    ----------
    z : torch.Tensor
        Phases, shape ``(N, H)``.
    mu : torch.Tensor
        Mean feature of the data, shape ``(H,)``.

    Returns
    -------
    torch.Tensor
        Shape ``(N, H)``.
    """
    return _cosine_features(z, mu)


# --------------------------------------------------------------------------- appendix A
def _dot_cluster_rule(call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
    _, weight, bias, beta = call.args
    (g,) = graphs
    k, m, c = weight.shape
    h = (F.linear(g.detach(), weight.reshape(k * m, c), bias.reshape(-1))).view(-1, k, m)
    p = pool_weights(h, PoolSpec("min", None, beta))
    # R_i = sum_k a_i w_ik p_k R / f: only the dot part p_k a^T w_k is propagated.
    dot = (F.linear(times_input(g), weight.reshape(k * m, c)).view(-1, k, m) * p).sum(-1)
    return graft(dot, value, safe_reciprocal(value))


@explainable(_dot_cluster_rule)
def _dot_cluster_evidence(a: Tensor, weight: Tensor, bias: Tensor, beta: float | None) -> Tensor:
    k, m, c = weight.shape
    h = F.linear(a, weight.reshape(k * m, c), bias.reshape(-1)).view(-1, k, m)
    return h.amin(-1)


def dot_cluster_evidence(a: Tensor, weight: Tensor, bias: Tensor, beta: float | None) -> Tensor:
    """Cluster evidence on neural activations with the propagation of appendix A.3.

    ``f_c(a) = min_{k != c} (w_ck^T a + b_ck)``; of the relevance ``R_k = p_k f_c`` only
    the part ``p_k a^T w_ck`` is propagated, by ``R_i = sum_k a_i w_ik / (a^T w_k)
    R_k^dot``, so that deactivated neurons (``a_i = 0``) receive none. The residual
    ``p_k (b_k + f_c - h_k)`` is dissipated.

    Parameters
    ----------
    a : torch.Tensor
        Activations, shape ``(P, C)``.
    weight : torch.Tensor
        ``w_ck``, shape ``(K, K - 1, C)``.
    bias : torch.Tensor
        ``b_ck``, shape ``(K, K - 1)``.
    beta : float or None
        Soft-argmin sharpness (``None``: hard).

    Returns
    -------
    torch.Tensor
        Shape ``(P, K)``.
    """
    return _dot_cluster_evidence(a, weight, bias, beta)


def _dot_outlier_rule(call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
    _, support, spec, log_weights = call.args
    (g,) = graphs
    a = g.detach()
    p = pool_weights(pairwise_squared_distances(a, support), spec, log_weights)
    center = p @ support
    # R_i = sum_k p_k a_i (a_i - u_ik) R / o: the dot part p_k a^T (a - u_k) only.
    dot = (times_input(g) * (a - center)).sum(-1)
    return graft(dot, value, safe_reciprocal(value))


@explainable(_dot_outlier_rule)
def _dot_outlierness(a: Tensor, support: Tensor, spec: PoolSpec, log_weights: Tensor | None) -> Tensor:
    return pool_value(pairwise_squared_distances(a, support), spec, log_weights)


def dot_outlierness(a: Tensor, support: Tensor, spec: PoolSpec, log_weights: Tensor | None = None) -> Tensor:
    """Outlierness on neural activations with the propagation of appendix A.1.

    ``o(a) = LME^{-gamma}_k ||a - u_k||^2``; of ``R_k = p_k o`` only the part
    ``p_k a^T (a - u_k)`` is propagated, by ``R_i = sum_k a_i (a_i - u_ik) /
    (a^T (a - u_k)) R_k^dot``; the residual ``p_k (u_k^T (u_k - a) + LME{h - h_k})`` is
    dissipated.

    Parameters
    ----------
    a : torch.Tensor
        Activations, shape ``(P, C)``.
    support : torch.Tensor
        Support points, shape ``(K, C)``.
    spec : PoolSpec
        The log-mean-exp pooling (``mode="min"``, ``temperature=gamma``).
    log_weights : torch.Tensor, optional
        Normalized log weights of the support points, shape ``(K,)``.

    Returns
    -------
    torch.Tensor
        Shape ``(P,)``.
    """
    return _dot_outlierness(a, support, spec, log_weights)
