"""LIME: the surrogate fit against scikit-learn, linear known answers, segments."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from torch import nn

import xaikit
from xaikit.perturbation import Superpixels
from xaikit.perturbation.lime import proximity, weighted_ridge


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), alpha=st.sampled_from([0.0, 0.1, 1.0, 10.0]))
def test_weighted_ridge_matches_sklearn(seed: int, alpha: float) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.random((60, 6)) < 0.5).astype(float)
    y = rng.normal(size=60)
    w = rng.random(60) + 0.01
    coef, intercept = weighted_ridge(x, y, w, alpha)
    ref = Ridge(alpha=alpha, solver="svd").fit(x, y, sample_weight=w)
    np.testing.assert_allclose(coef, ref.coef_, rtol=1e-7, atol=1e-9)
    assert np.isclose(intercept, ref.intercept_, rtol=1e-7, atol=1e-9)


def test_proximity_kernel_formula() -> None:
    z = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=bool)
    cosine = proximity(z, 0.5, "cosine")
    np.testing.assert_allclose(cosine, np.exp(-np.array([0.0, 0.5, 1.0]) ** 2 / 0.25))
    hamming = proximity(z, 0.5, "hamming")
    np.testing.assert_allclose(hamming, np.exp(-np.array([0.0, 0.75, 1.0]) ** 2 / 0.25))


def test_pipeline_matches_a_direct_sklearn_fit() -> None:
    torch.manual_seed(0)
    model = xaikit.models.MLP(5, (8,), 2).double().eval()
    x = torch.randn(1, 5, dtype=torch.float64)
    baseline = torch.randn(5, dtype=torch.float64)
    e = xaikit.explain(
        model, x, target=1, method="lime", samples=300, seed=11, baseline=baseline, kernel_width=0.5,
        distance="hamming", progress=False,
    )
    z = np.random.default_rng(11).random((300, 5)) < 0.5
    z[0] = True
    keep = torch.from_numpy(z)
    with torch.no_grad():
        values = model(torch.where(keep, x, baseline))[:, 1].numpy()
    weights = np.exp(-((1 - z.mean(1)) ** 2) / 0.25)
    ref = Ridge(alpha=1.0).fit(z.astype(float), values, sample_weight=weights)
    np.testing.assert_allclose(e.attribution[0].numpy(), ref.coef_, rtol=1e-6, atol=1e-9)
    assert np.isclose(float(e.extras["intercept"][0]), ref.intercept_, rtol=1e-6)


def test_linear_model_recovers_contributions() -> None:
    torch.manual_seed(1)
    model = nn.Linear(6, 1).double().eval()
    x = torch.randn(3, 6, dtype=torch.float64)
    e = xaikit.explain(model, x, target=0, method="lime", samples=200, alpha=0.0, progress=False)
    torch.testing.assert_close(e.attribution, (model.weight[0] * x).detach(), rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(e.extras["score"], torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(e.relevance_sum, e.output)


def test_superpixel_segments_share_one_value() -> None:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 12 * 12, 2)).eval()
    x = torch.zeros(2, 3, 12, 12)  # four flat colour blocks, plus a little noise
    x[:, 0, :6, :6], x[:, 1, :6, 6:], x[:, 2, 6:, :6] = 1.0, 1.0, 1.0
    x = x + 0.01 * torch.rand(2, 3, 12, 12)
    e = xaikit.explain(
        model, x, target=0, method="lime", groups=Superpixels(4, compactness=1.0), samples=64, progress=False
    )
    assert (e.extras["group_counts"] >= 4).all()
    labels = e.extras["group_labels"]
    for n in range(2):
        values = e.extras["group_values"][n]
        for g in range(int(e.extras["group_counts"][n])):
            members = labels[n] == g
            torch.testing.assert_close(e.attribution[n][members].sum(), values[g], rtol=1e-4, atol=1e-6)
            assert torch.allclose(e.attribution[n][members], e.attribution[n][members][0])


def test_bad_options_raise() -> None:
    with pytest.raises(ValueError, match="distance"):
        xaikit.make_method("lime", distance="euclid")
    with pytest.raises(ValueError, match="kernel_width"):
        xaikit.make_method("lime", kernel_width=0)
    with pytest.raises(ValueError, match="group_attribution"):
        xaikit.make_method("lime", group_attribution="sum")
