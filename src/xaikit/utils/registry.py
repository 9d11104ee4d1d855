"""The rule the registries of xaikit share: a name is taken once, and freed explicitly.

Registering an entry under a name that another entry holds raises ``ValueError``;
registering the same thing again (a module imported twice) replaces its entry.
Unregistering a name that is not registered raises ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])

__all__ = ["Registry"]


class Registry(Generic[T]):
    """Entries of one kind by name, in registration order.

    Parameters
    ----------
    what : str
        What the registry holds, for the messages (``"metric"``).
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T, same: Callable[[T], bool]) -> None:
        """Store ``entry`` under ``name`` unless another entry holds the name.

        ``same(existing)`` tells whether the entry registered under ``name`` is the same
        thing being registered again (then ``entry`` replaces it).
        """
        if name in self._entries and not same(self._entries[name]):
            raise ValueError(f"a {self.what} named {name!r} is already registered")
        self._entries[name] = entry

    def decorator(
        self, name: str, make_entry: Callable[[F], T], registered: Callable[[T], object]
    ) -> Callable[[F], F]:
        """A decorator storing ``make_entry(function)`` under ``name`` and returning the function.

        ``registered(entry)`` is the function an existing entry was made from: the same
        function registered again replaces its entry.
        """

        def decorate(function: F) -> F:
            self.add(name, make_entry(function), lambda existing: registered(existing) is function)
            return function

        return decorate

    def remove(self, name: str) -> None:
        """Remove ``name`` (``KeyError`` saying so if it is not registered)."""
        if name not in self._entries:
            raise KeyError(f"no {self.what} named {name!r} is registered")
        del self._entries[name]

    def get(self, name: str) -> T:
        """The entry ``name``; ``ValueError`` listing the registered names otherwise."""
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(f"unknown {self.what} {name!r}; available: {', '.join(self._entries)}") from None

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
