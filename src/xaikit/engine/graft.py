"""Autograd primitives that give a tensor one value and another gradient.

The engine computes each layer's true output (its *value*) and, separately, a graph
whose gradient is the layer's relevance map (the *propagation*). These functions join
the two without extra work in the forward pass: one elementwise multiply at most in
the backward pass.

Convention: the gradient that flows through the engine's graph **is** the relevance.
A rule turns the relevance of a layer's outputs into that of its inputs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class _Graft(torch.autograd.Function):
    """Value ``value``; gradient ``grad * scale`` sent to ``graph``."""

    @staticmethod
    def forward(ctx: Any, graph: Tensor, value: Tensor, scale: Tensor | None) -> Tensor:
        ctx.has_scale = scale is not None
        if scale is not None:
            ctx.save_for_backward(scale)
        return value

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        if ctx.has_scale:
            (scale,) = ctx.saved_tensors
            grad = grad * scale
        return grad, None, None


def graft(graph: Tensor, value: Tensor, scale: Tensor | None = None) -> Tensor:
    """A tensor equal to ``value`` whose gradient flows to ``graph``, times ``scale`` if given.

    ``value`` and ``scale`` must not require grad. ``graph`` and ``value`` must have the
    same shape (``scale`` broadcasts to it).
    """
    return _Graft.apply(graph, value.detach(), None if scale is None else scale.detach())


def times_input(x: Tensor, multiplier: Tensor | None = None, value: Tensor | None = None) -> Tensor:
    """Value ``value`` (default ``x``); the gradient reaching ``x`` is multiplied by ``multiplier``.

    With ``multiplier = x`` this turns the backward pass of a (modified) linear map into
    the LRP product ``a_j * sum_k rho(w_jk) c_k``.
    """
    return graft(x, x.detach() if value is None else value, x.detach() if multiplier is None else multiplier)


def safe_reciprocal(d: Tensor) -> Tensor:
    """``1 / d`` with zeros mapped to zero (relevance on a zero denominator is dropped)."""
    inv = d.reciprocal()
    return inv.masked_fill_(d == 0, 0.0)


def _epsilon_per_sample(d: Tensor, epsilon: float, relative: bool) -> Tensor:
    if not relative:
        return torch.full((1,) * max(d.ndim, 1), epsilon, dtype=d.dtype, device=d.device)
    if d.ndim < 2:
        return epsilon * torch.linalg.vector_norm(d.detach(), ord=1).reshape(1) / max(d.numel(), 1)
    rows = d.detach().reshape(d.shape[0], -1)
    scale = torch.linalg.vector_norm(rows, ord=1, dim=1) / max(d[0].numel(), 1)
    if not bool(torch.isfinite(scale).all()):
        # an additive attention mask (finfo.min, -inf) overflows the mean: scale by the other entries
        moderate = rows.abs() <= torch.finfo(d.dtype).max / max(rows.shape[1], 1)
        kept = torch.where(moderate, rows, torch.zeros_like(rows))
        scale = torch.linalg.vector_norm(kept, ord=1, dim=1) / moderate.sum(1).clamp(min=1)
    return (epsilon * scale).view(-1, *([1] * (d.ndim - 1)))


def stabilize(d: Tensor, epsilon: float, relative: bool) -> Tensor:
    """``d + eps * sign(d)`` with ``sign(0) = 1``.

    With ``relative=True`` (scale-aware) ``eps = epsilon * mean(|d|)`` per sample over the
    layer's outputs, so that the stabilizer follows the magnitude of the activations
    instead of swamping them when they are tiny.
    """
    if epsilon == 0.0:
        return d
    eps = _epsilon_per_sample(d, epsilon, relative)
    return d + torch.where(d >= 0, eps, -eps)


def stabilized_reciprocal(d: Tensor, epsilon: float, relative: bool) -> Tensor:
    """``1 / stabilize(d)``, zero where the stabilized value is zero (fused for speed)."""
    return _reciprocal(d, None if epsilon == 0.0 else _epsilon_per_sample(d, epsilon, relative))


def _reciprocal(d: Tensor, eps: Tensor | None) -> Tensor:
    """``1 / (d + copysign(eps, d))`` (``1 / d`` without ``eps``), zero where that is zero."""
    if eps is None:
        return safe_reciprocal(d)
    # |d| + eps with the sign of d: d + copysign(eps, d) to the bit (rounding is symmetric in
    # sign), without broadcasting ``eps`` through copysign (several times slower)
    stab = d.abs().add_(eps).copysign_(d)
    if not bool((eps > 0).all()):
        # a sample whose outputs are all zero: nothing to stabilize with
        return safe_reciprocal(stab)
    # |stab| >= eps > 0 everywhere, except for d == -0.0 with copysign(eps, -0.0) = -eps:
    # still non-zero, so the plain reciprocal is safe.
    return stab.reciprocal_()


class _Ratio(torch.autograd.Function):
    """Value ``value``; gradient ``grad / (divisor * stabilize(denominator))`` sent to ``graph``.

    Saves the denominator and the per-sample stabilizer, not the reciprocal: the denominator
    is the operation's output, which the graph keeps anyway (the next layer's input), so the
    ratio adds no tensor of the output's size; the reciprocal is formed in the backward pass.
    """

    @staticmethod
    def forward(
        ctx: Any, graph: Tensor, value: Tensor, denominator: Tensor, eps: Tensor | None, divisor: int
    ) -> Tensor:
        ctx.divisor = divisor
        ctx.save_for_backward(denominator, eps)
        return value

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None, None]:
        denominator, eps = ctx.saved_tensors
        inverse = _reciprocal(denominator, eps)
        if ctx.divisor != 1:
            inverse = inverse / ctx.divisor
        return grad * inverse, None, None, None, None


def stabilized_ratio(
    numerator: Tensor, value: Tensor, epsilon: float, relative: bool, *,
    denominator: Tensor | None = None, divisor: int = 1,
) -> Tensor:
    """A tensor with value ``value`` whose gradient is ``grad / (divisor * stabilize(d))`` into ``numerator``.

    ``d`` is ``denominator`` if given (pass the operation's output when it equals the
    numerator's value, so that no other tensor is kept for the backward pass), else the
    numerator's value.
    """
    d = (numerator if denominator is None else denominator).detach()
    eps = None if epsilon == 0.0 else _epsilon_per_sample(d, epsilon, relative)
    out: Tensor = _Ratio.apply(numerator, value.detach(), d, eps, divisor)
    return out


def relevance_ratio(numerator: Tensor, denominator: Tensor, value: Tensor) -> Tensor:
    """A tensor with value ``value`` whose gradient is ``grad / denominator`` into ``numerator``.

    ``numerator`` is the rule's modified forward (a graph of the layer input), and
    ``denominator`` its stabilized value: the gradient leaving the layer input is then
    ``sum_k (d numerator_k / d a_j) R_k / denominator_k``.
    """
    return graft(numerator, value, safe_reciprocal(denominator.detach()))
