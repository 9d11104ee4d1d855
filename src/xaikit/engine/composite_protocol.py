"""What the dispatcher asks of a composite: a rule for each operation."""

from __future__ import annotations

from typing import Protocol

from xaikit.engine.kinds import OpKind
from xaikit.engine.layer import LayerInfo
from xaikit.engine.rule import Rule


class RuleProvider(Protocol):
    """Chooses the rule of each operation the engine meets (a :class:`xaikit.rules.Composite`).

    The engine asks :meth:`rule_for` first, then :meth:`default_for` the operation's kind;
    where both give ``None`` the operation keeps its natural gradient (max-pooling its
    natural routing). Whatever rule is returned must serve the operation's kind
    (:attr:`xaikit.engine.Rule.kinds`); the engine raises otherwise.

    A provider with an attribute ``units`` that is a :class:`~xaikit.engine.units.GradientUnits`
    has its relevance carried in gradient units (``None`` or absent: relevance units).
    """

    def rule_for(self, info: LayerInfo) -> Rule | None:
        """The rule assigned to this operation, or ``None``."""
        ...

    def default_for(self, kind: OpKind) -> Rule | None:
        """The rule for operations of ``kind`` that no assignment matches, or ``None``."""
        ...
