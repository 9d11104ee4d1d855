"""Composites: which rule applies to which layer, and a registry of named presets.

A :class:`Composite` is an ordered list of ``(matcher, rule)`` pairs; the first matcher
that accepts an operation decides its rule. Matchers select by layer kind, by module
type, by module name (glob patterns) or by position in the forward pass.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from xaikit.engine.layer import LayerInfo
from xaikit.lrp.rules import AlphaBeta, Bound, Epsilon, Flat, Gamma, Norm, ZBox, ZPlus

Matcher = Callable[[LayerInfo], bool]


@dataclass(frozen=True)
class Kind:
    """Match operations by kind: ``"dense"``, ``"conv"``, ``"conv_transpose"``, ``"activation"``, ``"sum"``, ``"scale"``."""

    kinds: tuple[str, ...]

    def __init__(self, *kinds: str) -> None:
        object.__setattr__(self, "kinds", kinds)

    def __call__(self, info: LayerInfo) -> bool:
        return info.kind in self.kinds


@dataclass(frozen=True)
class LayerType:
    """Match operations performed by modules of the given types (for example ``nn.Conv2d``)."""

    types: tuple[type[nn.Module], ...]

    def __init__(self, *types: type[nn.Module]) -> None:
        object.__setattr__(self, "types", types)

    def __call__(self, info: LayerInfo) -> bool:
        return info.module is not None and isinstance(info.module, self.types)


@dataclass(frozen=True)
class LayerName:
    """Match operations performed by modules whose qualified name matches a glob pattern."""

    patterns: tuple[str, ...]

    def __init__(self, *patterns: str) -> None:
        object.__setattr__(self, "patterns", patterns)

    def __call__(self, info: LayerInfo) -> bool:
        return any(fnmatch.fnmatchcase(info.name, p) for p in self.patterns)


@dataclass(frozen=True)
class FirstLayer:
    """Match the first parametric layer (dense or convolution) in forward order."""

    def __call__(self, info: LayerInfo) -> bool:
        return info.is_first


@dataclass(frozen=True)
class KindIndexBelow:
    """Match layers of ``kind`` whose position among that kind is below ``limit``."""

    kind: str
    limit: int

    def __call__(self, info: LayerInfo) -> bool:
        return info.kind == self.kind and 0 <= info.kind_index < self.limit


@dataclass(frozen=True)
class All:
    """Match when every given matcher matches."""

    matchers: tuple[Matcher, ...]

    def __init__(self, *matchers: Matcher) -> None:
        object.__setattr__(self, "matchers", matchers)

    def __call__(self, info: LayerInfo) -> bool:
        return all(m(info) for m in self.matchers)


@dataclass
class Composite:
    """An ordered rule assignment.

    Parameters
    ----------
    rules : sequence of (matcher, rule)
        Tried in order; the first matching pair decides. Unmatched operations get the
        engine default (epsilon for layers, pass-through for activations and scaling,
        the normalizing rule for sums and pools).
    name : str
        A label shown in explanations.

    Examples
    --------
    >>> from torch import nn
    >>> from xaikit.lrp import Composite, Epsilon, Gamma, FirstLayer, LayerType, ZBox
    >>> composite = Composite([
    ...     (FirstLayer(), ZBox(low=0.0, high=1.0)),
    ...     (LayerType(nn.Conv2d), Gamma(0.25)),
    ...     (LayerType(nn.Linear), Epsilon()),
    ... ])
    """

    rules: Sequence[tuple[Matcher, Any]] = field(default_factory=list)
    name: str = "custom"

    def rule_for(self, info: LayerInfo) -> Any:
        """The rule of the first matching pair, or ``None``."""
        for matcher, rule in self.rules:
            if matcher(info):
                return rule
        return None

    def bind(self, model: Any) -> Composite:
        """A composite specialized to ``model`` (presets that count layers override this)."""
        return self

    def with_rules(self, *pairs: tuple[Matcher, Any]) -> Composite:
        """A new composite whose ``pairs`` take precedence over this one's."""
        return Composite([*pairs, *self.rules], name=self.name)

    def __repr__(self) -> str:
        return f"Composite(name={self.name!r}, rules={list(self.rules)!r})"


_PRESETS: dict[str, Callable[..., Composite]] = {}


def register_composite(name: str) -> Callable[[Callable[..., Composite]], Callable[..., Composite]]:
    """Register a composite factory under ``name`` (used by ``composite="name"``)."""

    def decorate(factory: Callable[..., Composite]) -> Callable[..., Composite]:
        _PRESETS[name] = factory
        return factory

    return decorate


def composites() -> list[str]:
    """Names of the registered composite presets."""
    return sorted(_PRESETS)


def get_composite(name: str, **options: Any) -> Composite:
    """Build the preset ``name`` with ``options`` (for example ``low``/``high`` for z^B)."""
    try:
        factory = _PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown composite {name!r}; presets are: {', '.join(composites())}") from None
    composite = factory(**options)
    composite.name = name
    return composite


_CONV = Kind("conv", "conv_transpose")
_DENSE = Kind("dense")


def _first(flat: bool, low: Bound | None, high: Bound | None) -> list[tuple[Matcher, Any]]:
    if flat:
        return [(FirstLayer(), Flat())]
    return [(FirstLayer(), ZBox(low=low, high=high))]


@register_composite("epsilon")
def _epsilon(epsilon: float = 1e-6, relative: bool = True) -> Composite:
    return Composite([(Kind("dense", "conv", "conv_transpose"), Epsilon(epsilon, relative))])


