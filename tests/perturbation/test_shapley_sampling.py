"""Permutation-sampling Shapley values (ApproShapley)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import xaikit


def pairwise_game(x: torch.Tensor) -> torch.Tensor:
    """Main effects plus pairwise interactions: antithetic pairs are exact for it."""
    return (x[:, 0] * x[:, 1] + 2 * x[:, 1] * x[:, 2] - x[:, 3] + 0.5 * x[:, 0] * x[:, 3])[:, None]


def test_antithetic_pairs_are_exact_for_pairwise_interactions() -> None:
    x = torch.tensor([[1.0, 2.0, -1.0, 0.5]], dtype=torch.float64)
    exact = xaikit.explain(pairwise_game, x, target=0, method="shapley", progress=False)
    sampled = xaikit.explain(pairwise_game, x, target=0, method="shapley_sampling", samples=2, seed=3, progress=False)
    torch.testing.assert_close(sampled.attribution, exact.attribution, rtol=1e-12, atol=1e-12)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), samples=st.integers(1, 9), antithetic=st.booleans())
def test_efficiency_holds_for_any_sample_count(seed: int, samples: int, antithetic: bool) -> None:
    torch.manual_seed(seed)
    model = xaikit.models.MLP(7, (8,), 2).double().eval()
    x = torch.randn(2, 7, dtype=torch.float64)
    e = xaikit.explain(
        model, x, target=1, method="shapley_sampling", samples=samples, antithetic=antithetic, seed=seed, progress=False
    )
    expected = (model(x)[:, 1] - model(torch.zeros(1, 7, dtype=torch.float64))[0, 1]).detach()
    torch.testing.assert_close(e.output, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(e.relevance_sum, e.output, rtol=1e-10, atol=1e-10)


def test_converges_to_exact_within_standard_errors() -> None:
    torch.manual_seed(0)
    model = xaikit.models.MLP(8, (16,), 2).double().eval()
    x = torch.randn(3, 8, dtype=torch.float64)
    exact = xaikit.explain(model, x, target=0, method="shapley", progress=False).attribution
    e = xaikit.explain(model, x, target=0, method="shapley_sampling", samples=400, seed=1, progress=False)
    stderr = torch.stack(list(e.extras["stderr"])) if isinstance(e.extras["stderr"], list) else e.extras["stderr"]
    assert stderr.shape == (3, 8)
    assert ((e.attribution - exact).abs() <= 5 * stderr + 1e-9).all()
    more = xaikit.explain(model, x, target=0, method="shapley_sampling", samples=1600, seed=1, progress=False)
    assert (more.attribution - exact).norm() < (e.attribution - exact).norm()


def test_deterministic_given_seed_and_independent_of_global_rng() -> None:
    model = nn.Sequential(nn.Linear(5, 1), nn.Tanh()).eval()
    x = torch.randn(2, 5)
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()  # noqa: NPY002
    a = xaikit.explain(model, x, target=0, method="shapley_sampling", samples=6, seed=7, progress=False)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)  # noqa: NPY002
    torch.manual_seed(123)
    b = xaikit.explain(model, x, target=0, method="shapley_sampling", samples=6, seed=7, progress=False)
    torch.testing.assert_close(a.attribution, b.attribution, rtol=0, atol=0)
    c = xaikit.explain(model, x, target=0, method="shapley_sampling", samples=6, seed=8, progress=False)
    assert not torch.equal(a.attribution, c.attribution)
    # an int seed gives each sample the same draws: its result does not depend on the batch
    alone = xaikit.explain(model, x[1:], target=0, method="shapley_sampling", samples=6, seed=7, progress=False)
    torch.testing.assert_close(alone.attribution[0], a.attribution[1], rtol=0, atol=0)


def test_repeated_coalitions_are_evaluated_once() -> None:
    e = xaikit.explain(
        pairwise_game, torch.ones(1, 4), target=0, method="shapley_sampling", samples=200, progress=False
    )
    assert int(e.extras["evaluations"][0]) <= 2**4


def test_bad_samples_raise() -> None:
    with pytest.raises(ValueError, match="samples"):
        xaikit.explain(pairwise_game, torch.ones(1, 4), target=0, method="shapley_sampling", samples=0)
