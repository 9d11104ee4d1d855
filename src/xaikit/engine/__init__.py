"""The propagation engine shared by LRP and other modified-backward methods.

Its contract with rules: :class:`OpKind` names the kinds of operation,
:class:`LayerRule` and :class:`ElementwiseRule` are what a rule implements (and declare
the kinds they serve), :class:`LinearOp` and :class:`OpCall` are what a rule receives.
"""

from xaikit.engine.call import OpCall
from xaikit.engine.composite_protocol import RuleProvider
from xaikit.engine.custom import explainable
from xaikit.engine.dispatch import Propagation
from xaikit.engine.errors import ModelModeError, UnsupportedOperationError
from xaikit.engine.gradient import Gradient
from xaikit.engine.graft import graft, relevance_ratio, safe_reciprocal, stabilize, times_input
from xaikit.engine.kinds import ALL_KINDS, ELEMENTWISE_KINDS, LAYER_KINDS, OpKind
from xaikit.engine.layer import LayerInfo, LinearOp, clear_weight_cache
from xaikit.engine.ops import register_operation, supported_operations, unregister_operation
from xaikit.engine.rule import ElementwiseRule, LayerRule, Rule
from xaikit.engine.units import GradientUnits

__all__ = [
    "ALL_KINDS",
    "ELEMENTWISE_KINDS",
    "LAYER_KINDS",
    "ElementwiseRule",
    "Gradient",
    "GradientUnits",
    "LayerInfo",
    "LayerRule",
    "LinearOp",
    "ModelModeError",
    "OpCall",
    "OpKind",
    "Propagation",
    "Rule",
    "RuleProvider",
    "UnsupportedOperationError",
    "clear_weight_cache",
    "explainable",
    "graft",
    "register_operation",
    "relevance_ratio",
    "safe_reciprocal",
    "stabilize",
    "supported_operations",
    "times_input",
    "unregister_operation",
]
