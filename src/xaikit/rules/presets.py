"""Named composite presets and their registry (``composite="epsilon_plus"``).

Each preset is a factory whose keyword arguments are the options of its rules; every
preset accepts the options of every rule it uses, and unknown options raise
:class:`~xaikit.utils.options.OptionError` listing the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, cast

from torch import nn

from xaikit.core.registry import load_plugins
from xaikit.engine.kinds import LAYER_KINDS, OpKind
from xaikit.engine.units import GradientUnits
from xaikit.rules.composite import Composite
from xaikit.rules.elementwise import Norm
from xaikit.rules.linear import AlphaBeta, Bound, Epsilon, Flat, Gamma, ZBox, ZPlus
from xaikit.rules.matchers import FirstLayer, Kind, KindIndexBelow, Matcher
from xaikit.rules.products import ProductRule
from xaikit.rules.softmax import AttnLRPSoftmax, HeldConstant
from xaikit.utils.options import check_options, option_names
from xaikit.utils.registry import Registry

_PRESETS: Registry[Callable[..., Composite]] = Registry("composite")

_Factory = TypeVar("_Factory", bound=Callable[..., Composite])


def register_composite(name: str) -> Callable[[_Factory], _Factory]:
    """Register a composite factory under ``name`` (used by ``composite="name"``).

    The factory's keyword arguments are the preset's options.
    """

    decorate = _PRESETS.decorator(name, lambda factory: factory, lambda entry: entry)
    return cast("Callable[[_Factory], _Factory]", decorate)


def unregister_composite(name: str) -> None:
    """Remove the preset ``name`` (``KeyError`` if there is none)."""
    load_plugins()
    _PRESETS.remove(name)


def composites() -> list[str]:
    """Names of the registered composite presets (plug-ins loaded first)."""
    load_plugins()
    return sorted(_PRESETS.names())


def composite_options(name: str) -> list[str]:
    """The options the preset ``name`` accepts."""
    return option_names(_factory(name)) or []


def _factory(name: str) -> Callable[..., Composite]:
    if name not in _PRESETS.names():
        load_plugins()  # a plug-in (such as xaikit.neon's "neon") may register it
    return _PRESETS.get(name)


def get_composite(name: str, **options: Any) -> Composite:
    """Build the preset ``name`` with ``options`` (for example ``low``/``high`` for z^B)."""
    factory = _factory(name)
    composite = factory(**check_options(f"composite {name!r}", options, option_names(factory)))
    composite.name = name
    return composite


def as_composite(composite: str | Composite | None, **options: Any) -> Composite:
    """A composite from a preset name or object (``None``: ``epsilon_plus``)."""
    if composite is None:
        composite = "epsilon_plus"
    if isinstance(composite, str):
        return get_composite(composite, **options)
    if options:
        raise TypeError("composite options apply to preset names only; configure the Composite object instead")
    if not isinstance(composite, Composite):
        raise TypeError(f"composite must be a preset name or a xaikit.rules.Composite, got {type(composite).__name__}")
    return composite


_LAYERS = Kind(*LAYER_KINDS)
_CONV = Kind(OpKind.CONV, OpKind.CONV_TRANSPOSE)
_DENSE = Kind(OpKind.DENSE)


def _first(flat: bool, low: Bound | None, high: Bound | None, relative: bool) -> list[tuple[Matcher, Any]]:
    if flat:
        return [(FirstLayer(), Flat(relative=relative))]
    return [(FirstLayer(), ZBox(low=low, high=high, relative=relative))]


@register_composite("epsilon")
def _epsilon(epsilon: float = 1e-6, relative: bool = True) -> Composite:
    """LRP-epsilon on every layer."""
    return Composite([(_LAYERS, Epsilon(epsilon, relative))])


def _attention_rules(epsilon: float, relative: bool, softmax: Any) -> list[tuple[Matcher, Any]]:
    """Epsilon on layers, sums and products alike (one stabilizer), and the preset's softmax rule."""
    return [
        (_LAYERS, Epsilon(epsilon, relative)),
        (Kind(OpKind.SUM), Norm(epsilon, relative)),
        (Kind(OpKind.PRODUCT), ProductRule(epsilon, relative)),
        (Kind(OpKind.SOFTMAX), softmax),
    ]


