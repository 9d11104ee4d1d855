"""Process-wide options that a block of code can override temporarily."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

__all__ = ["Setting"]

T = TypeVar("T")


class Setting(Generic[T]):
    """One process-wide option: read :attr:`value`, change it with :meth:`set` or, for a block, :meth:`override`.

    Parameters
    ----------
    default : object
        The starting value.

    Examples
    --------
    >>> flag = Setting(True)
    >>> with flag.override(False):
    ...     flag.value
    False
    >>> flag.value
    True
    """

    def __init__(self, default: T) -> None:
        self.value = default

    def set(self, value: T) -> None:
        """Change the value for the rest of the process."""
        self.value = value

    @contextmanager
    def override(self, value: T) -> Iterator[None]:
        """Use ``value`` inside the block, then restore the previous value (also after an exception)."""
        before = self.value
        self.value = value
        try:
            yield
        finally:
            self.value = before
