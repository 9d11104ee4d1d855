"""Shared fixtures of the NEON tests."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _single_thread() -> Iterator[None]:
    """Run each NEON test module single-threaded (torch and BLAS/OpenMP), restored after.

    The tests use small tensors, for which thread start-up dominates; on a loaded 2-core
    machine multi-threaded kernels spin and slow the suite down several-fold.
    """
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def blobs() -> np.ndarray:
    """Four well separated Gaussian blobs in 5 dimensions (float64)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(4, 5))
    return np.concatenate([c + rng.normal(size=(40, 5)) for c in centres])
