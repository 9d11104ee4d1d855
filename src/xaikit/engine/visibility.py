"""Relevance that would leave the propagation graphs unseen: branches the engine cannot see.

The engine follows every torch function called on a tensor derived from the input. Two
kinds of computation escape it: operations run with gradients disabled (``torch.no_grad()``
inside ``forward``, or the body of a custom ``torch.autograd.Function``), whose results
reach the rest of the model as constants, and the outputs of custom autograd functions,
which come back as tensors the engine never saw being made. When such a tensor meets one
that carries relevance in an operation, the part of the output it stands for would get no
relevance (or the relevance would bypass the graphs); :class:`Visibility` finds those
tensors so that the engine can raise instead of returning a plausible, wrong explanation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from xaikit.engine.tensor_table import TensorTable

__all__ = ["Visibility"]


def _accumulator(leaf: Tensor) -> Any:
    """The autograd node that accumulates the gradient of ``leaf`` (a leaf requiring grad)."""
    return leaf.view_as(leaf).grad_fn.next_functions[0][0]  # type: ignore[union-attr]


class Visibility:
    """Tensors derived from the input out of the engine's sight."""

    def __init__(self) -> None:
        self._hidden: TensorTable[bool] = TensorTable()
        self._inputs: set[Any] = set()

    def track_input(self, leaf: Tensor) -> None:
        """Note the explained input (a leaf requiring grad)."""
        if leaf.requires_grad and leaf.is_leaf:
            self._inputs.add(_accumulator(leaf))

    def hide(self, out: Any) -> None:
        """Note the floating tensors of ``out``: computed from the input with gradients disabled."""
        for t in out if isinstance(out, list | tuple) else (out,):
            if isinstance(t, Tensor) and t.dtype.is_floating_point:
                self._hidden[t] = True

    def unseen(self, t: Any) -> bool:
        """Whether ``t`` (not carrying relevance) was nevertheless computed from the input."""
        if not isinstance(t, Tensor) or not t.dtype.is_floating_point:
            return False
        if t in self._hidden:
            return True
        return t.grad_fn is not None and bool(self._inputs) and self._reaches_input(t.grad_fn)

    def _reaches_input(self, node: Any) -> bool:
        seen: set[int] = set()
        stack = [node]
        while stack:
            current = stack.pop()
            if current is None or id(current) in seen:
                continue
            if current in self._inputs:
                return True
            seen.add(id(current))
            stack.extend(nxt for nxt, _ in current.next_functions)
        return False


def grad_disabled() -> bool:
    """Whether operations run now record no autograd graph."""
    return not torch.is_grad_enabled() or torch.is_inference_mode_enabled()
