"""LRP rules for parameter-free operations: pass-through and the normalizing rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from xaikit.engine.call import OpCall
from xaikit.engine.graft import graft, stabilized_ratio, times_input
from xaikit.engine.kinds import OpKind
from xaikit.engine.rule import ElementwiseRule
from xaikit.engine.units import GradientUnits


@dataclass(frozen=True)
class Pass(ElementwiseRule):
    """Pass-through: relevance is handed on unchanged (activations, scaling by constants).

    Serves operations with one relevance-carrying input of the output's shape; sums and
    pools, which mix several values, need :class:`Norm`.
    """

    kinds: ClassVar[frozenset[OpKind]] = frozenset({OpKind.ACTIVATION, OpKind.SCALE})

    def propagate_elementwise(self, call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
        """The value of the operation, the relevance of its input unchanged."""
        if len(graphs) != 1:
            raise ValueError("the pass-through rule applies to operations with one input carrying relevance")
        return graft(graphs[0], value)

    def own_backward_factors(self, kind: OpKind, roles: tuple[str, ...]) -> tuple[float, ...] | None:
        """Scaling: ``(1,)``, its own backward; activations: ``None`` (they multiply by ``f(z) / z``)."""
        return None if kind is OpKind.ACTIVATION or len(roles) != 1 else (1.0,)

    def propagate_gradient_elementwise(self, kind: OpKind, call: OpCall, graphs: list[Tensor], units: GradientUnits) -> Tensor:
        """Gradient units: scaling keeps its own backward; an activation ``f`` multiplies by ``f(z) / z``.

        ``z`` is stabilized with the units' epsilon (the stabilizer the epsilon rule of the
        layer producing ``z`` applies in relevance units).
        """
        if len(graphs) != 1:
            raise ValueError("the pass-through rule applies to operations with one input carrying relevance")
        if kind is not OpKind.ACTIVATION:
            out: Tensor = call(*graphs)  # linear in the carried tensor: its own backward is the rule
            return out
        with torch.no_grad():
            value = call.on_values()
            if value.shape != graphs[0].shape:
                raise ValueError("the pass-through rule applies to operations whose output has the input's shape")
            scale = units.ratio(value, call.value_of(0))
        return graft(graphs[0], value, scale)


@dataclass(frozen=True)
class Norm(ElementwiseRule):
    """Normalizing rule for parameter-free sums and pools: LRP-0/epsilon with unit weights.

    ``R_j = a_j / (sum_j a_j + constants) R_k`` for additions (a residual ``a + b`` splits
    relevance in proportion to ``a`` and ``b``), sum/mean, average pools.
    """

    kinds: ClassVar[frozenset[OpKind]] = frozenset({OpKind.SUM})
    epsilon: float = 1e-9
    relative: bool = True

    def propagate_elementwise(self, call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
        """``R_j = a_j / stabilize(sum_j a_j) R_k`` through the operation itself."""
        u = call(*[times_input(g) for g in graphs])  # its value is the op on the true values: ``value``
        return stabilized_ratio(u, value, self.epsilon, self.relative, denominator=value)

    def own_backward_factors(self, kind: OpKind, roles: tuple[str, ...]) -> tuple[float, ...]:
        """``1`` for every operand: in gradient units the operation's own backward."""
        return (1.0,) * len(roles)

    def propagate_gradient_elementwise(self, kind: OpKind, call: OpCall, graphs: list[Tensor], units: GradientUnits) -> Tensor:
        """Gradient units: the operation's own backward (``epsilon -> 0``; constants absorb their share)."""
        out: Tensor = call(*graphs)
        return out
