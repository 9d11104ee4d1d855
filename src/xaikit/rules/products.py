"""Rules for products of several tensors that carry relevance (gates, attention).

Where two relevance-carrying tensors meet in a product, relevance must be shared between
them. :class:`ProductRule` applies the epsilon rule to each operand with the others held
constant and splits the relevance uniformly among the operands that receive it (AttnLRP,
Achtibat et al., 2024, Propositions 3.2 and 3.3: elementwise and matrix products alike).
Operands the engine recognizes as gates (sigmoid-like outputs, shifted tanh) or as
normalizing statistics are held constant when a signal is present: the signal takes all
the relevance (Arras et al., 2017, 2019, for LSTM gates; the identity rule of a
normalization written out, such as RMS norm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from xaikit.engine.call import OpCall
from xaikit.engine.graft import stabilized_ratio, times_input
from xaikit.engine.kinds import OpKind
from xaikit.engine.rule import ElementwiseRule
from xaikit.engine.units import GradientUnits, scaled_gradient

__all__ = ["ProductRule"]

#: Roles of product operands that are held constant while a signal is present.
HELD_ROLES = frozenset({"gate", "statistic"})


@dataclass(frozen=True)
class ProductRule(ElementwiseRule):
    """Epsilon rule on a product of several carried tensors, split among the receiving operands.

    For ``z = f(a_1, ..., a_n)`` multilinear (``*``, ``@``, ``bmm``, ``einsum``) the
    relevance of operand ``i`` is ``R_i = a_i * d/da_i [f(..., a_i, ...)] * R / (n_r * z)``
    (stabilized), summed over what ``a_i`` contributes to, for each of the ``n_r``
    operands that receive relevance; they share ``R`` in full (up to the stabilizer).

    Parameters
    ----------
    epsilon : float
        Stabilizer of ``z`` (scale-aware with ``relative``).
    relative : bool
        Scale ``epsilon`` by the mean ``|z|`` of each sample.
    hold_gates : bool
        Give gates and normalizing statistics no relevance when a signal is present
        (signal-take-all); ``False`` splits uniformly among all operands.
    """

    kinds: ClassVar[frozenset[OpKind]] = frozenset({OpKind.PRODUCT})
    epsilon: float = 1e-9
    relative: bool = True
    hold_gates: bool = True

    def receivers(self, call: OpCall, count: int) -> list[int]:
        """The operands that receive relevance."""
        return self._receivers(call.roles or ("signal",) * count)

    def _receivers(self, roles: tuple[str, ...]) -> list[int]:
        signals = [i for i, role in enumerate(roles) if role not in HELD_ROLES]
        return signals if self.hold_gates and signals else list(range(len(roles)))

    def own_backward_factors(self, kind: OpKind, roles: tuple[str, ...]) -> tuple[float, ...]:
        """``1 / n`` for each of the ``n`` receiving operands, ``0`` for the others (gradient units)."""
        receivers = self._receivers(roles)
        return tuple(1.0 / len(receivers) if i in receivers else 0.0 for i in range(len(roles)))

    def propagate_elementwise(self, call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
        """The op on ``times_input`` of the receivers' graphs (values elsewhere), as a ratio to ``value``."""
        product, receivers = self._carried_product(call, graphs)
        return self._shared_ratio(product, value, receivers)

    def propagate_call(self, call: OpCall, graphs: list[Tensor]) -> Tensor:
        """As :meth:`propagate_elementwise`, the op's value read off the one product it computes."""
        product, receivers = self._carried_product(call, graphs)
        return self._shared_ratio(product, product.detach(), receivers)

    def propagate_gradient_elementwise(self, kind: OpKind, call: OpCall, graphs: list[Tensor], units: GradientUnits) -> Tensor:
        """Gradient units: the product on the receivers' graphs, its gradient divided among them (``epsilon -> 0``)."""
        receivers = set(self.receivers(call, len(graphs)))
        product: Tensor = call.with_values(*[g if j in receivers else None for j, g in enumerate(graphs)])
        return scaled_gradient(product, 1.0 / len(receivers))

    def _carried_product(self, call: OpCall, graphs: list[Tensor]) -> tuple[Tensor, int]:
        """``f(..., times_input(g_i), ...)`` over the receivers ``i``, and their number.

        One product whose gradient reaching ``g_i`` is ``a_i * df/da_i`` at the true values:
        the sum of the receivers' terms, each with the other operands held constant.
        """
        receivers = set(self.receivers(call, len(graphs)))
        product: Tensor = call.with_values(*[times_input(g) if j in receivers else None for j, g in enumerate(graphs)])
        return product, len(receivers)

    def _shared_ratio(self, product: Tensor, value: Tensor, receivers: int) -> Tensor:
        """``product`` with value ``value``; its gradient ``grad / (receivers * stabilize(value))``."""
        return stabilized_ratio(product, value, self.epsilon, self.relative, denominator=value, divisor=receivers)
