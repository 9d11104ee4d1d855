"""Attention rollout (Abnar and Zuidema, 2020) and gradient-weighted attention (Chefer et al., 2021)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from xaikit.attention.recording import record_attention
from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.registry import register_method
from xaikit.core.targets import Target
from xaikit.gradients._common import output_gradient
from xaikit.utils.errors import InputError

__all__ = ["AttentionRollout", "GradientWeightedAttention", "gradient_weighted", "rollout"]


def rollout(weights: list[Tensor], residual: float = 0.5) -> Tensor:
    """``prod_l normalize(residual * I + (1 - residual) * mean_h A_l)``, last layer first, ``(N, T, T)``."""
    result: Tensor | None = None
    for a in weights:
        mean = a.detach().double().mean(1)
        eye = torch.eye(mean.shape[-1], dtype=mean.dtype, device=mean.device)
        step = residual * eye + (1 - residual) * mean
        step = step / step.sum(-1, keepdim=True)
        result = step if result is None else step @ result
    assert result is not None
    return result


def gradient_weighted(weights: list[Tensor], gradients: list[Tensor]) -> Tensor:
    """``R = I``; per layer ``R <- R + mean_h[(grad A * A)^+] R``, ``(N, T, T)`` (Chefer et al., 2021, Eq. 13)."""
    n, _, t, _ = weights[0].shape
    r = torch.eye(t, dtype=torch.float64, device=weights[0].device).expand(n, t, t).clone()
    for a, g in zip(weights, gradients):
        mean = (g.detach().double() * a.detach().double()).clamp(min=0).mean(1)
        r = r + mean @ r
    return r


def _per_token(scores: Tensor, inputs: Tensor) -> Tensor:
    """Token scores ``(N, T)`` as an attribution of the inputs, spread evenly over the feature dimensions."""
    if inputs.ndim < 2 or inputs.shape[1] != scores.shape[1]:
        raise InputError(
            f"the attention runs over {scores.shape[1]} positions but the inputs have shape "
            f"{tuple(inputs.shape)}; attention methods give one value per token: explain token ids "
            "(N, T) or embeddings (N, T, D) whose positions are the attention's"
        )
    spread = inputs[0, 0].numel()
    shape = (*scores.shape, *([1] * (inputs.ndim - 2)))
    return (scores / spread).reshape(shape).expand_as(inputs).to(inputs.dtype).contiguous()


@dataclass(eq=False, repr=False)
class _AttentionMethod(Explainer):
    """Reads one row of a token-to-token relevance matrix: that of the query ``position``."""

    position: int = 0
    requires_eval: ClassVar[bool] = True

    def _row(self, matrix: Tensor) -> Tensor:
        t = matrix.shape[-1]
        if not -t <= self.position < t:
            raise InputError(f"position={self.position} is outside the {t} positions; pass a position in 0..{t - 1}")
        return matrix[:, self.position]


@register_method("attention_rollout", aliases=("rollout",))
@dataclass(eq=False, repr=False)
class AttentionRollout(_AttentionMethod):
    """Attention rollout (Abnar and Zuidema, 2020): the attention of ``position`` rolled out over the layers.

    Each layer's head-averaged attention is mixed with the identity (the residual path,
    weight ``residual``) and renormalized; the layers' matrices are multiplied. The result
    does not depend on the target (``output`` is the explained value, for reference).

    Parameters
    ----------
    position : int
        The query position whose rolled-out attention is returned (0: a CLS token;
        ``-1``: a language model's last position).
    residual : float
        Weight of the identity in each layer's mix, in ``[0, 1)``.
    """

    residual: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.residual < 1:
            raise ValueError(f"residual must be in [0, 1), got {self.residual!r}")

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        with torch.no_grad():
            out, weights = record_attention(model, inputs)
        resolved = target.resolve(out)
        scores = self._row(rollout(weights, self.residual))
        return Attribution(_per_token(scores, inputs), resolved.select(out), resolved, {"token_scores": scores})


@register_method("gradient_weighted_attention", aliases=("chefer", "transformer_attribution"))
@dataclass(eq=False, repr=False)
class GradientWeightedAttention(_AttentionMethod):
    """Gradient-weighted attention (Chefer et al., 2021): ``R <- R + mean_h[(dy/dA * A)^+] R`` over the layers.

    The attention maps are weighted by the gradient of the explained output with respect
    to them, positive parts averaged over heads, and accumulated from the identity; the
    row of ``position`` is returned.

    Parameters
    ----------
    position : int
        The query position whose relevance row is returned.
    """

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        with torch.enable_grad():
            leaf = inputs.detach().requires_grad_(True)
            out, weights = record_attention(model, leaf)
            resolved = target.resolve(out.detach())
            gradients = torch.autograd.grad(
                out, weights, output_gradient(resolved, out.detach()), allow_unused=True
            )
        grads = [torch.zeros_like(a) if g is None else g for a, g in zip(weights, gradients)]
        scores = self._row(gradient_weighted(weights, grads))
        value = resolved.select(out.detach())
        return Attribution(_per_token(scores, inputs), value, resolved, {"token_scores": scores})
