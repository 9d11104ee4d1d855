"""Derived weights (``w^+``, ``w + gamma w^+``, ...) cached by the rule that derives them.

A rule derives its modified weights from the parameters the model passed to a layer. The
cache lives in the rule object and is keyed by the parameter tensor itself, with a
fingerprint of everything that could make the cached value stale: the explanation call
(each :class:`~xaikit.engine.Propagation` run is a new *generation*), the parameter's
storage pointer, version counter, dtype, device, shape and strides. So weights written
through ``.data`` (which bypasses the version counter), ``model.double()``, ``.to(device)``
and ``load_state_dict`` can never leave a stale derived weight: within one explanation a
parameter is transformed once, and a new explanation derives afresh.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable
from typing import Any

from torch import Tensor
from torch.utils.weak import WeakTensorKeyDictionary

_GENERATIONS = itertools.count(1)


def new_generation() -> int:
    """A number never returned before: the generation of one explanation call."""
    return next(_GENERATIONS)


def fingerprint(tensor: Tensor, generation: int) -> tuple[Hashable, ...]:
    """What identifies ``tensor``'s current values within the explanation ``generation``."""
    return (generation, tensor.data_ptr(), tensor._version, tensor.dtype, tensor.device, tuple(tensor.shape), tensor.stride())


class DerivedWeights:
    """A cache of transformed parameters, owned by one rule object.

    Keys are the parameter tensors (held weakly) and the transform; entries are reused
    only while the parameter's :func:`fingerprint` is unchanged.
    """

    def __init__(self) -> None:
        self._store: WeakTensorKeyDictionary = WeakTensorKeyDictionary()

    def get(self, source: Tensor | None, tensor: Tensor, transform: Callable[[Tensor], Tensor], generation: int) -> Tensor:
        """``transform(tensor)``, cached under ``source`` (the model's parameter; ``None``: not cached)."""
        if source is None or generation == 0:
            return transform(tensor)
        per_source: dict[Any, tuple[tuple[Hashable, ...], Tensor]] | None = self._store.get(source)
        if per_source is None:
            per_source = {}
            self._store[source] = per_source
        key = fingerprint(source, generation)
        hit = per_source.get(transform)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = transform(tensor)
        per_source[transform] = (key, value)
        return value

    def __len__(self) -> int:
        return len(self._store)
