"""The propagation engine shared by LRP and other modified-backward methods."""

from xaikit.engine.custom import Gradient, explainable
from xaikit.engine.dispatch import Propagation
from xaikit.engine.errors import ModelModeError, UnsupportedOperationError
from xaikit.engine.graft import graft, relevance_ratio, safe_reciprocal, stabilize, times_input
from xaikit.engine.layer import LayerInfo, LinearOp, clear_weight_cache
from xaikit.engine.ops import register_operation, supported_operations

__all__ = [
    "Gradient",
    "LayerInfo",
    "LinearOp",
    "ModelModeError",
    "Propagation",
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
]
