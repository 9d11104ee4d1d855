"""Core types shared by every explainer: the result type, targets, the method registry."""

from xaikit.core.base import Attribution, Explainer
from xaikit.core.explanation import Explanation
from xaikit.core.explanation_file import ExplanationFileError
from xaikit.core.hooks import register_plotter
from xaikit.core.registry import (
    get_method,
    make_method,
    methods,
    register_method,
    unregister_method,
)
from xaikit.core.targets import ClassTarget, LogOdds, OutputSelection, Predicted, Target, as_target
from xaikit.core.wrappers import NextToken

__all__ = [
    "Attribution",
    "ClassTarget",
    "Explainer",
    "Explanation",
    "ExplanationFileError",
    "LogOdds",
    "NextToken",
    "OutputSelection",
    "Predicted",
    "Target",
    "as_target",
    "get_method",
    "make_method",
    "methods",
    "register_method",
    "register_plotter",
    "unregister_method",
]