def _attention_composite(epsilon: float, relative: bool, softmax: Any, gradient_units: bool) -> Composite:
    units = GradientUnits(epsilon, relative) if gradient_units else None
    return Composite(_attention_rules(epsilon, relative, softmax), units=units)


@register_composite("attnlrp")
def _attnlrp(epsilon: float = 1e-6, relative: bool = True, gradient_units: bool = True) -> Composite:
    """AttnLRP (Achtibat et al., 2024): epsilon on layers, AttnLRP's softmax rule, products split uniformly.

    Gates and normalizing statistics multiplying a signal are held constant; layer and
    RMS norm keep their statistics constant; GELU and SiLU pass relevance through.
    With ``gradient_units`` (the default) relevance is carried as value x gradient (the
    paper's efficient form, :mod:`xaikit.engine.units`): the memory of a plain gradient,
    linear maps in the limit ``epsilon -> 0`` and ``epsilon`` stabilizing the activations;
    ``False`` applies the epsilon rule at every linear map and sum.
    """
    return _attention_composite(epsilon, relative, AttnLRPSoftmax(), gradient_units)


@register_composite("cp_lrp")
def _cp_lrp(epsilon: float = 1e-6, relative: bool = True, gradient_units: bool = True) -> Composite:
    """CP-LRP (Ali et al., 2022): the attention weights are held constant; epsilon elsewhere.

    Relevance reaches the values through the attention-weighted sum and none enters the
    queries and keys: on a bias-free model relevance is conserved (up to epsilon).
    ``gradient_units`` as for ``attnlrp``.
    """
    return _attention_composite(epsilon, relative, HeldConstant(), gradient_units)


@register_composite("lrp0")
def _lrp0() -> Composite:
    """LRP-0 everywhere, sums and pools included (equals gradient x input on ReLU networks)."""
    return Composite([(_LAYERS, Epsilon(0.0)), (Kind(OpKind.SUM), Norm(0.0))])


@register_composite("gamma")
def _gamma(gamma: float = 0.25, signed: bool = True, relative: bool = True) -> Composite:
    """LRP-gamma on every layer."""
    rule = Gamma(gamma=gamma, signed=signed, relative=relative)
    return Composite([(_CONV, rule), (_DENSE, rule)])


@register_composite("zplus")
def _zplus(bias: bool = True, signed: bool = True, relative: bool = True) -> Composite:
    """z-plus on every layer."""
    return Composite([(_LAYERS, ZPlus(bias=bias, signed=signed, relative=relative))])


@register_composite("alpha1_beta0")
def _alpha1_beta0(bias: bool = True, signed: bool = True, relative: bool = True) -> Composite:
    """alpha1-beta0 on every layer (z-plus)."""
    return Composite([(_LAYERS, AlphaBeta(alpha=1.0, beta=0.0, bias=bias, signed=signed, relative=relative))])


def _preset(conv_rule: Any, first: list[tuple[Matcher, Any]], epsilon: float, relative: bool) -> Composite:
    return Composite([*first, (_CONV, conv_rule), (_DENSE, Epsilon(epsilon, relative))])


@register_composite("epsilon_plus")
def _epsilon_plus(epsilon: float = 1e-6, relative: bool = True, bias: bool = True, signed: bool = True) -> Composite:
    """z-plus on convolutions, epsilon on dense layers."""
    return _preset(ZPlus(bias=bias, signed=signed, relative=relative), [], epsilon, relative)


@register_composite("epsilon_plus_flat")
def _epsilon_plus_flat(epsilon: float = 1e-6, relative: bool = True, bias: bool = True, signed: bool = True) -> Composite:
    """Flat on the first layer, z-plus on convolutions, epsilon on dense layers."""
    return _preset(ZPlus(bias=bias, signed=signed, relative=relative), _first(True, None, None, relative), epsilon, relative)


