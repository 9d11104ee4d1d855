"""Composites: which rule applies to which operation.

A :class:`Composite` is an ordered list of ``(matcher, rule)`` pairs; the first pair
whose matcher accepts an operation and whose rule serves its kind decides. Operations no
pair decides get the composite's default for their kind. Every pair is checked at
construction: a rule paired with a matcher of kinds it cannot serve raises there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xaikit.engine.kinds import LAYER_KINDS, OpKind
from xaikit.engine.layer import LayerInfo
from xaikit.engine.rule import Rule, check_serves
from xaikit.engine.units import GradientUnits
from xaikit.rules.elementwise import Norm, Pass
from xaikit.rules.linear import Epsilon
from xaikit.rules.matchers import Matcher, kinds_of
from xaikit.rules.products import ProductRule
from xaikit.rules.softmax import RefuseSoftmax

#: The LRP defaults: epsilon on layers, the normalizing rule on sums and pools,
#: pass-through on activations and scaling; max-pooling keeps its natural routing; products of
#: carried tensors split relevance (gates held constant); a softmax is refused (see the
#: ``attnlrp`` and ``cp_lrp`` presets for attention).
LRP_DEFAULTS: Mapping[OpKind, Rule | None] = {
    **dict.fromkeys(LAYER_KINDS, Epsilon()),
    OpKind.SUM: Norm(),
    OpKind.ACTIVATION: Pass(),
    OpKind.SCALE: Pass(),
    OpKind.MAX_POOL: None,
    OpKind.PRODUCT: ProductRule(),
    OpKind.SOFTMAX: RefuseSoftmax(),
}

#: No defaults: operations no pair decides keep their natural gradient.
NATURAL: Mapping[OpKind, Rule | None] = {}


@dataclass
class Composite:
    """An ordered rule assignment.

    Parameters
    ----------
    rules : sequence of (matcher, rule)
        Tried in order; the first pair whose matcher matches an operation and whose rule
        serves its kind decides. A matcher of known kinds (``Kind``, ``FirstLayer``) must
        be paired with a rule serving all of them: ``TypeError`` otherwise.
    name : str
        A label shown in explanations.
    defaults : mapping of OpKind to rule or None
        The rule of each kind where no pair decides (:data:`LRP_DEFAULTS` unless given;
        :data:`NATURAL` keeps the natural gradient). ``None`` for a kind: its natural gradient.
    units : GradientUnits, optional
        Carry relevance in gradient units (``R = value x gradient``; see
        :mod:`xaikit.engine.units`): rules that offer that form (epsilon, the normalizing and
        pass-through rules, products, the attention softmax rules) propagate at the memory
        and nearly the cost of a plain gradient, in the limit ``epsilon -> 0`` of their
        linear maps; others run with units converted around them. ``None``: relevance units.

    Examples
    --------
    >>> from torch import nn
    >>> from xaikit.rules import Composite, Epsilon, Gamma, FirstLayer, LayerType, ZBox
    >>> composite = Composite([
    ...     (FirstLayer(), ZBox(low=0.0, high=1.0)),
    ...     (LayerType(nn.Conv2d), Gamma(0.25)),
    ...     (LayerType(nn.Linear), Epsilon()),
    ... ])
    """

    rules: Sequence[tuple[Matcher, Any]] = field(default_factory=list)
    name: str = "custom"
    defaults: Mapping[OpKind, Rule | None] = field(default_factory=lambda: LRP_DEFAULTS)
    units: GradientUnits | None = None

    def __post_init__(self) -> None:
        self.rules = tuple(tuple(pair) for pair in self.rules)
        for position, pair in enumerate(self.rules):
            if len(pair) != 2:
                raise TypeError(f"composite {self.name!r}: entry {position} is not a (matcher, rule) pair: {pair!r}")
            matcher, rule = pair
            if not callable(matcher):
                raise TypeError(f"composite {self.name!r}: entry {position} has a matcher that is not callable: {matcher!r}")
            kinds = kinds_of(matcher)
            check_serves(rule, kinds or frozenset(), f"composite {self.name!r}, entry {position} ({matcher!r})")
        self.defaults = {OpKind.parse(k): r for k, r in self.defaults.items()}
        for kind, rule in self.defaults.items():
            if rule is not None:
                check_serves(rule, frozenset({kind}), f"composite {self.name!r}, default for {kind}")
        if self.units is not None and not isinstance(self.units, GradientUnits):
            raise TypeError(f"composite {self.name!r}: units must be a xaikit.engine.GradientUnits or None, got {self.units!r}")

    def rule_for(self, info: LayerInfo) -> Rule | None:
        """The rule of the first pair that matches ``info`` and serves its kind, or ``None``."""
        for matcher, rule in self.rules:
            if info.kind in rule.kinds and matcher(info):
                return rule
        return None

    def default_for(self, kind: OpKind) -> Rule | None:
        """The rule of operations of ``kind`` that no pair decides (``None``: natural gradient)."""
        return self.defaults.get(kind)

    def bind(self, model: Any) -> Composite:
        """A composite specialized to ``model`` (presets that count layers override this)."""
        return self

    def with_rules(self, *pairs: tuple[Matcher, Any]) -> Composite:
        """A new composite whose ``pairs`` take precedence over this one's."""
        return Composite([*pairs, *self.rules], name=self.name, defaults=self.defaults, units=self.units)

    def __repr__(self) -> str:
        return f"Composite(name={self.name!r}, rules={list(self.rules)!r})"
