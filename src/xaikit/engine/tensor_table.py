"""A table keyed by tensor identity that forgets a tensor when it is freed.

What :class:`torch.utils.weak.WeakTensorKeyDictionary` does, for the engine's hot path:
a lookup there builds a weak reference and compares two in Python; here it is one dict
lookup by ``id`` and one dereference. An entry is removed by the key's weak-reference
callback, which runs before the key's memory (and so its ``id``) can be reused.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from torch import Tensor

__all__ = ["TensorTable"]

V = TypeVar("V")


class TensorTable(Generic[V]):
    """``tensor -> value`` by identity, holding the tensors weakly."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[Tensor], V]] = {}

    def _forget(self, key: int) -> Callable[[weakref.ref[Tensor]], None]:
        entries = self._entries

        def forget(ref: weakref.ref[Tensor]) -> None:
            entry = entries.get(key)
            if entry is not None and entry[0] is ref:
                del entries[key]

        return forget

    def __setitem__(self, tensor: Tensor, value: V) -> None:
        key = id(tensor)
        entry = self._entries.get(key)
        ref = entry[0] if entry is not None and entry[0]() is tensor else weakref.ref(tensor, self._forget(key))
        self._entries[key] = (ref, value)

    def get(self, tensor: object, default: V | None = None) -> V | None:
        entry = self._entries.get(id(tensor))
        if entry is None or entry[0]() is not tensor:
            return default
        return entry[1]

    def __getitem__(self, tensor: Tensor) -> V:
        entry = self._entries.get(id(tensor))
        if entry is None or entry[0]() is not tensor:
            raise KeyError(f"tensor {tuple(tensor.shape)} is not in the table")
        return entry[1]

    def __contains__(self, tensor: object) -> bool:
        entry = self._entries.get(id(tensor))
        return entry is not None and entry[0]() is tensor

    def __len__(self) -> int:
        return len(self._entries)
