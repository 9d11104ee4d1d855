"""A registry of explanation methods, reachable by name."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, TypeVar

from xaikit.utils.errors import InputError
from xaikit.utils.options import call_with_options

if TYPE_CHECKING:
    from xaikit.core.base import Explainer

_REGISTRY: dict[str, type[Explainer]] = {}
_ALIASES: dict[str, str] = {}

#: The entry-point group through which packages register methods: each entry names a
#: module whose import registers its methods (and composites, :mod:`xaikit.rules.presets`). xaikit's own families (``xaikit.lrp``,
#: ``xaikit.gradients``, ...) are registered the same way as any plug-in, so importing
#: :mod:`xaikit` stays cheap and no core module imports the layers above it.
ENTRY_POINT_GROUP = "xaikit.methods"
_PLUGINS_LOADED = False


def load_plugins() -> None:
    """Import every module of the ``xaikit.methods`` entry-point group, once.

    Called before a name is looked up or the methods are listed. A plug-in that fails to
    import is reported with a warning and skipped; the others still load.
    """
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    import warnings
    from importlib.metadata import entry_points

    found = entry_points(group=ENTRY_POINT_GROUP)
    if not found:
        warnings.warn(
            "no xaikit method families are registered: xaikit is not installed as a package "
            "(run `pip install -e .` in its clone), so only methods registered in this process exist",
            RuntimeWarning, stacklevel=3,
        )
    for entry in sorted(found, key=lambda e: e.name):
        try:
            entry.load()
        except Exception as error:  # a broken plug-in must not take the others down
            warnings.warn(
                f"xaikit method plug-in {entry.name!r} ({entry.value}) failed to import: {error}",
                RuntimeWarning, stacklevel=3,
            )

E = TypeVar("E", bound="type[Explainer]")


def register_method(name: str, *, aliases: tuple[str, ...] = ()) -> Any:
    """Class decorator registering an :class:`~xaikit.core.base.Explainer` under ``name``.

    Parameters
    ----------
    name : str
        The name users pass as ``xaikit.explain(..., method=name)``.
    aliases : tuple of str
        Other accepted names.
    """

    def decorate(cls: E) -> E:
        key = name.lower()
        if key in _REGISTRY and _REGISTRY[key] is not cls:
            raise ValueError(f"a method named {name!r} is already registered ({_REGISTRY[key]!r})")
        _REGISTRY[key] = cls
        cls.name = key
        for alias in aliases:
            _ALIASES[alias.lower()] = key
        return cls

    return decorate


def unregister_method(name: str) -> None:
    """Remove the method ``name`` and its aliases (``KeyError`` if it is not registered)."""
    load_plugins()
    key = name.lower()
    if key not in _REGISTRY:
        raise KeyError(f"no method named {name!r} is registered")
    del _REGISTRY[key]
    for alias in [a for a, k in _ALIASES.items() if k == key]:
        del _ALIASES[alias]


def get_method(name: str) -> type[Explainer]:
    """The explainer class registered under ``name`` (or one of its aliases)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in _REGISTRY:
        load_plugins()
        key = _ALIASES.get(name.lower(), name.lower())
    try:
        return _REGISTRY[key]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise InputError(
            f"unknown explanation method {name!r}; registered methods are: {known}. "
            "See xaikit.methods() for their options."
        ) from None


def make_method(name: str, **options: Any) -> Explainer:
    """Instantiate the explainer registered under ``name`` with ``options``."""
    cls = get_method(name)
    return call_with_options(f"method {cls.name!r}", cls, options)


def methods(details: bool = False) -> list[str] | dict[str, dict[str, Any]]:
    """Names of all registered methods.

    Parameters
    ----------
    details : bool
        If true, return a mapping from each name to its one-line summary and options
        with their defaults.
    """
    load_plugins()
    if not details:
        return sorted(_REGISTRY)
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(_REGISTRY):
        cls = _REGISTRY[key]
        params = inspect.signature(cls.__init__).parameters
        options = {
            p.name: (None if p.default is inspect.Parameter.empty else p.default)
            for p in params.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        }
        doc = (cls.__doc__ or "").strip().splitlines()
        out[key] = {
            "summary": doc[0] if doc else "",
            "options": options,
            "aliases": sorted(a for a, k in _ALIASES.items() if k == key),
        }
    return out
