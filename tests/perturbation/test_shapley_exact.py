"""Exact Shapley values: known answers, axioms, and agreement with Captum and shap."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import xaikit
from xaikit.perturbation import Background, ColumnGroups, Patches, exact_shapley
from xaikit.perturbation.shapley import all_coalitions


class Product(nn.Module):
    """f(x) = x1 * (x2 + x3), the worked example of the lecture notes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, 0] * (x[:, 1] + x[:, 2]))[:, None]


def brute_force(value: callable, d: int) -> np.ndarray:
    """Shapley values by averaging marginal contributions over all d! orders."""
    phi = np.zeros(d)
    orders = list(itertools.permutations(range(d)))
    for order in orders:
        members: set[int] = set()
        for player in order:
            before = value(frozenset(members))
            members.add(player)
            phi[player] += value(frozenset(members)) - before
    return phi / len(orders)


def test_worked_example_is_one_half_half() -> None:
    e = xaikit.explain(Product(), torch.ones(1, 3), target=0, method="shapley", progress=False)
    torch.testing.assert_close(e.attribution, torch.tensor([[1.0, 0.5, 0.5]]))
    torch.testing.assert_close(e.output, torch.tensor([2.0]))
    assert e.delta.abs().max() < 1e-6


def test_exact_formula_matches_permutation_average() -> None:
    rng = np.random.default_rng(0)
    d = 5
    table = rng.normal(size=2**d)

    def value(members: frozenset[int]) -> float:
        return float(table[sum(1 << i for i in members)])

    np.testing.assert_allclose(exact_shapley(table, d), brute_force(value, d), rtol=1e-12, atol=1e-12)


def test_all_coalitions_bit_order() -> None:
    z = all_coalitions(3)
    assert z.shape == (8, 3)
    assert z[5].tolist() == [True, False, True]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(2, 7), n=st.integers(1, 3))
def test_efficiency_on_random_mlps(seed: int, d: int, n: int) -> None:
    torch.manual_seed(seed)
    model = xaikit.models.MLP(d, (8,), 3).double().eval()
    x = torch.randn(n, d, dtype=torch.float64)
    baseline = torch.randn(d, dtype=torch.float64)
    e = xaikit.explain(model, x, target=2, method="shapley", baseline=baseline, progress=False)
    expected = model(x)[:, 2] - model(baseline[None])[0, 2]
    torch.testing.assert_close(e.output, expected.detach(), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(e.relevance_sum, e.output, rtol=1e-9, atol=1e-10)


def test_linear_model_with_background_expectation() -> None:
    torch.manual_seed(1)
    model = nn.Linear(4, 2).double().eval()
    x = torch.randn(3, 4, dtype=torch.float64)
    background = torch.randn(7, 4, dtype=torch.float64)
    e = xaikit.explain(model, x, target=0, method="shapley", baseline=Background(background), progress=False)
    expected = model.weight[0].detach() * (x - background.mean(0))
    torch.testing.assert_close(e.attribution, expected, rtol=1e-10, atol=1e-12)
    assert e.extras["evaluations"].tolist() == [2**4 * 7] * 3


def test_symmetry_and_dummy_axioms() -> None:
    def game(x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x[:, 0] + x[:, 1]) * x[:, 2] + 0.0 * x[:, 3]

    x = torch.tensor([[0.7, 0.7, 1.3, 5.0]], dtype=torch.float64)
    e = xaikit.explain(game, x, target=lambda out: out, method="shapley", progress=False)
    phi = e.attribution[0]
    assert abs(phi[0] - phi[1]) < 1e-12
    assert abs(phi[3]) < 1e-12
    assert e.target is None


def test_groups_match_captum_shapley_values() -> None:
    from captum.attr import ShapleyValues

    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 4)).eval()
    x = torch.randn(2, 2, 6, 6)
    mask = Patches(3)(x)
    e = xaikit.explain(
        model, x, target=1, method="shapley", groups=mask, baseline=0.25, group_attribution="repeat", progress=False
    )
    captum_mask = mask[None, None].expand(1, 2, 6, 6).contiguous()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ShapleyValues(model).attribute(x, target=1, feature_mask=captum_mask, baselines=0.25)
    assert torch.allclose(e.attribution, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    # "divide" shares each group's value among its 2 * 3 * 3 = 18 elements and keeps efficiency
    shared = xaikit.explain(model, x, target=1, method="shapley", groups=mask, baseline=0.25, progress=False)
    torch.testing.assert_close(shared.attribution * 18, e.attribution, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(shared.relevance_sum, shared.output, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("background_rows", [1, 4])
def test_matches_shap_exact_explainer(background_rows: int) -> None:
    import shap
    torch.manual_seed(3)
    model = xaikit.models.MLP(6, (16, 16), 3).double().eval()
    x = torch.randn(2, 6, dtype=torch.float64)
    background = torch.randn(background_rows, 6, dtype=torch.float64)

    def f(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.as_tensor(np.asarray(batch, dtype=np.float64))).numpy()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.explainers.Exact(f, shap.maskers.Independent(background.numpy()))
        reference = explainer(x.numpy()).values[:, :, 2]
    e = xaikit.explain(model, x, target=2, method="shapley", baseline=Background(background), progress=False)
    np.testing.assert_allclose(e.attribution.numpy(), reference, rtol=1e-6, atol=1e-9)


def test_named_column_groups_sum_members() -> None:
    torch.manual_seed(4)
    model = nn.Linear(4, 1).double().eval()
    x = torch.randn(2, 4, dtype=torch.float64)
    groups = ColumnGroups({"size": ["w", "h"]}, feature_names=["w", "h", "age", "bmi"])
    e = xaikit.explain(model, x, target=0, method="shapley", groups=groups, progress=False)
    contributions = (model.weight[0] * x).detach()
    values = e.extras["group_values"]
    assert e.extras["group_names"] == ["size", "age", "bmi"]
    torch.testing.assert_close(values[:, 0], contributions[:, :2].sum(1))
    torch.testing.assert_close(values[:, 1:], contributions[:, 2:])


def test_per_sample_groups_equal_separate_calls() -> None:
    torch.manual_seed(5)
    model = xaikit.models.MLP(6, (8,), 2).double().eval()
    x = torch.randn(2, 6, dtype=torch.float64)
    masks = torch.tensor([[0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 1, 0]])
    both = xaikit.explain(model, x, target=1, method="shapley", groups=masks, progress=False)
    for n in range(2):
        alone = xaikit.explain(model, x[n : n + 1], target=1, method="shapley", groups=masks[n], progress=False)
        torch.testing.assert_close(both.attribution[n : n + 1], alone.attribution)
    assert both.extras["group_counts"].tolist() == [3, 2]


def test_refuses_more_than_twenty_groups() -> None:
    model = nn.Linear(21, 1).eval()
    with pytest.raises(ValueError, match="kernel_shap"):
        xaikit.explain(model, torch.randn(1, 21), target=0, method="shapley", progress=False)


def test_weights_are_the_shapley_formula() -> None:
    # phi_i of a unanimity game on coalition T is 1/|T| for i in T: checks the weights
    d = 6
    members = [1, 3, 4]
    table = np.array([float(all((m >> i) & 1 for i in members)) for m in range(2**d)])
    expected = np.array([1 / 3 if i in members else 0.0 for i in range(d)])
    np.testing.assert_allclose(exact_shapley(table, d), expected, atol=1e-14)
    assert math.isclose(exact_shapley(table, d).sum(), 1.0)
