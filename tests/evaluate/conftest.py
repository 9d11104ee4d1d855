"""Fixtures of the xaikit.evaluate tests: one torch thread (tiny models; no oversubscription)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Small models run fastest single-threaded (and the suite runs in parallel workers)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
