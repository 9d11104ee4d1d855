"""Neuralized kernel k-means: exact log-odds of the power-assignment model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from xaikit.neon import NeuralizedKernelKMeans


def _clusters(seed: int, sizes: tuple[int, ...], d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(len(sizes), d))
    x = np.concatenate([c + rng.normal(size=(n, d)) for c, n in zip(centres, sizes)])
    return x, np.repeat(np.arange(len(sizes)), sizes)


def _log_odds(q: np.ndarray, x: np.ndarray, y: np.ndarray, gamma: float, beta: float) -> np.ndarray:
    """``log P(c|q) / (1 - P(c|q))`` with ``P(c|q) ~ p_c(q)^(beta/gamma)``, straight from the densities."""
    k = int(y.max()) + 1
    log_p = np.stack(
        [logsumexp(-gamma * ((q[:, None] - x[y == c]) ** 2).sum(-1), axis=1) - np.log((y == c).sum()) for c in range(k)], 1
    )
    a = beta / gamma * log_p
    return np.stack([a[:, c] - logsumexp(np.delete(a, c, 1), axis=1) for c in range(k)], 1)


@pytest.mark.parametrize("beta", [None, 0.3, 4.0])
def test_log_odds_are_exact(beta: float | None) -> None:
    x, y = _clusters(0, (6, 9, 4), 3)
    gamma = 0.6
    model = NeuralizedKernelKMeans(x, y, gamma, beta=beta)
    q = np.random.default_rng(1).normal(scale=3.0, size=(40, 3))
    expected = _log_odds(q, x, y, gamma, gamma if beta is None else beta)
    np.testing.assert_allclose(model.log_odds(torch.as_tensor(q)).numpy(), expected, rtol=0, atol=1e-9)
    log_density = _log_odds(q, x, y, gamma, gamma)
    np.testing.assert_array_equal(model.predict(torch.as_tensor(q)).numpy(), log_density.argmax(1))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), rule=st.sampled_from(["wsquare", "midpoint"]), target=st.integers(0, 2))
def test_conservation(seed: int, rule: str, target: int) -> None:
    x, y = _clusters(seed, (5, 3, 6), 4)
    model = NeuralizedKernelKMeans(x, y, 0.4, beta=1.0, rule=rule)
    q = np.random.default_rng(seed + 1).normal(scale=3.0, size=(6, 4))
    e = model.explain(q, target=target)
    np.testing.assert_allclose(e.relevance_sum.numpy(), e.output.numpy(), rtol=1e-7, atol=1e-7)


def test_assigned_cluster_by_default_and_features_that_do_not_separate() -> None:
    x, y = _clusters(3, (5, 5), 3)
    x[:, 2] = 0.25  # clusters do not differ along feature 2
    model = NeuralizedKernelKMeans(x, y, 0.5)
    q = x[:4] + 0.1
    q[:, 2] = 0.25
    e = model.explain(q)
    np.testing.assert_array_equal(e.target.numpy(), model.predict(torch.as_tensor(q)).numpy())
    assert (e.output > 0).all()
    assert e.attribution[:, 2].abs().max() < 1e-12
    mid = model.explain(q, rule="midpoint")
    assert mid.attribution[:, 2].abs().max() < 1e-12


def test_input_validation() -> None:
    x, y = _clusters(0, (3, 3), 2)
    with pytest.raises(ValueError, match="K >= 2"):
        NeuralizedKernelKMeans(x, np.zeros(6, int), 1.0)
    with pytest.raises(ValueError, match="non-empty"):
        NeuralizedKernelKMeans(x, np.array([0, 0, 0, 2, 2, 2]), 1.0)
    with pytest.raises(TypeError, match="integers"):
        NeuralizedKernelKMeans(x, y.astype(float), 1.0)
    with pytest.raises(ValueError, match="gamma"):
        NeuralizedKernelKMeans(x, y, 0.0)
