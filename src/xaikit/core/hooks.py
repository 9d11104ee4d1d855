"""Hooks that let higher layers serve the core types without core importing them.

The layers of the package point one way (engine <- rules <- method families <- evaluate
<- plot/report/cli/demo); :mod:`xaikit.core` imports none of the layers above it, not
even lazily. :meth:`xaikit.Explanation.plot` therefore draws through a *plotter*
registered here:

- :mod:`xaikit.plot` registers :func:`xaikit.plot.plot_explanation` when it is imported;
- when none is registered, :func:`get_plotter` loads the first plotter of the
  ``xaikit.plotters`` entry-point group (xaikit's own is ``xaikit.plot:plot_explanation``),
  so ``explanation.plot()`` works without importing matplotlib up front.

Any other plotting backend may register itself with :func:`register_plotter`, or
through that entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Plotter", "get_plotter", "register_plotter"]

#: ``plotter(explanation, index, **kwargs) -> figure``.
Plotter = Callable[..., Any]

_PLOTTER: Plotter | None = None

#: The entry-point group of plotting backends (``name = "module:function"``).
ENTRY_POINT_GROUP = "xaikit.plotters"


def register_plotter(plotter: Plotter, *, replace: bool = True) -> Plotter | None:
    """Make ``plotter`` draw :meth:`xaikit.Explanation.plot`.

    Parameters
    ----------
    plotter : callable
        Called as ``plotter(explanation, index, **kwargs)``; returns the figure.
    replace : bool
        Replace a plotter registered before (``True``) or keep it (``False``: register
        ``plotter`` only when none is registered, for defaults).

    Returns
    -------
    callable or None
        The plotter registered before the call.
    """
    global _PLOTTER
    if not callable(plotter):
        raise TypeError(f"a plotter must be callable, got {type(plotter).__name__}")
    previous = _PLOTTER
    if replace or previous is None:
        _PLOTTER = plotter
    return previous


def get_plotter() -> Plotter:
    """The registered plotter.

    Raises
    ------
    RuntimeError
        When no plotter is registered (``xaikit.plot`` was never imported and the
        package root did not install its default).
    """
    if _PLOTTER is None:
        _load_entry_point()
    if _PLOTTER is None:
        raise RuntimeError(
            "no plotting backend is registered for Explanation.plot; import xaikit.plot "
            "(needs matplotlib) or register one with xaikit.core.hooks.register_plotter"
        )
    return _PLOTTER


def _load_entry_point() -> None:
    """Register the first loadable plotter of the ``xaikit.plotters`` group (by name)."""
    from importlib.metadata import entry_points

    errors = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            plotter = entry.load()
        except ImportError as error:
            errors.append(f"{entry.value}: {error}")
            continue
        register_plotter(plotter, replace=False)  # importing it may have registered it already
        return
    if errors:
        raise ImportError(
            f"Explanation.plot could not load a plotting backend ({'; '.join(errors)}); install matplotlib"
        )
