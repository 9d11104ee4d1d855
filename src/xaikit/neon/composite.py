"""The ``"neon"`` composite: NEON rules for neuralized layers, a base composite elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xaikit.engine import LayerInfo, OpKind, Rule
from xaikit.neon.layers import DifferenceLayer, RandomFeatureMap
from xaikit.neon.rules import Midpoint
from xaikit.rules.composite import Composite
from xaikit.rules.linear import WSquare
from xaikit.rules.matchers import LayerType
from xaikit.rules.presets import as_composite, register_composite

__all__ = ["LINEAR_RULES", "NeonComposite", "neon_composite"]

#: Rules for the difference layers of k-means and kernel k-means, by name.
LINEAR_RULES: tuple[str, ...] = ("wsquare", "midpoint")


def _linear_rule(rule: str) -> Rule:
    if rule == "wsquare":
        return WSquare(epsilon=0.0)
    if rule == "midpoint":
        return Midpoint()
    raise ValueError(f"unknown NEON rule {rule!r}; choose one of {', '.join(LINEAR_RULES)}")


@dataclass
class NeonComposite(Composite):
    """NEON rules on neuralized layers, ``base``'s rules on every other layer.

    Difference layers (k-means, kernel k-means) get the w-square or midpoint rule, the
    random-feature map the w-square rule; pooling, distance and kernel layers carry
    their own rules. Other layers (a CNN below a neuralized head) follow ``base``.
    """

    base: Composite | None = None

    def rule_for(self, info: LayerInfo) -> Rule | None:
        """The NEON rule for neuralized layers, else the base composite's rule."""
        rule = super().rule_for(info)
        if rule is None and self.base is not None:
            return self.base.rule_for(info)
        return rule

    def default_for(self, kind: OpKind) -> Rule | None:
        """The base composite's default (the LRP defaults without a base)."""
        return super().default_for(kind) if self.base is None else self.base.default_for(kind)

    def bind(self, model: Any) -> Composite:
        """Bind the base composite to ``model`` (presets that count layers need it)."""
        if self.base is None:
            return self
        return NeonComposite(list(self.rules), name=self.name, base=self.base.bind(model))


def neon_composite(rule: str = "wsquare", base: str | Composite | None = None) -> NeonComposite:
    """The NEON composite.

    Parameters
    ----------
    rule : {"wsquare", "midpoint"}, default "wsquare"
        Rule of the k-means / kernel k-means difference layers:
        ``R_i = sum_k w_ik^2 / ||w_k||^2 R_k`` or ``R_i = sum_k w_ik (x_i - m_ik) / h_k R_k``.
    base : str or Composite, optional
        Composite for the layers that are not neuralized (for example
        ``"epsilon_gamma_box"`` for a CNN feature extractor under a neuralized head);
        the engine defaults when omitted.

    Returns
    -------
    NeonComposite

    Examples
    --------
    >>> import xaikit
    >>> composite = xaikit.lrp.get_composite("neon", rule="midpoint")
    """
    pairs = [
        (LayerType(DifferenceLayer), _linear_rule(rule)),
        (LayerType(RandomFeatureMap), WSquare(epsilon=0.0)),
    ]
    return NeonComposite(pairs, name="neon", base=None if base is None else as_composite(base))


register_composite("neon")(neon_composite)
