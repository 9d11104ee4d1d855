"""Faithfulness metrics: known answers on linear models, Shapley efficiency, invariances."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import xaikit
from xaikit.evaluate import (
    faithfulness_correlation,
    feature_groups,
    pixel_flipping,
    region_perturbation,
    sensitivity_n,
)
from xaikit.evaluate.features import group_sums


def _linear(in_shape: tuple[int, ...], classes: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(in_shape)), classes)).eval()


def _exact(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """``w_i x_i``: the exact decomposition of a linear model's logit (up to the bias)."""
    weight = model[1].weight[target].detach().reshape(x.shape[1:])
    return weight * x


@pytest.mark.parametrize("shape", [(6,), (2, 7), (3, 4, 4)], ids=["tabular", "series", "image"])
def test_linear_model_decrements_are_the_sorted_attributions(shape: tuple[int, ...]) -> None:
    model = _linear(shape)
    x = torch.randn(5, *shape, generator=torch.Generator().manual_seed(1))
    attribution = _exact(model, x, 1)
    result = pixel_flipping(model, x, attribution, target=1, removal=0.0, progress=False)
    labels = feature_groups(shape)
    relevance = group_sums(attribution.double(), labels, int(labels.max()) + 1).numpy()
    expected = -np.sort(relevance, axis=1)[:, ::-1]
    np.testing.assert_allclose(np.diff(result.curves, axis=1), expected, atol=1e-5)
    assert result.curves[:, 0] == pytest.approx(model(x)[:, 1].detach().double().numpy(), abs=1e-6)
    lerf = pixel_flipping(model, x, attribution, target=1, order="lerf", removal=0.0)
    np.testing.assert_allclose(np.diff(lerf.curves, axis=1), -np.sort(relevance, axis=1), atol=1e-5)
    # removing everything leaves the bias whatever the order
    np.testing.assert_allclose(result.curves[:, -1], model[1].bias[1].item(), atol=1e-5)
    assert result.fractions[0] == 0 and result.fractions[-1] == 1


def test_steps_patches_and_max_fraction() -> None:
    model = _linear((1, 6, 6))
    x = torch.randn(2, 1, 6, 6)
    attribution = _exact(model, x, 0)
    result = pixel_flipping(model, x, attribution, target=0, step=5, max_fraction=0.5, removal=0.0)
    assert result.removed.tolist() == [0, 5, 10, 15, 18]
    region = region_perturbation(model, x, attribution, target=0, patch=3, removal=0.0)
    assert region.removed.tolist() == [0, 1, 2, 3, 4]
    patch_relevance = group_sums(attribution.double(), feature_groups((1, 6, 6), patch=3), 4).numpy()
    expected = -np.sort(patch_relevance, axis=1)[:, ::-1]
    np.testing.assert_allclose(np.diff(region.curves, axis=1), expected, atol=1e-5)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000))
def test_exact_explanation_beats_every_random_order_on_linear_models(seed: int) -> None:
    model = _linear((8,), seed=seed)
    x = torch.randn(6, 8, generator=torch.Generator().manual_seed(seed))
    exact = pixel_flipping(model, x, _exact(model, x, 2), target=2, removal=0.0)
    for s in range(3):
        random = pixel_flipping(model, x, None, target=2, order="random", removal=0.0, seed=s)
        # MoRF removes the k largest contributions: the largest possible drop at every k
        assert (exact.drops >= random.drops - 1e-5).all()
        assert (exact.aopc >= random.aopc - 1e-5).all()


def test_random_attribution_has_zero_aopc_in_expectation() -> None:
    model = _linear((10,), seed=3)
    x = torch.randn(4000, 10, generator=torch.Generator().manual_seed(4))  # zero-mean contributions
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
    random = pixel_flipping(model, x, noise, target=0, removal=0.0, batch_size=None)
    se = random.aopc.std(ddof=1) / math.sqrt(len(x))
    assert abs(random.aopc.mean()) < 4 * se
    exact = pixel_flipping(model, x, _exact(model, x, 0), target=0, removal=0.0, batch_size=None)
    assert exact.aopc.mean() > 20 * se


def test_batch_size_does_not_change_results_and_rng_is_local() -> None:
    model = xaikit.models.SmallCNN(2, 3, input_size=8).eval()
    x = torch.randn(3, 2, 8, 8)
    attribution = torch.randn(3, 1, 8, 8)
    state, np_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
    a = pixel_flipping(model, x, attribution, order="random", removal="uniform", step=7, seed=3, batch_size=4)
    b = pixel_flipping(model, x, attribution, order="random", removal="uniform", step=7, seed=3, batch_size=None)
    np.testing.assert_allclose(a.curves, b.curves, atol=1e-5)
    c = pixel_flipping(model, x, attribution, order="random", removal="uniform", step=7, seed=4)
    assert not np.allclose(a.curves, c.curves)
    assert torch.equal(torch.get_rng_state(), state)
    assert np.random.get_state()[1].tolist() == np_state[1].tolist()  # noqa: NPY002


