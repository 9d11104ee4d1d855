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
    zero = d == 0
    return torch.where(zero, torch.zeros_like(d), 1.0 / torch.where(zero, torch.ones_like(d), d))


def stabilize(d: Tensor, epsilon: float, relative: bool) -> Tensor:
    """``d + eps * sign(d)`` with ``sign(0) = 1``.

    With ``relative=True`` (scale-aware) ``eps = epsilon * mean(|d|)`` per sample over the
    layer's outputs, so that the stabilizer follows the magnitude of the activations
    instead of swamping them when they are tiny.
    """
    if epsilon == 0.0:
        return d
    if relative:
        scale = d.detach().abs().flatten(1).mean(1) if d.ndim > 1 else d.detach().abs().mean().expand(1)
        eps = (epsilon * scale).view(-1, *([1] * (d.ndim - 1))) if d.ndim > 1 else epsilon * scale
    else:
        eps = torch.as_tensor(epsilon, dtype=d.dtype, device=d.device)
    sign = torch.where(d >= 0, torch.ones_like(d), -torch.ones_like(d))
    return d + eps * sign


def relevance_ratio(numerator: Tensor, denominator: Tensor, value: Tensor) -> Tensor:
    """A tensor with value ``value`` whose gradient is ``grad / denominator`` into ``numerator``.

    ``numerator`` is the rule's modified forward (a graph of the layer input), and
    ``denominator`` its stabilized value: the gradient leaving the layer input is then
    ``sum_k (d numerator_k / d a_j) R_k / denominator_k``.
    """
    return graft(numerator, value, safe_reciprocal(denominator.detach()))
