"""Gradient units: relevance carried as value times gradient, the fast form of LRP-epsilon.

In the engine's default convention the gradient that flows back through the propagation
graph *is* the relevance, so a linear layer's epsilon rule multiplies by its input and
divides by its output, and both are kept for the backward pass. For rules that are
gradient x input in disguise (epsilon on linear maps and sums with ``epsilon -> 0``, the
identity rule of activations, the uniform split of products, AttnLRP's softmax rule) the
graph can instead carry ``g`` with ``R = value * g`` (Achtibat et al., 2024, section 3.3;
LXT's efficient implementation): linear maps, sums and softmax then keep their own
backward, an activation multiplies by ``f(z) / stabilize(z)`` (its identity rule, the
stabilizer of the layer before), a product's gradient is divided among the operands that
share its relevance, and the relevance of the input is ``input * gradient``. The backward
pass saves what the plain gradient saves.

A rule offers this form through ``propagate_gradient`` (layers) or
``propagate_gradient_elementwise``; where a rule has none (z-plus,
gamma, a custom rule) the engine converts units around it (divide by the input value,
run the rule, multiply by the output value), so every composite gives the same relevance
in either convention up to the stabilizers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from xaikit.engine.graft import (
    safe_reciprocal,
    stabilized_ratio,
    stabilized_reciprocal,
    times_input,
)


class _ScaledGradient(torch.autograd.Function):
    """Value ``t``; the gradient reaching ``t`` multiplied by the number ``factor``."""

    @staticmethod
    def forward(ctx: Any, t: Tensor, factor: float) -> Tensor:
        ctx.factor = factor
        return t.view_as(t)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad * ctx.factor, None


def scaled_gradient(t: Tensor, factor: float) -> Tensor:
    """``t`` whose gradient is multiplied by ``factor`` (nothing saved for the backward pass)."""
    if factor == 1.0:
        return t
    out: Tensor = _ScaledGradient.apply(t, factor)
    return out


@dataclass(frozen=True)
class GradientUnits:
    """Carry relevance in gradient units (``R = value * gradient``).

    Parameters
    ----------
    epsilon : float
        Stabilizer of the divisions this form keeps: an activation's ``f(z) / z`` and the
        conversion into relevance units around rules without a gradient form.
    relative : bool
        Scale ``epsilon`` by the mean ``|z|`` of each sample (as :class:`~xaikit.rules.Epsilon`).
    """

    epsilon: float = 1e-6
    relative: bool = True

    def __post_init__(self) -> None:
        if self.epsilon < 0:
            raise ValueError(f"epsilon must be >= 0, got {self.epsilon}")

    def ratio(self, value: Tensor, x: Tensor) -> Tensor:
        """``value / stabilize(x)``, zero where that is zero: the identity rule of ``x -> value``."""
        return stabilized_reciprocal(x, self.epsilon, self.relative).mul_(value)  # a new tensor: in place

    def to_relevance(self, graph: Tensor, value: Tensor) -> Tensor:
        """A graph in relevance units of the gradient-unit ``graph`` whose value is ``value``."""
        return stabilized_ratio(graph, value, self.epsilon, self.relative, denominator=value)

    def from_relevance(self, graph: Tensor) -> Tensor:
        """A graph in gradient units of the relevance-unit ``graph``."""
        return times_input(graph)

    def start(self, relevance: Tensor, value: Tensor) -> Tensor:
        """The gradient to send back from an output of ``value`` that carries ``relevance``."""
        return relevance * safe_reciprocal(value.detach())

    def relevance(self, gradient: Tensor, value: Tensor) -> Tensor:
        """The relevance of a tensor of ``value`` whose gradient is ``gradient``."""
        return gradient * value.detach()