@register_composite("lrp0")
def _lrp0() -> Composite:
    """LRP-0 everywhere, sums and pools included (equals gradient x input on ReLU networks)."""
    return Composite([(Kind("dense", "conv", "conv_transpose"), Epsilon(0.0)), (Kind("sum"), Norm(0.0))])


@register_composite("gamma")
def _gamma(gamma: float = 0.25) -> Composite:
    return Composite([(_CONV, Gamma(gamma=gamma)), (_DENSE, Gamma(gamma=gamma))])


@register_composite("zplus")
def _zplus() -> Composite:
    return Composite([(Kind("dense", "conv", "conv_transpose"), ZPlus())])


@register_composite("alpha1_beta0")
def _alpha1_beta0() -> Composite:
    return Composite([(Kind("dense", "conv", "conv_transpose"), AlphaBeta(alpha=1.0, beta=0.0))])


def _preset(conv_rule: Any, first: list[tuple[Matcher, Any]], epsilon: float) -> Composite:
    return Composite([*first, (_CONV, conv_rule), (_DENSE, Epsilon(epsilon))])


@register_composite("epsilon_plus")
def _epsilon_plus(epsilon: float = 1e-6) -> Composite:
    """z-plus on convolutions, epsilon on dense layers."""
    return _preset(ZPlus(), [], epsilon)


@register_composite("epsilon_plus_flat")
def _epsilon_plus_flat(epsilon: float = 1e-6) -> Composite:
    """Flat on the first layer, z-plus on convolutions, epsilon on dense layers."""
    return _preset(ZPlus(), _first(True, None, None), epsilon)


@register_composite("epsilon_gamma_box")
def _epsilon_gamma_box(low: Bound | None = None, high: Bound | None = None, gamma: float = 0.25, epsilon: float = 1e-6) -> Composite:
    """z^B on the first layer, gamma on convolutions, epsilon on dense layers.

    ``low``/``high`` bound the input; by default the minimum and maximum of the batch.
    """
    return _preset(Gamma(gamma=gamma), _first(False, low, high), epsilon)


@register_composite("epsilon_gamma_box_flat")
def _epsilon_gamma_flat(gamma: float = 0.25, epsilon: float = 1e-6) -> Composite:
    """Flat on the first layer, gamma on convolutions, epsilon on dense layers."""
    return _preset(Gamma(gamma=gamma), _first(True, None, None), epsilon)


@register_composite("epsilon_alpha2_beta1")
def _epsilon_alpha2_beta1(epsilon: float = 1e-6) -> Composite:
    """alpha2-beta1 on convolutions, epsilon on dense layers."""
    return _preset(AlphaBeta(2.0, 1.0), [], epsilon)


@register_composite("epsilon_alpha2_beta1_flat")
def _epsilon_alpha2_beta1_flat(epsilon: float = 1e-6) -> Composite:
    """Flat on the first layer, alpha2-beta1 on convolutions, epsilon on dense layers."""
    return _preset(AlphaBeta(2.0, 1.0), _first(True, None, None), epsilon)


@dataclass
class _LayerwiseComposite(Composite):
    """LRP-CMP: the lower fraction of convolutions gets gamma, the upper epsilon."""

    first: list[tuple[Matcher, Any]] = field(default_factory=list)
    lower_fraction: float = 0.5
    gamma: float = 0.25
    conv_epsilon: float = 0.25
    dense_epsilon: float = 1e-6

    def bind(self, model: Any) -> Composite:
        n_conv = 0
        if isinstance(model, nn.Module):
            n_conv = sum(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
        limit = max(1, round(self.lower_fraction * n_conv)) if n_conv else 1 << 30
        return Composite(
            [
                *self.first,
                (KindIndexBelow("conv", limit), Gamma(gamma=self.gamma)),
                (_CONV, Epsilon(self.conv_epsilon)),
                (_DENSE, Epsilon(self.dense_epsilon)),
            ],
            name=self.name,
        )


@register_composite("lrp_cmp")
def _lrp_cmp(
    low: Bound | None = None,
    high: Bound | None = None,
    lower_fraction: float = 0.5,
    gamma: float = 0.25,
    conv_epsilon: float = 0.25,
    dense_epsilon: float = 1e-6,
) -> Composite:
    """LRP-CMP (Kohlbrenner et al., 2020): z^B at the input, gamma on the lower convolutions,
    epsilon on the upper convolutions, LRP-0/epsilon on dense layers.

    ``lower_fraction`` of the model's convolution modules (in forward order) count as lower.
    """
    return _LayerwiseComposite(
        first=_first(False, low, high),
        lower_fraction=lower_fraction,
        gamma=gamma,
        conv_epsilon=conv_epsilon,
        dense_epsilon=dense_epsilon,
    )


@register_composite("lrp_cmp_flat")
def _lrp_cmp_flat(lower_fraction: float = 0.5, gamma: float = 0.25, conv_epsilon: float = 0.25, dense_epsilon: float = 1e-6) -> Composite:
    """LRP-CMP with the flat rule at the input."""
    return _LayerwiseComposite(
        first=_first(True, None, None),
        lower_fraction=lower_fraction,
        gamma=gamma,
        conv_epsilon=conv_epsilon,
        dense_epsilon=dense_epsilon,
    )


def as_composite(composite: str | Composite | None, **options: Any) -> Composite:
    """A composite from a preset name or object (``None``: ``epsilon_plus``)."""
    if composite is None:
        composite = "epsilon_plus"
    if isinstance(composite, str):
        return get_composite(composite, **options)
    if options:
        raise TypeError("composite options apply to preset names only; configure the Composite object instead")
    if not hasattr(composite, "rule_for"):
        raise TypeError(f"composite must be a preset name or a Composite, got {type(composite).__name__}")
    return composite
