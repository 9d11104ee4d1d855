"""The explainable NEON primitives, alone and inside the engine."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import xaikit
from xaikit.neon import PoolSpec, SoftPool, pool_weights, soft_pool, squared_distances, weighted_sum
from xaikit.neon.layers import SquaredDistanceLayer


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    mode=st.sampled_from(["min", "max"]),
    temperature=st.one_of(st.none(), st.floats(0.05, 20.0)),
    beta=st.one_of(st.none(), st.floats(0.05, 20.0)),
)
def test_soft_pool_value_and_weights(seed: int, mode: str, temperature: float | None, beta: float | None) -> None:
    h = torch.as_tensor(np.random.default_rng(seed).normal(size=(4, 7)))
    spec = PoolSpec(mode, temperature, beta)
    out = soft_pool(h, spec)
    if temperature is None:
        expected = h.amin(-1) if mode == "min" else h.amax(-1)
    else:
        s = -1.0 if mode == "min" else 1.0
        expected = s / temperature * torch.logsumexp(s * temperature * h, -1)
    torch.testing.assert_close(out, expected)
    w = pool_weights(h, spec)
    torch.testing.assert_close(w.sum(-1), torch.ones(4, dtype=h.dtype))
    assert (w >= 0).all()
    # The soft pool lies between the hard extremum and the extremum shifted by log(K) / alpha.
    if temperature is not None and mode == "min":
        assert (out <= h.amin(-1) + 1e-12).all() and (out >= h.amin(-1) - math.log(7) / temperature - 1e-12).all()


def test_masked_entries_are_excluded() -> None:
    h = torch.tensor([[1.0, -5.0, 3.0]], dtype=torch.float64)
    mask = torch.tensor([0.0, -math.inf, 0.0], dtype=torch.float64)
    assert float(soft_pool(h, PoolSpec("min", None, 1.0), mask)) == 1.0
    w = pool_weights(h, PoolSpec("min", None, 1.0), mask)
    assert float(w[0, 1]) == 0.0
    hard = pool_weights(h, PoolSpec("min", None, None), mask)
    torch.testing.assert_close(hard, torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64))


class _Outlier(nn.Module):
    def __init__(self, support: torch.Tensor) -> None:
        super().__init__()
        self.distances = SquaredDistanceLayer(support, eps=0.0)
        self.pool = SoftPool(PoolSpec("min", 1.0, 1.0), torch.full((len(support),), -math.log(len(support)), dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.distances(x))


def test_primitives_inside_the_engine_follow_their_rules() -> None:
    rng = np.random.default_rng(0)
    support = torch.as_tensor(rng.normal(size=(10, 3)))
    x = torch.as_tensor(rng.normal(size=(4, 3)))
    e = xaikit.explain(_Outlier(support), x, method="lrp", composite="neon")
    # Reference: R_k = softmin(h)_k o, R_i = sum_k (x_i - u_ik)^2 / h_k R_k.
    h = ((x[:, None] - support) ** 2).sum(-1)
    o = -torch.logsumexp(-h, 1) + math.log(10)
    r_k = torch.softmax(-h, 1) * o[:, None]
    expected = (((x[:, None] - support) ** 2) / h[..., None] * r_k[..., None]).sum(1)
    torch.testing.assert_close(e.attribution, expected)
    torch.testing.assert_close(e.output, o)
    # Outside the engine they are plain functions.
    torch.testing.assert_close(squared_distances(x, support), h)
    torch.testing.assert_close(weighted_sum(h, torch.full((10,), 0.1, dtype=h.dtype)), h.mean(1))


def test_layer_validation() -> None:
    with pytest.raises(ValueError, match="mode"):
        SoftPool(PoolSpec("median", None, None))
    with pytest.raises(ValueError, match="beta"):
        SoftPool(PoolSpec("min", None, -1.0))
    with pytest.raises(ValueError, match="eps"):
        SquaredDistanceLayer(torch.zeros(2, 2), eps=-1.0)
