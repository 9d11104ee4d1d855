"""xaikit: explain deep networks and unsupervised models, and evaluate the explanations.

The entry point is :func:`explain`; every method returns an :class:`Explanation`.
"""

import importlib
from types import ModuleType

from xaikit import engine, evaluate, gradients, lrp, models, neon, perturbation, utils
from xaikit.api import explain
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
from xaikit.neon import neuralize

__version__ = "0.1.0"

_LAZY = ("cli", "datasets", "demo", "plot", "report")


def __getattr__(name: str) -> ModuleType:
    """Import the heavier subpackages (matplotlib, jinja2) on first use: ``xaikit.plot``."""
    if name in _LAZY:
        return importlib.import_module(f"xaikit.{name}")
    raise AttributeError(f"module 'xaikit' has no attribute {name!r}")

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
