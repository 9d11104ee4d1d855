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
    key = name.lower()
    if key not in _REGISTRY:
        raise KeyError(f"no method named {name!r} is registered")
    del _REGISTRY[key]
    for alias in [a for a, k in _ALIASES.items() if k == key]:
        del _ALIASES[alias]


def get_method(name: str) -> type[Explainer]:
    """The explainer class registered under ``name`` (or one of its aliases)."""
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