@register_composite("epsilon_gamma_box")
def _epsilon_gamma_box(
    low: Bound | None = None,
    high: Bound | None = None,
    gamma: float = 0.25,
    epsilon: float = 1e-6,
    relative: bool = True,
    signed: bool = True,
) -> Composite:
    """z^B on the first layer, gamma on convolutions, epsilon on dense layers.

    ``low``/``high`` bound the input (the data range, for example 0 and 1 for images in
    [0, 1]); by default each sample's own minimum and maximum.
    """
    return _preset(Gamma(gamma=gamma, signed=signed, relative=relative), _first(False, low, high, relative), epsilon, relative)


@register_composite("epsilon_gamma_box_flat")
def _epsilon_gamma_flat(gamma: float = 0.25, epsilon: float = 1e-6, relative: bool = True, signed: bool = True) -> Composite:
    """Flat on the first layer, gamma on convolutions, epsilon on dense layers."""
    return _preset(Gamma(gamma=gamma, signed=signed, relative=relative), _first(True, None, None, relative), epsilon, relative)


@register_composite("epsilon_alpha2_beta1")
def _epsilon_alpha2_beta1(epsilon: float = 1e-6, relative: bool = True, bias: bool = True, signed: bool = True) -> Composite:
    """alpha2-beta1 on convolutions, epsilon on dense layers."""
    return _preset(AlphaBeta(2.0, 1.0, bias=bias, signed=signed, relative=relative), [], epsilon, relative)


@register_composite("epsilon_alpha2_beta1_flat")
def _epsilon_alpha2_beta1_flat(
    epsilon: float = 1e-6, relative: bool = True, bias: bool = True, signed: bool = True
) -> Composite:
    """Flat on the first layer, alpha2-beta1 on convolutions, epsilon on dense layers."""
    rule = AlphaBeta(2.0, 1.0, bias=bias, signed=signed, relative=relative)
    return _preset(rule, _first(True, None, None, relative), epsilon, relative)


@dataclass
class _LayerwiseComposite(Composite):
    """LRP-CMP: the lower fraction of convolutions gets the rule ``lower``, the upper ``upper``.

    ``first`` applies at the input and ``dense`` on dense layers.
    """

    first: list[tuple[Matcher, Any]] = field(default_factory=list)
    lower_fraction: float = 0.5
    lower: Any = None
    upper: Any = None
    dense: Any = None

    def bind(self, model: Any) -> Composite:
        n_conv = 0
        if isinstance(model, nn.Module):
            n_conv = sum(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
        limit = max(1, round(self.lower_fraction * n_conv)) if n_conv else 1 << 30
        return Composite(
            [*self.first, (KindIndexBelow(OpKind.CONV, limit), self.lower), (_CONV, self.upper), (_DENSE, self.dense)],
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
    relative: bool = True,
    signed: bool = True,
) -> _LayerwiseComposite:
    """LRP-CMP (Kohlbrenner et al., 2020): z^B at the input, gamma on the lower convolutions,
    epsilon on the upper convolutions, LRP-0/epsilon on dense layers.

    ``lower_fraction`` of the model's convolution modules (in forward order) count as lower.
    """
    return _LayerwiseComposite(
        first=_first(False, low, high, relative),
        lower_fraction=lower_fraction,
        lower=Gamma(gamma=gamma, signed=signed, relative=relative),
        upper=Epsilon(conv_epsilon, relative),
        dense=Epsilon(dense_epsilon, relative),
    )


@register_composite("lrp_cmp_flat")
def _lrp_cmp_flat(
    lower_fraction: float = 0.5,
    gamma: float = 0.25,
    conv_epsilon: float = 0.25,
    dense_epsilon: float = 1e-6,
    relative: bool = True,
    signed: bool = True,
) -> Composite:
    """LRP-CMP with the flat rule at the input."""
    composite = _lrp_cmp(None, None, lower_fraction, gamma, conv_epsilon, dense_epsilon, relative, signed)
    return replace(composite, first=_first(True, None, None, relative))
