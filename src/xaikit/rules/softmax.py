"""Rules for the softmax of attention: AttnLRP's and CP-LRP's, and the refusal of the classic composites.

- :class:`AttnLRPSoftmax` (Achtibat et al., 2024): the deep Taylor decomposition of the
  softmax at its input with bias, ``R_in = x * (R_out - s * sum(R_out))``; the bias term
  absorbs relevance by construction (``sum R_in`` differs from ``sum R_out`` by
  ``sum_i x_i s_i sum_j R_j - sum_i x_i R_i + sum R_out``; see :func:`absorbed`).
- :class:`HeldConstant` (CP-LRP, Ali et al., 2022): the attention weights are held
  constant, so no relevance enters the queries and keys through the softmax and the
  values are explained as a linear map weighted by the attention.
- :class:`RefuseSoftmax`: what the classic LRP composites do with a softmax (explaining
  probabilities is not meaningful); the message names the presets for attention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from xaikit.engine.call import OpCall
from xaikit.engine.errors import UnsupportedOperationError
from xaikit.engine.kinds import OpKind
from xaikit.engine.rule import ElementwiseRule
from xaikit.engine.units import GradientUnits

__all__ = ["AttnLRPSoftmax", "HeldConstant", "RefuseSoftmax", "absorbed", "attnlrp_softmax_relevance", "softmax_dim"]


def softmax_dim(call: OpCall) -> int:
    """The dimension a softmax call normalizes over (``ValueError`` for the deprecated implicit one)."""
    dim = call.kwargs.get("dim", call.args[1] if len(call.args) > 1 else None)
    if dim is None:
        raise ValueError("softmax without dim= (the deprecated implicit dimension) cannot be explained; pass dim=")
    return int(dim)


def attnlrp_softmax_relevance(x: Tensor, s: Tensor, relevance: Tensor, dim: int) -> Tensor:
    """``x * (R - s * sum(R))`` along ``dim``, zero where ``x`` is infinite (masked positions)."""
    out = x * (relevance - s * relevance.sum(dim, keepdim=True))
    return torch.where(torch.isfinite(x), out, torch.zeros_like(out))


def absorbed(x: Tensor, s: Tensor, relevance: Tensor, dim: int) -> Tensor:
    """The relevance the AttnLRP softmax rule absorbs: ``sum R_out - sum R_in`` along ``dim``."""
    return relevance.sum(dim) - attnlrp_softmax_relevance(x, s, relevance, dim).sum(dim)


class _SoftmaxRelevance(torch.autograd.Function):
    """Value ``s``; the relevance ``R`` arriving at ``s`` leaves to the input graph as AttnLRP's rule."""

    @staticmethod
    def forward(ctx: Any, graph: Tensor, x: Tensor, s: Tensor, dim: int) -> Tensor:
        finite = torch.isfinite(x)
        # masked positions (-inf) get none: zero them once here instead of in every backward
        ctx.save_for_backward(x if bool(finite.all()) else torch.where(finite, x, torch.zeros_like(x)), s)
        ctx.dim = dim
        return s

    @staticmethod
    def backward(ctx: Any, relevance: Tensor) -> tuple[Tensor, None, None, None]:
        x, s = ctx.saved_tensors  # x is finite: attnlrp_softmax_relevance without its mask
        return (relevance - s * relevance.sum(ctx.dim, keepdim=True)).mul_(x), None, None, None


@dataclass(frozen=True)
class AttnLRPSoftmax(ElementwiseRule):
    """AttnLRP's softmax rule: ``R_in = x * (R_out - s * sum(R_out))`` (its bias term absorbs the rest)."""

    kinds: ClassVar[frozenset[OpKind]] = frozenset({OpKind.SOFTMAX})

    def propagate_elementwise(self, call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
        (graph,) = graphs
        x = call.value_of(0)
        out: Tensor = _SoftmaxRelevance.apply(graph, x.detach(), value.detach(), softmax_dim(call))
        return out

    def own_backward_factors(self, kind: OpKind, roles: tuple[str, ...]) -> tuple[float, ...]:
        """``(1,)``: in gradient units the softmax's own backward."""
        return (1.0,)

    def propagate_gradient_elementwise(self, kind: OpKind, call: OpCall, graphs: list[Tensor], units: GradientUnits) -> Tensor:
        """Gradient units: the softmax's own backward (``x * J^T g`` is the rule for ``R_out = s * g``)."""
        softmax_dim(call)
        out: Tensor = call(*graphs)
        return out


@dataclass(frozen=True)
class HeldConstant(ElementwiseRule):
    """The operation's output is a constant for the propagation: no relevance flows into its inputs (CP-LRP)."""

    kinds: ClassVar[frozenset[OpKind]] = frozenset({OpKind.SOFTMAX})

    def propagate_elementwise(self, call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
        return value.detach()

    def own_backward_factors(self, kind: OpKind, roles: tuple[str, ...]) -> tuple[float, ...]:
        """``(0,)``: held constant."""
        return (0.0,)

    def propagate_gradient_elementwise(self, kind: OpKind, call: OpCall, graphs: list[Tensor], units: GradientUnits) -> Tensor:
        """Gradient units alike: the value, no graph."""
        with torch.no_grad():
            out: Tensor = call.on_values()
        return out


@dataclass(frozen=True)
class RefuseSoftmax(ElementwiseRule):
    """Refuse a softmax (the classic LRP composites: explaining probabilities is not meaningful)."""

    kinds: ClassVar[frozenset[OpKind]] = frozenset({OpKind.SOFTMAX})

    def propagate_elementwise(self, call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
        raise UnsupportedOperationError(
            "a softmax inside the model: as the model's last operation it turns logits into "
            "probabilities, which relevance propagation does not explain meaningfully; remove it (explain "
            "the logits) or use target=xaikit.LogOdds(...). Inside attention, use composite='attnlrp' or "
            "composite='cp_lrp', whose rules handle the attention softmax."
        )
