"""The natural-gradient rule, for layers and parameter-free operations alike."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from xaikit.engine.call import OpCall
from xaikit.engine.graft import graft
from xaikit.engine.kinds import ALL_KINDS, OpKind
from xaikit.engine.layer import LinearOp
from xaikit.engine.rule import ElementwiseRule, LayerRule


class Gradient(LayerRule, ElementwiseRule):
    """The natural gradient: every operation keeps its own backward pass.

    Composites of gradient-type methods (guided backprop, DeconvNet, DeepLIFT) use it for
    every operation they do not modify; the engine uses it where a rule provider gives
    no rule at all.
    """

    kinds: ClassVar[frozenset[OpKind]] = ALL_KINDS
    computes_layer_output: ClassVar[bool] = True

    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        """The layer applied to the graph of its input."""
        return op.own_forward(a)

    def propagate_elementwise(self, call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
        """The operation applied to the graphs of its inputs (value kept exact)."""
        return graft(call(*graphs), value)

    def __eq__(self, other: object) -> bool:
        return type(other) is Gradient

    def __hash__(self) -> int:
        return hash(Gradient)

    def __repr__(self) -> str:
        return "Gradient()"
