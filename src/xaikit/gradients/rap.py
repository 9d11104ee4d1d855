"""Relative attributing propagation (RAP; Nam, Gur, Choi, Wolf and Lee, AAAI 2020).

RAP propagates relevance like LRP but judges units by their *influence* rather than the
sign of their contribution, in three steps:

1. **Absolute influence normalization** (output layer). The target's value ``f`` is first
   distributed over the last hidden layer in proportion to the contributions
   ``z_i = a_i w_ic``; the result is replaced by its absolute value and rescaled to keep
   the total: ``R_i = |z_i| * f / sum_i |z_i|``.
2. **Criterion of relevant neurons** (every lower dense or convolution layer). For each
   output ``j`` with positive contributions ``z_ij^+`` (sum ``P_j``) and negative
   contributions ``z_ij^-`` (sum ``N_j <= 0``), positive contributors share ``R_j`` and
   negative contributors share the fraction ``R_j |N_j| / (P_j + |N_j|)``:
   ``R'_i = sum_j z_ij^+ / P_j R_j + |z_ij^-| / (P_j + |N_j|) R_j``.
3. **Uniform shifting**. The surplus ``sum_i R'_i - sum_j R_j`` is subtracted uniformly
   from the units that received relevance, which restores conservation exactly.

Activations and max-pooling pass relevance through (natural routing), additions and
average pools use LRP's normalizing rule. The input relevance therefore sums to ``f``
exactly (``Explanation.delta`` ~ 0), except where a layer had no unit to receive it.

The three steps follow the paper; its reference code differs in details (how biases and
negative inputs are split), which are not specified in the paper.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.registry import register_method
from xaikit.core.targets import Target
from xaikit.engine.graft import safe_reciprocal
from xaikit.engine.kinds import LAYER_KINDS, OpKind
from xaikit.engine.layer import LinearOp
from xaikit.engine.rule import LayerRule
from xaikit.engine.run import run_engine
from xaikit.gradients._engine import custom_backward
from xaikit.rules.composite import Composite
from xaikit.rules.elementwise import Norm, Pass
from xaikit.rules.matchers import Kind
from xaikit.utils.errors import ModelError


def _signed_parts(op: LinearOp, a: Tensor) -> tuple[Tensor, Tensor]:
    """``P = sum_i (a_i w_ij)^+`` and ``N = sum_i (a_i w_ij)^-`` as graphs of ``a`` (no bias)."""
    w_pos, w_neg = op.weight.clamp(min=0), op.weight.clamp(max=0)
    a_pos, a_neg = a.clamp(min=0), a.clamp(max=0)
    positive = op(a_pos, w_pos, None) + op(a_neg, w_neg, None)
    negative = op(a_pos, w_neg, None) + op(a_neg, w_pos, None)
    return positive, negative


def _sum(t: Tensor) -> Tensor:
    return t.flatten(1).sum(1)


def uniform_shift(relevance: Tensor, total: Tensor) -> Tensor:
    """Shift the non-zero entries of each sample equally so that they sum to ``total`` ``(N,)``."""
    receiving = relevance != 0
    count = _sum(receiving.to(relevance.dtype))
    surplus = (_sum(relevance) - total) * safe_reciprocal(count)
    shift = surplus.view(-1, *([1] * (relevance.ndim - 1)))
    return torch.where(receiving, relevance - shift, relevance)


def rap_layer_backward(op: LinearOp, a: Tensor, relevance: Tensor) -> Tensor:
    """Steps 2 and 3 of RAP: relevance of the layer's outputs to its inputs ``a``."""
    with torch.enable_grad():
        leaf = a.detach().requires_grad_(True)
        positive, negative = _signed_parts(op, leaf)
        p, n = positive.detach(), negative.detach()
        share_pos = relevance * safe_reciprocal(p)
        share_neg = relevance * safe_reciprocal(p - n)
        (grad,) = torch.autograd.grad([positive, negative], leaf, [share_pos, -share_neg])
    spread = leaf.detach() * grad
    return uniform_shift(spread, _sum(relevance))


class RapRule(LayerRule):
    """The RAP rule for dense and convolution layers (steps 2 and 3)."""

    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        """A tensor equal to ``op(a)`` whose backward pass applies RAP."""
        inputs = a.detach()
        return custom_backward(a, op.value(a), lambda r: rap_layer_backward(op, inputs, r))

    def __repr__(self) -> str:
        return "RapRule()"


def rap_composite() -> Composite:
    """RAP for layers, normalizing rule for sums and pools, pass-through for activations."""
    return Composite(
        [
            (Kind(*LAYER_KINDS), RapRule()),
            (Kind(OpKind.SUM), Norm()),
            (Kind(OpKind.ACTIVATION, OpKind.SCALE), Pass()),
        ],
        name="rap",
    )


def absolute_influence(op: LinearOp, a: Tensor, start: Tensor) -> Tensor:
    """Step 1 of RAP: relevance ``start`` of the output layer, as absolute influence on its input ``a``.

    ``R_i = |sum_c a_i w_ic start_c / z_c|`` (contributions without bias), rescaled per
    sample so that ``sum_i R_i = sum_c start_c``.
    """
    with torch.enable_grad():
        leaf = a.detach().requires_grad_(True)
        z = op(leaf, op.weight, None)
        (grad,) = torch.autograd.grad(z, leaf, start * safe_reciprocal(z.detach()))
    influence = (leaf.detach() * grad).abs()
    scale = _sum(start) * safe_reciprocal(_sum(influence))
    return influence * scale.view(-1, *([1] * (influence.ndim - 1)))


@register_method("rap", aliases=("relative_attributing_propagation",))
class RAP(Explainer):
    """Relative attributing propagation (Nam et al., 2020); see :mod:`xaikit.gradients.rap`.

    The model's output must come straight from a dense or convolution layer (the layer of
    step 1). ``output`` is the explained value ``f(x)``, and the attributions sum to it.
    Log-odds targets are not supported.
    """

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        prop, leaf, out = run_engine(model, inputs, rap_composite(), merge_batchnorm=True)
        values = out.detach()
        resolved = target.resolve(values)
        if resolved.logodds:
            raise ValueError("RAP explains class scores or output selections, not log-odds; pass a class index")
        layer = prop.layer_of(out)
        if layer is None:
            raise ModelError(
                "RAP starts at the output layer, but the model output does not come straight from a dense "
                "or convolution layer (a final activation, softmax or pooling?); explain the logits instead"
            )
        op, source, _ = layer
        start = resolved.start_relevance(values)
        hidden = absolute_influence(op, prop.graph_of(source).detach(), start)
        with torch.enable_grad():
            (relevance,) = torch.autograd.grad(prop.graph_of(source), leaf, hidden, allow_unused=True)
        if relevance is None:
            relevance = torch.zeros_like(leaf)
        extras: dict[str, Any] = {"layers": len(prop.layers)}
        return Attribution(attribution=relevance.detach(), output=resolved.select(values), target=resolved, extras=extras)
