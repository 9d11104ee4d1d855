"""Descriptions of the operations a propagation rule is applied to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class LayerInfo:
    """Where an operation happens, for composites to choose a rule.

    Attributes
    ----------
    kind : str
        ``"dense"`` (``F.linear`` and matrix products with a constant), ``"conv"``,
        ``"conv_transpose"``, ``"activation"``, ``"sum"`` (additions, sums, averages,
        average pools, normalization layers not merged) or ``"output"``.
    func : callable
        The torch function that was called.
    module : torch.nn.Module or None
        The innermost module whose forward called it.
    name : str
        That module's qualified name in the model (``""`` for the model itself).
    index : int
        Position among the parametric layers (dense, conv) in forward order, from 0;
        ``-1`` for other operations.
    kind_index : int
        Position among the layers of the same kind (for example the 3rd convolution);
        ``-1`` for non-parametric operations.
    """

    kind: str
    func: Callable[..., Any]
    module: nn.Module | None
    name: str
    index: int = -1
    kind_index: int = -1

    @property
    def is_first(self) -> bool:
        """Whether this is the first parametric layer the input meets."""
        return self.index == 0


@dataclass(frozen=True)
class LinearOp:
    """A linear layer ``y = op(x, weight) + bias`` whose weight and bias a rule may transform.

    Rules call ``op(inputs, weight=..., bias=...)`` with transformed parameters
    (``rho(w)``, ``rho(b)``); the remaining arguments (stride, padding, groups, ...) are fixed.
    """

    func: Callable[..., Tensor]
    weight: Tensor
    bias: Tensor | None
    info: LayerInfo
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: ``"right"``: ``func(x, w, b, *args)``; ``"left"``: ``func(w, x)`` (constant on the left).
    layout: str = "right"

    def __call__(self, inputs: Tensor, weight: Tensor | None = None, bias: Tensor | None = None) -> Tensor:
        w = self.weight if weight is None else weight
        if self.layout == "left":
            out = self.func(w, inputs)
            return out if bias is None else out + bias
        if self.layout == "matmul":
            out = self.func(inputs, w)
            return out if bias is None else out + bias
        return self.func(inputs, w, bias, *self.args, **self.kwargs)

    def value(self, inputs: Tensor) -> Tensor:
        """The layer's true output on ``inputs`` (no graph)."""
        with torch.no_grad():
            return self(inputs.detach(), self.weight, self.bias)

    def with_params(self, weight: Tensor, bias: Tensor | None) -> LinearOp:
        """The same layer with other parameters (used to merge batch normalization)."""
        return replace(self, weight=weight, bias=bias)

    def output_shape_of_bias(self, like: Tensor) -> Tensor | None:
        """The bias broadcast to the layer's output shape (``None`` if there is none)."""
        if self.bias is None:
            return None
        shape = [1] * like.ndim
        channel_dim = 1 if self.info.kind in ("conv", "conv_transpose") else like.ndim - 1
        shape[channel_dim] = -1
        return self.bias.view(shape).expand_as(like)
