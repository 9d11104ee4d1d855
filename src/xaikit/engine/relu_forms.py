"""ReLU written without ``relu``: ``where(t > 0, t, 0)``, ``t * (t > 0)``, ``t.masked_fill(t <= 0, 0)``.

The value of each form is ``relu(t)``, but as a mask times the input it would reach the
rules as a gating product or a routing op, and the methods whose rule is specific to the
ReLU (guided backprop, DeconvNet, RectGrad, DeepLIFT's rescale) would treat it as
something else. The engine notes the sign masks of carried tensors (comparisons with
zero, their negation and dtype conversions) and hands these forms to the activation rule
as ``torch.relu(t)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from xaikit.engine.tensor_table import TensorTable

__all__ = ["SignMasks"]

_Func = Callable[..., Any]

# comparison -> whether ``t OP 0`` marks the positive part (True) or the rest (False)
_POSITIVE: dict[_Func, bool] = {}
for _name, _positive in (("gt", True), ("ge", True), ("lt", False), ("le", False)):
    for _f in (getattr(torch, _name), getattr(torch.Tensor, _name), getattr(torch.Tensor, f"__{_name}__")):
        _POSITIVE[_f] = _positive
_NEGATIONS: frozenset[_Func] = frozenset({torch.logical_not, torch.Tensor.logical_not, torch.Tensor.__invert__, torch.bitwise_not, torch.Tensor.bitwise_not})
_CONVERSIONS: frozenset[_Func] = frozenset(
    {torch.Tensor.float, torch.Tensor.double, torch.Tensor.half, torch.Tensor.bfloat16, torch.Tensor.to, torch.Tensor.type_as}
)
_WHERE: frozenset[_Func] = frozenset({torch.where, torch.Tensor.where})
_PRODUCTS: frozenset[_Func] = frozenset({torch.mul, torch.Tensor.mul, torch.Tensor.__mul__, torch.Tensor.__rmul__, torch.multiply})
_MASKED_FILL: frozenset[_Func] = frozenset({torch.masked_fill, torch.Tensor.masked_fill})


def _is_zero(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == 0
    return isinstance(value, Tensor) and not value.requires_grad and not bool(value.detach().any())


class SignMasks:
    """The sign masks of carried tensors seen so far in one forward pass.

    A mask is stored as ``(t, positive)``: true where ``t > 0`` (``positive``) or where
    ``t <= 0`` (not ``positive``); ``>=``/``<`` differ from these only where ``t = 0``,
    where every form gives 0 anyway.
    """

    def __init__(self) -> None:
        self._masks: TensorTable[tuple[Tensor, bool]] = TensorTable()

    def note(self, func: _Func, args: Sequence[Any], out: Any, carries: Callable[[Any], bool]) -> None:
        """Record ``out`` if it is a sign mask of a carried tensor (or a negation or conversion of one)."""
        if not isinstance(out, Tensor) or not args:
            return
        first = args[0]
        if func in _POSITIVE and len(args) == 2 and carries(first) and _is_zero(args[1]):
            self._masks[out] = (first, _POSITIVE[func])
        elif func in _NEGATIONS and isinstance(first, Tensor) and first in self._masks:
            t, positive = self._masks[first]
            self._masks[out] = (t, not positive)
        elif func in _CONVERSIONS and isinstance(first, Tensor) and first in self._masks:
            self._masks[out] = self._masks[first]

    def holds(self, x: Any) -> bool:
        """Whether ``x`` is a recorded mask (so its conversions must be followed too)."""
        return isinstance(x, Tensor) and x in self._masks

    def relu_input(self, func: _Func, args: Sequence[Any], kwargs: dict[str, Any]) -> Tensor | None:
        """``t`` if ``func(*args)`` computes ``relu(t)`` through a sign mask of ``t``, else ``None``."""
        if kwargs or not args:
            return None
        if func in _WHERE and len(args) == 3:
            mask, a, b = args
            return self._kept(mask, a, b)
        if func in _PRODUCTS and len(args) == 2:
            for t, mask in (args, args[::-1]):
                if self._is_mask_of(mask, t, positive=True):
                    return t
        if func in _MASKED_FILL and len(args) == 3 and _is_zero(args[2]):
            t, mask = args[0], args[1]
            if self._is_mask_of(mask, t, positive=False):
                return t
        return None

    def _kept(self, mask: Any, a: Any, b: Any) -> Tensor | None:
        found = self._mask_of(mask)
        if found is None:
            return None
        t, positive = found
        if positive and a is t and _is_zero(b):
            return t
        if not positive and b is t and _is_zero(a):
            return t
        return None

    def _is_mask_of(self, mask: Any, t: Any, *, positive: bool) -> bool:
        found = self._mask_of(mask)
        return found is not None and found[0] is t and found[1] is positive

    def _mask_of(self, mask: Any) -> tuple[Tensor, bool] | None:
        if isinstance(mask, Tensor) and mask in self._masks:
            t, positive = self._masks[mask]
            return t, positive
        return None
