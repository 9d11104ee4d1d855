"""The rule the registries of xaikit share: a name is taken once, and freed explicitly.

Registering an entry under a name that another entry holds raises ``ValueError``;
registering the same thing again (a module imported twice) replaces its entry.
Unregistering a name that is not registered raises ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def add_entry(table: dict[str, T], name: str, entry: T, same: Callable[[T], bool], what: str) -> None:
    """Store ``entry`` under ``name`` unless another entry holds the name.

    Parameters
    ----------
    table : dict
        The registry.
    name : str
        The name to register.
    entry
        What is stored.
    same : callable
        ``same(existing)`` tells whether the entry registered under ``name`` is the same
        thing being registered again (then ``entry`` replaces it).
    what : str
        What the registry holds, for the message (``"metric"``).
    """
    if name in table and not same(table[name]):
        raise ValueError(f"a {what} named {name!r} is already registered")
    table[name] = entry


def remove_entry(table: dict[str, Any], name: str, what: str) -> None:
    """Remove ``name`` from the registry ``table`` (``KeyError`` saying so if it is not there)."""
    if name not in table:
        raise KeyError(f"no {what} named {name!r} is registered")
    del table[name]
