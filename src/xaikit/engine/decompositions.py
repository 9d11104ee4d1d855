"""Fused operations the engine explains through an equivalent composition of simple ones.

A fused kernel hides its inner products and softmax from the engine. For the kernels
listed in :data:`DECOMPOSITIONS`, the engine runs this module's implementation instead,
written with the operations its rules know (``matmul``, ``softmax``, ``masked_fill``, ...),
so that each step is propagated by the composite's rule; the values agree with the fused
kernel to round-off.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["DECOMPOSITIONS", "scaled_dot_product_attention"]


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """``softmax(Q K^T * scale + mask) V`` as :func:`torch.nn.functional.scaled_dot_product_attention` computes it.

    A boolean ``attn_mask`` keeps the positions where it is true; a float mask is added;
    ``is_causal`` keeps the lower triangle; ``enable_gqa`` repeats the key/value heads for
    grouped-query attention. ``dropout_p`` must be 0 (explanations are deterministic).
    """
    if dropout_p:
        raise ValueError(
            "scaled_dot_product_attention with dropout_p > 0 is random; pass dropout_p=0.0 when the "
            "model is not training (for example dropout_p=self.dropout if self.training else 0.0)"
        )
    factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if enable_gqa and key.shape[-3] != query.shape[-3]:
        repeats = query.shape[-3] // key.shape[-3]
        key = key.repeat_interleave(repeats, dim=-3)
        value = value.repeat_interleave(repeats, dim=-3)
    scores = torch.matmul(query, key.transpose(-2, -1)) * factor
    length, source = query.shape[-2], key.shape[-2]
    if is_causal:
        keep = torch.ones(length, source, dtype=torch.bool, device=query.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    weights = F.softmax(scores, dim=-1)
    return torch.matmul(weights, value)


#: Fused kernel -> the composition the engine runs in its place.
DECOMPOSITIONS: dict[Callable[..., Any], Callable[..., Any]] = {
    F.scaled_dot_product_attention: scaled_dot_product_attention,
}
