"""Record the attention weights a model computes, from its softmax calls."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from xaikit.core.forward import check_output
from xaikit.engine.decompositions import DECOMPOSITIONS
from xaikit.utils.errors import ModelError

__all__ = ["AttentionRecorder", "record_attention"]

_SOFTMAX = frozenset({F.softmax, torch.softmax, torch.Tensor.softmax})


def _softmax_dim(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    return kwargs.get("dim", args[1] if len(args) > 1 else None)


class AttentionRecorder(TorchFunctionMode):
    """Keeps every self-attention weight tensor ``(N, H, T, T)`` (a softmax over the last dimension).

    Fused attention (:data:`xaikit.engine.decompositions.DECOMPOSITIONS`) runs as explicit
    attention while recording, so its weights are seen too.
    """

    def __init__(self) -> None:
        super().__init__()
        self.weights: list[Tensor] = []

    def __torch_function__(
        self, func: Callable[..., Any], types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        decomposition = DECOMPOSITIONS.get(func)
        if decomposition is not None:
            TorchFunctionMode.__enter__(self)
            try:
                return decomposition(*args, **kwargs)
            finally:
                TorchFunctionMode.__exit__(self, None, None, None)
        out = func(*args, **kwargs)
        if func in _SOFTMAX and isinstance(out, Tensor) and out.ndim == 4 and out.shape[-1] == out.shape[-2]:
            if _softmax_dim(args, kwargs) in (-1, 3):
                self.weights.append(out)
        return out


def record_attention(model: Callable[..., Any], inputs: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Run ``model`` on ``inputs`` (with the autograd graph) and return its output and attention weights.

    Raises
    ------
    ModelError
        If the model computes no self-attention softmax of shape ``(N, H, T, T)``.
    """
    recorder = AttentionRecorder()
    with recorder:
        out = check_output(model(inputs), len(inputs))
    if not recorder.weights:
        raise ModelError(
            "the model computes no self-attention weights (a softmax over the last dimension of an "
            "(N, heads, T, T) tensor); attention rollout and gradient-weighted attention need a "
            "transformer: use lrp with composite='attnlrp' or a gradient method for other models"
        )
    return out, recorder.weights