@pytest.mark.parametrize("removal", ["blur", "inpaint", "uniform", 0.0])
def test_removals_run_on_time_series_and_images(removal: object) -> None:
    for model, x in [
        (xaikit.models.CNN1d(2, 3, length=16).eval(), torch.randn(2, 2, 16)),
        (xaikit.models.SmallCNN(3, 2, input_size=8).eval(), torch.randn(2, 3, 8, 8)),
    ]:
        result = pixel_flipping(model, x, torch.randn(x.shape), removal=removal, step=8)
        assert np.isfinite(result.curves).all()
        assert result.curves.shape == (2, len(result.removed))


def test_linear_exact_attribution_is_sensitive_n_for_all_n() -> None:
    model = _linear((2, 5))
    x = torch.randn(4, 2, 5)
    attribution = _exact(model, x, 0)
    result = sensitivity_n(model, x, attribution, target=0, n=[1, 3, 7, 10], n_subsets=20, removal=0.0)
    assert result.gap.max() < 1e-5
    np.testing.assert_allclose(result.correlation[:3], 1.0, atol=1e-6)
    assert np.isnan(result.correlation[3]).all()  # one subset only: no correlation
    corr = faithfulness_correlation(model, x, attribution, target=0, subset_size=0.3, removal=0.0)
    np.testing.assert_allclose(corr.correlation, 1.0, atol=1e-6)
    assert result.to_frame().shape == (16, 4)


def _brute_force_shapley(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """Exact Shapley values with a zero reference, by enumerating all coalitions."""
    n, d = x.shape
    phi = torch.zeros(n, d, dtype=torch.float64)
    with torch.no_grad():
        for i in range(d):
            others = [j for j in range(d) if j != i]
            for size in range(d):
                weight = math.factorial(size) * math.factorial(d - size - 1) / math.factorial(d)
                for subset in itertools.combinations(others, size):
                    keep = torch.zeros(d, dtype=torch.bool)
                    keep[list(subset)] = True
                    without = model(x * keep)[:, target].double()
                    keep[i] = True
                    with_i = model(x * keep)[:, target].double()
                    phi[:, i] += weight * (with_i - without)
    return phi


def test_exact_shapley_is_sensitive_n_for_n_equal_d() -> None:
    torch.manual_seed(0)
    model = xaikit.models.MLP(4, (16, 16), 3).eval()
    x = torch.randn(5, 4)
    phi = _brute_force_shapley(model, x, 1)
    result = sensitivity_n(model, x, phi.float(), target=1, n=[1, 4], n_subsets=10, removal=0.0)
    assert result.gap[1].max() < 1e-5  # efficiency: sum of all values = f(x) - f(0)
    assert result.gap[0].max() > 1e-3  # a nonlinear model is not sensitive-1


def test_registered_shapley_is_sensitive_n_for_n_equal_d() -> None:
    torch.manual_seed(0)
    model = xaikit.models.MLP(4, (16, 16), 3).eval()
    x = torch.randn(5, 4)
    explanation = xaikit.explain(model, x, 1, method="shapley")
    np.testing.assert_allclose(explanation.attribution.double(), _brute_force_shapley(model, x, 1), atol=1e-5)
    result = sensitivity_n(model, x, explanation, n=4, n_subsets=3, removal=0.0)
    assert result.gap.max() < 1e-5


def test_inputs_and_model_are_not_modified() -> None:
    model = xaikit.models.SmallCNN(1, 2, input_size=8).eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 1, 8, 8)
    x_before = x.clone()
    attribution = torch.randn(2, 1, 8, 8)
    pixel_flipping(model, x, attribution, removal="inpaint", step=16)
    faithfulness_correlation(model, x, attribution, n_subsets=5)
    assert torch.equal(x, x_before)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_bad_input_gives_clear_errors() -> None:
    model = xaikit.models.MLP(4, (8,), 2).eval()
    x = torch.randn(3, 4)
    with pytest.raises(ValueError, match="order must be one of"):
        pixel_flipping(model, x, x, order="best")
    with pytest.raises(ValueError, match="needs an attribution"):
        pixel_flipping(model, x, None)
    with pytest.raises(ValueError, match="attribution has shape"):
        pixel_flipping(model, x, torch.randn(3, 5))
    with pytest.raises(ValueError, match="NaN or inf"):
        pixel_flipping(model, x.masked_fill(x > 0, float("nan")), x)
    with pytest.raises(ValueError, match="subset size"):
        faithfulness_correlation(model, x, x, subset_size=9)
    with pytest.raises(ValueError, match="blurring needs"):
        pixel_flipping(model, x, x, removal="blur")
    dropout = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="training mode"):
        pixel_flipping(dropout, x, x)
