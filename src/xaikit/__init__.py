"""xaikit: explain deep networks and unsupervised models, and evaluate the explanations.

The entry point is :func:`explain`; every method returns an :class:`Explanation`.
"""

import importlib
from typing import Any

from xaikit import attention, engine, evaluate, gradients, lrp, models, neon, perturbation, utils
from xaikit._version import __version__
from xaikit.api import explain
from xaikit.core import (
    ClassTarget,
    Explainer,
    Explanation,
    LogOdds,
    NextToken,
    OutputSelection,
    Predicted,
    get_method,
    make_method,
    methods,
    register_method,
)
from xaikit.core.hooks import register_plotter
from xaikit.neon import neuralize

_LAZY = ("analysis", "cli", "datasets", "demo", "plot", "report", "store")
#: Functions of the lazy subpackages offered at the top: ``xaikit.explain_dataset``.
_LAZY_FUNCTIONS = {"explain_dataset": "store"}


def _plot_on_first_use(explanation: Explanation, index: int = 0, **kwargs: Any) -> Any:
    """Default plotter of ``Explanation.plot``: import :mod:`xaikit.plot` (matplotlib) now.

    Importing ``xaikit.plot`` registers its ``plot_explanation`` in :mod:`xaikit.core.hooks`,
    replacing this function; the core itself never imports the plotting layer.
    """
    try:
        plot = importlib.import_module("xaikit.plot")
    except ImportError as error:
        raise ImportError(
            f"Explanation.plot needs xaikit.plot, which could not be imported ({error}); "
            "install matplotlib"
        ) from error
    return plot.plot_explanation(explanation, index, **kwargs)


register_plotter(_plot_on_first_use, replace=False)  # keeps xaikit.plot's if imported already


def __getattr__(name: str) -> Any:
    """Import the heavier subpackages on first use: ``xaikit.plot`` (matplotlib),
    ``xaikit.store`` and ``xaikit.explain_dataset`` (zarr)."""
    if name in _LAZY:
        return importlib.import_module(f"xaikit.{name}")
    if name in _LAZY_FUNCTIONS:
        return getattr(importlib.import_module(f"xaikit.{_LAZY_FUNCTIONS[name]}"), name)
    raise AttributeError(f"module 'xaikit' has no attribute {name!r}")


__all__ = [
    "ClassTarget",
    "Explainer",
    "Explanation",
    "LogOdds",
    "NextToken",
    "OutputSelection",
    "Predicted",
    "__version__",
    "attention",
    "engine",
    "evaluate",
    "explain",
    "explain_dataset",
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
