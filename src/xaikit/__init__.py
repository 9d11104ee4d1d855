"""xaikit: explain deep networks and unsupervised models, and evaluate the explanations.

The entry point is :func:`explain`; every method returns an :class:`Explanation`.
"""

from xaikit import engine, evaluate, gradients, lrp, models, neon, perturbation, utils
from xaikit.api import explain
from xaikit.neon import neuralize
from xaikit.core import (
    ClassTarget,
    Explainer,
    Explanation,
    LogOdds,
    OutputSelection,
    Predicted,
    get_method,
    make_method,
    methods,
    register_method,
)

__version__ = "0.1.0"

__all__ = [
    "ClassTarget",
    "Explainer",
    "Explanation",
    "LogOdds",
    "OutputSelection",
    "Predicted",
    "__version__",
    "engine",
    "evaluate",
    "explain",
    "get_method",
    "gradients",
    "lrp",
    "make_method",
    "methods",
    "models",
    "neon",
    "neuralize",
    "perturbation",
    "register_method",
    "utils",
]
