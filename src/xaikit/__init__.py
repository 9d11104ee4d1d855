"""xaikit: explain deep networks and unsupervised models, and evaluate the explanations.

The entry point is :func:`explain`; every method returns an :class:`Explanation`.

Importing :mod:`xaikit` is cheap: each name below is imported on first use (PEP 562), so
``xaikit --help`` answers without loading torch. The method families register
themselves through the ``xaikit.methods`` entry-point group when a method is first
looked up by name (:mod:`xaikit.core.registry`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from xaikit._version import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time the names load on first use
    from xaikit import (
        analysis,
        attention,
        cli,
        concepts,
        datasets,
        demo,
        engine,
        evaluate,
        gradients,
        lrp,
        models,
        neon,
        perturbation,
        plot,
        report,
        store,
        utils,
    )
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
    from xaikit.store import explain_dataset

_SUBPACKAGES = frozenset({
    "analysis", "attention", "cli", "concepts", "datasets", "demo", "engine", "evaluate", "gradients", "lrp",
    "models", "neon", "perturbation", "plot", "report", "store", "utils",
})

#: Public names and the module each is imported from on first use.
_NAMES = {
    "explain": "xaikit.api",
    **dict.fromkeys(
        ("ClassTarget", "Explainer", "Explanation", "LogOdds", "NextToken", "OutputSelection",
         "Predicted", "get_method", "make_method", "methods", "register_method"),
        "xaikit.core",
    ),
    "register_plotter": "xaikit.core.hooks",
    "neuralize": "xaikit.neon",
    "explain_dataset": "xaikit.store",
}


def __getattr__(name: str) -> Any:
    """Import a subpackage or a public name on first use and keep it as an attribute."""
    if name in _SUBPACKAGES:
        value: Any = importlib.import_module(f"xaikit.{name}")
    elif name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    else:
        raise AttributeError(f"module 'xaikit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBPACKAGES, *_NAMES})


__all__ = [
    "ClassTarget",
    "Explainer",
    "Explanation",
    "LogOdds",
    "NextToken",
    "OutputSelection",
    "Predicted",
    "__version__",
    "analysis",
    "attention",
    "cli",
    "concepts",
    "datasets",
    "demo",
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
    "plot",
    "register_method",
    "register_plotter",
    "report",
    "store",
    "utils",
]
