"""Activation rules of the modified-backpropagation methods (DeconvNet, guided backprop, RectGrad).

Each rule keeps the activation's true output and replaces its backward pass. Because the
engine intercepts activations at the function level, the rules apply equally to
``nn.ReLU`` modules and to functional ``F.relu`` / ``torch.relu`` calls. Every other
operation keeps its natural gradient (:func:`modified_gradient_composite`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from xaikit.engine.call import OpCall
from xaikit.engine.kinds import OpKind
from xaikit.engine.rule import ElementwiseRule
from xaikit.gradients._engine import custom_backward, single_graph, vjp
from xaikit.rules.composite import NATURAL, Composite
from xaikit.rules.matchers import Kind

_ACTIVATION: frozenset[OpKind] = frozenset({OpKind.ACTIVATION})


def modified_gradient_composite(activation_rule: ElementwiseRule, name: str) -> Composite:
    """Natural gradient everywhere except at activations, which get ``activation_rule``."""
    return Composite([(Kind(OpKind.ACTIVATION), activation_rule)], name=name, defaults=NATURAL)


@dataclass(frozen=True)
class GuidedRule(ElementwiseRule):
    """Guided backpropagation (Springenberg et al., 2015): ``f'(z) * max(g, 0)``.

    For a ReLU, the backward signal is zeroed where the forward input or the backward
    signal is negative.
    """

    kinds: ClassVar[frozenset[OpKind]] = _ACTIVATION

    def propagate_elementwise(self, call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
        """The activation's value; backward ``f'(z) * max(g, 0)``."""
        graph = single_graph(graphs, "guided backpropagation")
        z = graph.detach()
        return custom_backward(graph, value, lambda g: vjp(call, z, g.clamp(min=0)))


@dataclass(frozen=True)
class DeconvRule(ElementwiseRule):
    """DeconvNet (Zeiler and Fergus, 2014): ``max(g, 0)``, ignoring the forward input's sign.

    The activation's own derivative is dropped: the backward pass rectifies the signal
    exactly as the forward pass rectifies activations.
    """

    kinds: ClassVar[frozenset[OpKind]] = _ACTIVATION

    def propagate_elementwise(self, call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
        """The activation's value; backward ``max(g, 0)``."""
        graph = single_graph(graphs, "DeconvNet")
        return custom_backward(graph, value, lambda g: g.clamp(min=0))


def percentile_threshold(scores: Tensor, percentile: float) -> Tensor:
    """Per-sample nearest-rank ``percentile`` of ``scores`` over all non-batch dimensions, shape ``(N, 1, ...)``."""
    flat = scores.flatten(1)
    count = flat.shape[1]
    k = min(count, max(1, math.ceil(percentile / 100.0 * count)))
    tau = flat.kthvalue(k, dim=1).values
    return tau.view(-1, *([1] * (scores.ndim - 1)))


@dataclass(frozen=True)
class RectGradRule(ElementwiseRule):
    """RectGrad (Kim et al., 2019): pass the signal only where ``a * g`` exceeds a per-layer percentile.

    ``g_in = f'(z) * g * 1[a * g > tau]`` with ``a`` the activation output and ``tau`` the
    ``percentile``-th percentile of ``a * g`` over the layer (per sample). For a ReLU and
    ``tau >= 0`` this is the paper's ``1[a g > tau] g``.

    Parameters
    ----------
    percentile : float
        The percentile ``q`` in ``[0, 100]``.
    """

    kinds: ClassVar[frozenset[OpKind]] = _ACTIVATION

    percentile: float = 98.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.percentile <= 100.0:
            raise ValueError(f"percentile must lie in [0, 100], got {self.percentile}")

    def propagate_elementwise(self, call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
        """The activation's value; backward rectified at the layer's percentile."""
        graph = single_graph(graphs, "RectGrad")
        z = graph.detach()
        a = value.detach()

        def backward(g: Tensor) -> Tensor:
            scores = a * g
            keep = scores > percentile_threshold(scores, self.percentile)
            return vjp(call, z, torch.where(keep, g, torch.zeros_like(g)))

        return custom_backward(graph, value, backward)
