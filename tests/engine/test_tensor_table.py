"""The engine's tensor table: identity keys, weakly held, entries gone with their tensors."""

from __future__ import annotations

import gc

import pytest
import torch

from xaikit.engine.tensor_table import TensorTable


def test_keys_are_identities_not_values() -> None:
    table: TensorTable[str] = TensorTable()
    a, b = torch.zeros(3), torch.zeros(3)
    table[a] = "a"
    assert a in table and b not in table and 0 not in table
    assert table.get(b) is None and table.get(b, "none") == "none"
    assert table[a] == "a"
    table[a] = "again"
    assert table[a] == "again" and len(table) == 1
    with pytest.raises(KeyError):
        table[b]


def test_an_entry_goes_with_its_tensor_and_a_reused_id_is_not_confused() -> None:
    table: TensorTable[int] = TensorTable()
    kept = [torch.ones(2) for _ in range(5)]
    for i, t in enumerate(kept):
        table[t] = i
    for i in range(200):  # freed at once: their ids are reused by the next tensors
        table[torch.full((2,), float(i))] = -1
    gc.collect()
    assert len(table) == len(kept)
    fresh = [torch.ones(2) for _ in range(50)]
    assert all(t not in table for t in fresh)
    assert [table[t] for t in kept] == list(range(5))
