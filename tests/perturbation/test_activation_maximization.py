"""Activation maximization and the data priors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture
from torch import nn

import xaikit
from xaikit.perturbation import GaussianMixturePrior, GaussianPrior, activation_maximization


def _linear(weight: list[float], bias: float = 0.5) -> nn.Linear:
    model = nn.Linear(len(weight), 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([weight]))
        model.bias.fill_(bias)
    return model.eval()


@pytest.mark.parametrize(("optimizer", "lr", "steps"), [("sgd", 0.5, 200), ("adam", 0.05, 1500)])
def test_linear_model_converges_to_w_over_two_lambda(optimizer: str, lr: float, steps: int) -> None:
    w = [1.0, -2.0, 0.5, 3.0]
    model = _linear(w)
    result = activation_maximization(
        model, 0, (4,), l2=0.25, steps=steps, lr=lr, optimizer=optimizer, init="random", init_scale=1.0, seed=0,
        progress=False,
    )
    expected = torch.tensor(w) / (2 * 0.25)
    torch.testing.assert_close(result.inputs[0], expected, rtol=1e-3, atol=1e-3)
    assert result.history.shape == (steps, 1)
    assert result.history[-1, 0] >= result.history[0, 0]
    assert model.weight.grad is None  # the model is not touched


def test_gaussian_prior_pulls_to_the_data_mean() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(500, 3)) * np.array([1.0, 0.5, 2.0]) + np.array([1.0, -1.0, 2.0])
    prior = GaussianPrior.fit(data)
    zero = lambda out: out[:, 0] * 0.0  # noqa: E731
    model = _linear([1.0, 1.0, 1.0])
    result = activation_maximization(
        model, zero, (3,), l2=0.0, steps=400, lr=0.05, log_density=prior, progress=False
    )
    torch.testing.assert_close(result.inputs[0].double(), torch.from_numpy(data.mean(0)), rtol=1e-3, atol=2e-3)


def test_prior_with_linear_model_solves_closed_form() -> None:
    # maximize w^T x + log N(x; mu, S) (l2 = 0): x* = mu + S w
    rng = np.random.default_rng(1)
    data = rng.multivariate_normal([0.5, -0.5], [[1.0, 0.3], [0.3, 0.5]], size=2000)
    prior = GaussianPrior.fit(data, shrinkage=0.0)
    w = np.array([0.4, -0.2])
    model = _linear(w.tolist()).double()
    result = activation_maximization(
        model, 0, (2,), l2=0.0, steps=2000, lr=0.02, log_density=prior, progress=False
    )
    assert result.inputs.dtype == torch.float64
    expected = data.mean(0) + np.cov(data, rowvar=False) @ w
    np.testing.assert_allclose(result.inputs[0].numpy(), expected, rtol=1e-4, atol=1e-4)


def test_priors_match_scipy_and_sklearn() -> None:
    rng = np.random.default_rng(2)
    data = rng.normal(size=(300, 4))
    points = rng.normal(size=(5, 4))
    prior = GaussianPrior.fit(data, shrinkage=1e-3)
    ref = multivariate_normal(data.mean(0), np.cov(data, rowvar=False) + 1e-3 * np.eye(4)).logpdf(points)
    np.testing.assert_allclose(prior(torch.from_numpy(points)).numpy(), ref, rtol=1e-10)
    mixture = GaussianMixturePrior.fit(data, n_components=2, seed=0)
    gmm = GaussianMixture(2, covariance_type="full", reg_covar=1e-3, random_state=0).fit(data)
    np.testing.assert_allclose(mixture(torch.from_numpy(points)).numpy(), gmm.score_samples(points), rtol=1e-8)


def test_bounds_starts_and_errors() -> None:
    torch.manual_seed(0)
    model = xaikit.models.MLP(4, (8,), 3).eval()
    result = activation_maximization(
        model, 2, (4,), steps=30, lr=0.2, starts=3, init="random", init_scale=1.0, bounds=(-0.5, 0.5), progress=False
    )
    assert result.inputs.shape == (3, 4)
    assert result.inputs.abs().max() <= 0.5
    assert result.inputs.abs().max() == 0.5  # the ascent reached the box
    assert len(set(result.history[0].tolist())) == 3  # three different random starts
    with pytest.raises(ValueError, match="fixed target"):
        activation_maximization(model, None, (4,), steps=2)
    with pytest.raises(ValueError, match="init"):
        activation_maximization(model, 0, (4,), steps=2, init="ones")
    dropout = nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.5)).train()
    with pytest.raises(ValueError, match="eval"):
        activation_maximization(dropout, 0, (4,), steps=2)
