"""Descriptions of the operations a propagation rule is applied to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.weak import WeakTensorKeyDictionary

#: Derived weights (w+, w + gamma w+, ...) per parameter, reused across explanations while
#: the parameter is unchanged (its version counter moves on any in-place update).
_DERIVED: WeakTensorKeyDictionary = WeakTensorKeyDictionary()


def clear_weight_cache() -> None:
    """Forget the cached derived weights (they are rebuilt on demand)."""
    _DERIVED.clear()


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
    #: The layer's true output on its input, when already computed by the engine.
    output: Tensor | None = None
    #: Whether the engine knows the layer input to be non-negative (after a ReLU).
    input_nonnegative: bool = False
    #: The tensors the model passed as weight and bias (keys of the derived-weight cache).
    sources: tuple[Tensor | None, Tensor | None] = (None, None)

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
        """The layer's true output on ``inputs`` (no graph); reuses :attr:`output` when known.

        ``inputs`` must be the layer's own input when :attr:`output` is set.
        """
        if self.output is not None:
            return self.output
        with torch.no_grad():
            return self(inputs.detach(), self.weight, self.bias)

    def with_params(self, weight: Tensor, bias: Tensor | None) -> LinearOp:
        """The same layer with other parameters (used to merge batch normalization)."""
        return replace(self, weight=weight, bias=bias, output=None, sources=(None, None))

    def derived(
        self, key: str, transform: Callable[[Tensor], Tensor], *, bias: bool = True
    ) -> tuple[Tensor, Tensor | None]:
        """``(transform(weight), transform(bias))``, cached per parameter and version.

        ``key`` names the transform (include its hyper-parameters, e.g. ``"gamma=0.25"``);
        with ``bias=False`` the bias is not transformed (``None`` is returned for it).
        """
        return self._derived_one(0, key, transform), (
            None if self.bias is None or not bias else self._derived_one(1, key, transform)
        )

    def _derived_one(self, which: int, key: str, transform: Callable[[Tensor], Tensor]) -> Tensor:
        tensor = self.weight if which == 0 else self.bias
        assert tensor is not None
        source = self.sources[which]
        if source is None:
            return transform(tensor)
        entry = _DERIVED.get(source)
        if entry is None:
            entry = {}
            _DERIVED[source] = entry
        version = source._version
        hit = entry.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = transform(tensor)
        entry[key] = (version, value)
        return value

    def has_negative_inputs(self, inputs: Tensor) -> bool:
        """Whether ``inputs`` has negative entries (answered without a pass when known)."""
        return not self.input_nonnegative and bool((inputs.detach() < 0).any())

    def output_shape_of_bias(self, like: Tensor) -> Tensor | None:
        """The bias broadcast to the layer's output shape (``None`` if there is none)."""
        if self.bias is None:
            return None
        shape = [1] * like.ndim
        channel_dim = 1 if self.info.kind in ("conv", "conv_transpose") else like.ndim - 1
        shape[channel_dim] = -1
        return self.bias.view(shape).expand_as(like)
