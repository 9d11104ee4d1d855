"""Rules and their assignment: the layer between the propagation engine and the methods.

- Rules (:class:`Epsilon`, :class:`Gamma`, :class:`ZPlus`, ...) implement the engine's
  contract (:class:`xaikit.engine.LayerRule`, :class:`xaikit.engine.ElementwiseRule`).
- Matchers (:class:`Kind`, :class:`LayerType`, :class:`LayerName`, :class:`FirstLayer`,
  ...) select operations; a :class:`Composite` pairs them with rules and is checked at
  construction.
- Presets are named composites (:func:`composites`, :func:`get_composite`,
  :func:`register_composite`).
"""

from xaikit.engine.rule import ElementwiseRule, LayerRule, Rule
from xaikit.rules.composite import LRP_DEFAULTS, NATURAL, Composite
from xaikit.rules.elementwise import Norm, Pass
from xaikit.rules.linear import LRP0, AlphaBeta, Bound, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus
from xaikit.rules.matchers import (
    All,
    FirstLayer,
    Kind,
    KindIndexBelow,
    LayerName,
    LayerType,
    Matcher,
)
from xaikit.rules.presets import (
    as_composite,
    composite_options,
    composites,
    get_composite,
    register_composite,
    unregister_composite,
)
from xaikit.rules.products import ProductRule
from xaikit.rules.softmax import AttnLRPSoftmax, HeldConstant, RefuseSoftmax

__all__ = [
    "LRP0",
    "LRP_DEFAULTS",
    "NATURAL",
    "All",
    "AlphaBeta",
    "AttnLRPSoftmax",
    "Bound",
    "Composite",
    "ElementwiseRule",
    "Epsilon",
    "FirstLayer",
    "Flat",
    "Gamma",
    "HeldConstant",
    "Kind",
    "KindIndexBelow",
    "LayerName",
    "LayerRule",
    "LayerType",
    "Matcher",
    "Norm",
    "Pass",
    "ProductRule",
    "RefuseSoftmax",
    "Rule",
    "WSquare",
    "ZBox",
    "ZPlus",
    "as_composite",
    "composite_options",
    "composites",
    "get_composite",
    "register_composite",
    "unregister_composite",
]
