"""The contract between the propagation engine and a rule.

A rule is a small object that declares the operation kinds it serves (:attr:`Rule.kinds`)
and implements the method the engine calls for those kinds:

- :class:`LayerRule` for parametric linear layers (``dense``, ``conv``,
  ``conv_transpose``): ``propagate(op, a)`` builds, from the graph ``a`` of the layer's
  input, a tensor equal to the layer's output whose gradient with respect to ``a`` is the
  rule's relevance map.
- :class:`ElementwiseRule` for parameter-free operations (``activation``, ``scale``,
  ``sum``, ``max_pool``): ``propagate_elementwise(call, graphs, value)``, where ``call``
  re-runs the operation on replacement tensors and carries its arguments
  (:class:`~xaikit.engine.call.OpCall`), ``graphs`` are the graphs of the carrying
  inputs and ``value`` is the true output.

Composites check at construction that every rule serves the kinds it is assigned to, and
the engine checks it again for any other rule provider, so a rule can never be silently
replaced by a default. Modified weights are derived through :meth:`LayerRule.derive`,
which caches them in the rule object (see :mod:`xaikit.engine.derived`).

A rule may also offer its form in gradient units (``propagate_gradient`` or ``propagate_gradient_elementwise``, see
:mod:`xaikit.engine.units`), which a composite with ``units=GradientUnits()`` propagates
at the memory of a plain gradient; rules without one still work there (the engine
converts units around them).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from xaikit.engine.derived import DerivedWeights
from xaikit.engine.kinds import ELEMENTWISE_KINDS, LAYER_KINDS, OpKind, kind_names

if TYPE_CHECKING:
    from xaikit.engine.call import OpCall
    from xaikit.engine.layer import LinearOp
    from xaikit.engine.units import GradientUnits


class Rule:
    """Base of every propagation rule: declares the kinds of operation it serves."""

    #: The operation kinds this rule can be assigned to.
    kinds: ClassVar[frozenset[OpKind]] = frozenset()

    def serves(self, kind: OpKind | str) -> bool:
        """Whether this rule can be assigned to operations of ``kind``."""
        return OpKind.parse(kind) in self.kinds


def check_serves(rule: object, kinds: frozenset[OpKind], where: str) -> None:
    """Raise ``TypeError`` unless ``rule`` is a :class:`Rule` serving every kind in ``kinds``."""
    if not isinstance(rule, Rule):
        raise TypeError(
            f"{where}: {rule!r} is not a rule; a rule subclasses xaikit.engine.LayerRule (dense and "
            "convolution layers) or xaikit.engine.ElementwiseRule (activations, sums, scaling, pools)"
        )
    missing = frozenset(kinds) - rule.kinds
    if missing:
        raise TypeError(
            f"{where}: {rule!r} cannot serve operations of kind {kind_names(missing)}; it serves "
            f"{kind_names(rule.kinds) or 'no kind'}. Assign it to a matcher of those kinds, or "
            "give these operations a rule that serves them."
        )


class LayerRule(Rule, ABC):
    """A rule for parametric linear layers (dense, convolution, transposed convolution)."""

    kinds: ClassVar[frozenset[OpKind]] = LAYER_KINDS
    #: ``True`` when :meth:`propagate` runs the layer's own forward through
    #: :meth:`LinearOp.own_forward <xaikit.engine.LinearOp.own_forward>`: the engine then
    #: builds the graph as soon as the layer runs and reads the layer's output off it,
    #: saving one forward. A wrong value costs speed only: the engine takes the output from
    #: ``own_forward`` when it was called on the layer input and computes it otherwise.
    computes_layer_output: ClassVar[bool] = False

    @abstractmethod
    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        """A tensor equal to ``op(a)`` whose gradient with respect to ``a`` is the relevance map."""

    def propagate_positive(self, op: LinearOp, a: Tensor) -> Tensor | None:
        """A cheaper graph, used when the consumer (a ReLU) discards negative outputs.

        ``None`` (the default) means there is none and :meth:`propagate` is used.
        """
        return None

    def own_backward_factor(self) -> float | None:
        """``c`` if :meth:`propagate_gradient` is the layer's own backward times ``c``, else ``None`` (the default).

        Lets the engine run a fused kernel containing the layer (attention) in gradient units.
        """
        return None

    def propagate_gradient(self, op: LinearOp, g: Tensor, units: GradientUnits) -> Tensor | None:
        """The rule in gradient units (see :mod:`xaikit.engine.units`), for a graph ``g`` in them.

        A tensor equal to ``op(g)`` whose gradient with respect to ``g`` is ``G_in`` when the
        one reaching it is ``G_out``, with ``R = value * G`` on both sides. ``None`` (the
        default): there is none, and the engine converts units around :meth:`propagate`.
        """
        return None

    def derive(
        self, op: LinearOp, transform: Callable[[Tensor], Tensor], *, bias: bool = True
    ) -> tuple[Tensor, Tensor | None]:
        """``(transform(weight), transform(bias))`` of ``op``, cached in this rule object.

        ``transform`` identifies the derivation: pass a method of the rule or a module-level
        function (a new lambda each call would never be found again). With ``bias=False``
        the bias is not transformed (``None`` is returned for it).
        """
        cache = self._derived_weights()
        w_source, b_source = op.sources
        weight = cache.get(w_source, op.weight, transform, op.generation)
        if op.bias is None or not bias:
            return weight, None
        return weight, cache.get(b_source, op.bias, transform, op.generation)

    def _derived_weights(self) -> DerivedWeights:
        cache = self.__dict__.get("_xaikit_derived")
        if cache is None:
            cache = DerivedWeights()
            object.__setattr__(self, "_xaikit_derived", cache)  # rules are frozen dataclasses
        return cache


class ElementwiseRule(Rule, ABC):
    """A rule for parameter-free operations (activations, sums, scaling, pools)."""

    kinds: ClassVar[frozenset[OpKind]] = ELEMENTWISE_KINDS

    @abstractmethod
    def propagate_elementwise(self, call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
        """``call`` applied to the graphs gives the modified forward; ``value`` is the true output."""

    def propagate_call(self, call: OpCall, graphs: list[Tensor]) -> Tensor:
        """What the engine calls for a product of carried tensors: the true output, then the rule.

        The default computes the output without a graph and hands it to
        :meth:`propagate_elementwise`. A rule whose graph computes the output anyway (the op
        on tensors holding the true values, such as :func:`~xaikit.engine.times_input` of
        the graphs) overrides this to read it off and save one forward of the op.
        """
        with torch.no_grad():
            value = call.on_values()
        return self.propagate_elementwise(call, graphs, value)

    def own_backward_factors(self, kind: OpKind, roles: tuple[str, ...]) -> tuple[float, ...] | None:
        """Factors ``c_i`` if, in gradient units, the rule is the operation's own backward with the gradient
        reaching carried operand ``i`` multiplied by ``c_i`` (``0``: held constant); ``None`` (the default) if not.

        ``roles`` has one entry per carried operand (``"signal"``, ``"gate"`` or ``"statistic"``,
        as :attr:`OpCall.roles <xaikit.engine.OpCall.roles>`). Declaring the factors lets the
        engine run a fused kernel made of such operations (``F.scaled_dot_product_attention``)
        as one kernel in gradient units; they must agree with :meth:`propagate_gradient_elementwise`.
        """
        return None

    def propagate_gradient_elementwise(self, kind: OpKind, call: OpCall, graphs: list[Tensor], units: GradientUnits) -> Tensor | None:
        """The rule in gradient units (see :mod:`xaikit.engine.units`) for an operation of ``kind``.

        ``graphs`` carry gradient units; the result is a tensor equal to the operation's true
        output whose graph carries them too. ``None`` (the default): there is none, and the
        engine converts units around :meth:`propagate_elementwise`.
        """
        return None
