"""Test-session settings: one math thread per test process, a fixed random state per test.

The suite runs with two xdist workers on two cores; more threads per worker oversubscribe
the cores and make small forward passes many times slower.

Each test starts from the same global random state (torch, NumPy, random), so that a test
drawing unseeded random inputs sees the same inputs whichever tests ran before it in its
worker. The library itself never touches the global state; tests check that separately.
"""

import random
from collections.abc import Iterator

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _fixed_global_random_state() -> Iterator[None]:
    torch.manual_seed(1234)
    np.random.seed(1234)  # noqa: NPY002
    random.seed(1234)
    yield
