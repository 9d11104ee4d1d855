"""Fused operations the engine explains through an equivalent composition of simple ones.

A fused kernel hides its inner products and softmax from the engine. For the kernels
listed in :data:`DECOMPOSITIONS`, the engine runs this module's implementation instead,
written with the operations its rules know (``matmul``, ``softmax``, ``masked_fill``, ...),
so that each step is propagated by the composite's rule; the values agree with the fused
kernel to round-off.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from xaikit.engine.flat import bind

__all__ = ["DECOMPOSITIONS", "attention_arguments", "multi_head_attention_forward", "scaled_dot_product_attention"]


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


_ATTENTION_PARAMETERS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")


def attention_arguments(args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a ``scaled_dot_product_attention`` call by name (``TypeError`` for unknown ones)."""
    return bind(_ATTENTION_PARAMETERS, args, kwargs, "scaled_dot_product_attention")


def multi_head_attention_forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Tensor | None,
    in_proj_bias: Tensor | None,
    bias_k: Tensor | None,
    bias_v: Tensor | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
    training: bool = True,
    key_padding_mask: Tensor | None = None,
    need_weights: bool = True,
    attn_mask: Tensor | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Tensor | None = None,
    k_proj_weight: Tensor | None = None,
    v_proj_weight: Tensor | None = None,
    static_k: Tensor | None = None,
    static_v: Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """:func:`torch.nn.functional.multi_head_attention_forward` written with linear maps and explicit attention.

    Inputs are sequence-first ``(L, N, E)`` (or unbatched ``(L, E)``), as ``nn.MultiheadAttention``
    passes them. ``bias_k``/``bias_v``, ``add_zero_attn`` and static keys are refused.
    """
    if bias_k is not None or bias_v is not None or add_zero_attn or static_k is not None or static_v is not None:
        raise NotImplementedError(
            "nn.MultiheadAttention with add_bias_kv, add_zero_attn or static keys/values cannot be explained "
            "by the propagation engine yet; use a gradient or perturbation method"
        )
    if training and dropout_p:
        raise ValueError("multi-head attention runs dropout in training mode; call model.eval() before explaining")
    unbatched = query.dim() == 2
    if unbatched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        key_padding_mask = None if key_padding_mask is None else key_padding_mask.unsqueeze(0)
    length, batch, embed = query.shape
    if embed != embed_dim_to_check:
        raise ValueError(f"query has embedding size {embed}, the layer expects {embed_dim_to_check}")
    if use_separate_proj_weight:
        assert q_proj_weight is not None and k_proj_weight is not None and v_proj_weight is not None
        weights = (q_proj_weight, k_proj_weight, v_proj_weight)
    else:
        assert in_proj_weight is not None
        weights = tuple(in_proj_weight.chunk(3))  # type: ignore[assignment]
    biases = (None, None, None) if in_proj_bias is None else tuple(in_proj_bias.chunk(3))
    head = embed // num_heads

    def heads(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:  # (S, N, E) -> (N, H, S, D)
        return F.linear(x, w, b).reshape(x.shape[0], batch, num_heads, head).permute(1, 2, 0, 3)

    # sequence-first views of batch-first tensors are not contiguous, and F.linear on them runs
    # as a batched product with the weight expanded (about twice as slow, forward and backward)
    inputs = [query.contiguous()]
    inputs.append(inputs[0] if key is query else key.contiguous())
    inputs.append(inputs[1] if value is key else value.contiguous())
    q, k, v = (heads(x, w, b) for x, w, b in zip(inputs, weights, biases))
    mask = _attention_mask(attn_mask, key_padding_mask, batch, num_heads, length, k.shape[-2], q.dtype, q.device)
    # through the dispatcher: explained as the composition above, or fused in gradient units
    attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal and mask is None)
    out = F.linear(attended.permute(2, 0, 1, 3).reshape(length, batch, embed), out_proj_weight, out_proj_bias)
    weights_out = None
    if need_weights:
        scores = torch.matmul(q.detach(), k.detach().transpose(-2, -1)) / math.sqrt(head)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
        probabilities = torch.softmax(scores, dim=-1)
        weights_out = probabilities.mean(1) if average_attn_weights else probabilities
        if unbatched:
            weights_out = weights_out.squeeze(0)
    return (out.squeeze(1) if unbatched else out), weights_out


def _attention_mask(
    attn_mask: Tensor | None, key_padding_mask: Tensor | None, batch: int, heads: int, length: int, source: int,
    dtype: torch.dtype, device: torch.device,
) -> Tensor | None:
    """One mask ``(N, H, L, S)`` from PyTorch's attention and key-padding masks (``True`` = masked there).

    Boolean masks give a boolean mask of the allowed positions (applied with ``masked_fill``,
    so no huge constant enters a sum); any float mask makes it an additive float mask.
    """
    masks = []
    for mask, shape in ((attn_mask, None), (key_padding_mask, (batch, 1, 1, source))):
        if mask is None:
            continue
        if shape is not None:
            mask = mask.reshape(shape)
        elif mask.dim() == 3:
            mask = mask.reshape(batch, heads, length, source)
        masks.append(mask)
    if not masks:
        return None
    if all(m.dtype == torch.bool for m in masks):
        # True = masked (PyTorch's convention here); the result keeps True where attention is allowed
        keep = ~masks[0] if len(masks) == 1 else ~(masks[0] | masks[1])
        return keep.expand(batch, heads, length, source)
    total = torch.zeros(batch, heads, length, source, dtype=dtype, device=device)
    for mask in masks:
        if mask.dtype == torch.bool:
            mask = torch.zeros(mask.shape, dtype=dtype, device=device).masked_fill(mask, float("-inf"))
        total = total + mask.to(dtype)
    return total


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1.0, alpha: float = 1.0) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)`` (GPT-2's ``Conv1D``): a matrix product plus a bias."""
    product = torch.matmul(mat1, mat2)
    product = product if alpha == 1 else product * alpha
    return product + (input if beta == 1 else input * beta)


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: float = 1.0, alpha: float = 1.0) -> Tensor:
    """``beta * input + alpha * (batch1 @ batch2)`` for batches of matrices."""
    return addmm(input, batch1, batch2, beta=beta, alpha=alpha)


def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: float = 1.0, alpha: float = 1.0) -> Tensor:
    """``beta * input + alpha * sum_b (batch1_b @ batch2_b)``."""
    product = torch.matmul(batch1, batch2).sum(0)
    product = product if alpha == 1 else product * alpha
    return product + (input if beta == 1 else input * beta)


def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta: float = 1.0, alpha: float = 1.0) -> Tensor:
    """``beta * input + alpha * (mat @ vec)``."""
    return addmm(input, mat, vec, beta=beta, alpha=alpha)


#: Fused kernel -> the composition the engine runs in its place.
DECOMPOSITIONS: dict[Callable[..., Any], Callable[..., Any]] = {
    F.scaled_dot_product_attention: scaled_dot_product_attention,
    F.multi_head_attention_forward: multi_head_attention_forward,
    **{f: addmm for f in (torch.addmm, torch.Tensor.addmm)},
    **{f: baddbmm for f in (torch.baddbmm, torch.Tensor.baddbmm)},
    **{f: addbmm for f in (torch.addbmm, torch.Tensor.addbmm)},
    **{f: addmv for f in (torch.addmv, torch.Tensor.addmv)},
}
