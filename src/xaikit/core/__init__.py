"""Core types shared by every explainer: the result type, targets, the method registry."""

from xaikit.core.base import Attribution, Explainer
from xaikit.core.explanation import Explanation
from xaikit.core.registry import get_method, make_method, methods, register_method
from xaikit.core.targets import ClassTarget, LogOdds, OutputSelection, Predicted, Target, as_target

__all__ = [
    "Attribution",
    "ClassTarget",
    "Explainer",
    "Explanation",
    "LogOdds",
    "OutputSelection",
    "Predicted",
    "Target",
    "as_target",
    "get_method",
    "make_method",
    "methods",
    "register_method",
]
