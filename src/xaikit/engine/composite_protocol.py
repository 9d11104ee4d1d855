"""What the dispatcher asks of a composite: a rule for each operation."""

from __future__ import annotations

from typing import Protocol

from xaikit.engine.layer import LayerInfo


class RuleProvider(Protocol):
    """Anything with ``rule_for(info)`` returning a rule for the operation described by ``info``.

    For ``info.kind`` in ``{"dense", "conv", "conv_transpose"}`` the rule has
    ``propagate(op, a)``; for ``{"activation", "scale", "sum"}`` it has
    ``propagate_elementwise(func, graphs, value)``. ``None`` selects the engine default
    (LRP: epsilon for layers, pass-through for activations and scaling, the normalizing
    rule for sums).
    """

    def rule_for(self, info: LayerInfo) -> object | None:
        """The rule for this operation, or ``None`` for the default."""
        ...
