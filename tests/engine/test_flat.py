"""The engine's argument flattening agrees with torch's pytree on every argument structure."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils._pytree import tree_flatten

from xaikit.engine.flat import flatten, leaves, unflatten

_TENSOR = torch.zeros(2)
_atoms = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(), st.just(_TENSOR),
    st.just(torch.float64), st.just(slice(1, None)), st.just(Ellipsis), st.text(max_size=3),
)
_values = st.recursive(
    _atoms,
    lambda inner: st.one_of(
        st.tuples(inner, inner), st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=2), inner, max_size=2),
        st.lists(st.integers(0, 4), max_size=3).map(torch.Size),
    ),
    max_leaves=6,
)


def _same(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(x is y or x == y for x, y in zip(a, b))


@settings(max_examples=200, deadline=None)
@given(st.lists(_values, max_size=4), st.dictionaries(st.sampled_from(["dim", "out", "b", "a"]), _values, max_size=3))
def test_leaves_and_round_trip_match_pytree(args: list[Any], kwargs: dict[str, Any]) -> None:
    expected, _ = tree_flatten((list(args), dict(kwargs)))
    flat, spec = flatten(args, kwargs)
    assert _same(flat, expected)
    assert _same(leaves(args, kwargs), expected)
    rebuilt_args, rebuilt_kwargs = unflatten(flat, spec)
    assert _same(tree_flatten((rebuilt_args, rebuilt_kwargs))[0], expected)
    assert list(rebuilt_kwargs) == list(kwargs) and len(rebuilt_args) == len(args)
