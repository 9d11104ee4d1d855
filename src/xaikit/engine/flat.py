"""The tensors in a call's arguments, found without pytree's cost in the common case.

The engine looks at the arguments of every torch call the model makes; most are tensors
and plain numbers, sometimes a shape or an index tuple. :func:`flatten` and :func:`leaves`
handle those directly and hand anything else (nested containers, named tuples, registered
pytree nodes such as Hugging Face ``ModelOutput``) to :mod:`torch.utils._pytree`, with the
same leaves in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils._pytree import TreeSpec, tree_flatten

__all__ = ["FlatSpec", "bind", "flatten", "leaves", "unflatten"]

_ATOMS = frozenset(
    {int, float, bool, complex, str, type(None), type(Ellipsis), slice, torch.dtype, torch.device, torch.layout,
     torch.memory_format}
)
_SEQUENCES = frozenset({tuple, list, torch.Size})


def _atom(value: Any) -> bool:
    return isinstance(value, Tensor) or type(value) in _ATOMS


@dataclass(frozen=True)
class FlatSpec:
    """The layout of arguments that are all leaves: ``count`` positional, then the keywords ``keys``."""

    count: int
    keys: tuple[str, ...]


def flatten(args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[list[Any], FlatSpec | TreeSpec]:
    """The leaves of ``(list(args), dict(kwargs))`` and how to rebuild them (:func:`unflatten`)."""
    if all(_atom(a) for a in args) and all(_atom(v) for v in kwargs.values()):
        return [*args, *kwargs.values()], FlatSpec(len(args), tuple(kwargs))
    return tree_flatten((list(args), dict(kwargs)))


def unflatten(values: Sequence[Any], spec: FlatSpec | TreeSpec) -> tuple[list[Any], dict[str, Any]]:
    """The positional and keyword arguments of :func:`flatten`'s ``spec`` holding ``values``."""
    if isinstance(spec, FlatSpec):
        return list(values[: spec.count]), dict(zip(spec.keys, values[spec.count :]))
    a, k = spec.unflatten(list(values))
    return list(a), dict(k)


def leaves(args: Sequence[Any], kwargs: dict[str, Any]) -> list[Any]:
    """The leaves of ``(args, kwargs)`` in pytree order (one level of shape or index tuples inline)."""
    out: list[Any] = []
    for value in (*args, *kwargs.values()):
        if _atom(value):
            out.append(value)
        elif type(value) in _SEQUENCES and all(_atom(v) for v in value):
            out.extend(value)
        else:
            return list(tree_flatten((args, kwargs))[0])
    return out


def bind(names: Sequence[str], args: Sequence[Any], kwargs: dict[str, Any], op: str) -> dict[str, Any]:
    """The arguments of a call of ``op`` by parameter name, positional ones first.

    ``TypeError`` for too many positional arguments and for unknown or repeated names.
    """
    if len(args) > len(names):
        raise TypeError(f"{op}() takes {len(names)} arguments but {len(args)} were given")
    bound = dict(zip(names, args))
    for name, value in kwargs.items():
        if name not in names or name in bound:
            raise TypeError(f"{op}() got an unexpected or repeated argument {name!r}")
        bound[name] = value
    return bound
