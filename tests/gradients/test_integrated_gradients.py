"""Integrated gradients: quadrature exactness, refinement, completeness, equivalences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gradients_testkit import ReluMLP, assert_close
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

import xaikit
from xaikit.gradients import Quadrature
from xaikit.gradients.quadrature import RULES


class Quadratic(nn.Module):
    """``f(x) = sum_i c_i x_i^2``: integrated gradients from ``b`` is exactly ``c_i (x_i^2 - b_i^2)``."""

    def __init__(self, c: Tensor) -> None:
        super().__init__()
        self.c = c

    def forward(self, x: Tensor) -> Tensor:
        return (self.c * x * x).sum(1, keepdim=True)


@given(rule=st.sampled_from(RULES), steps=st.integers(2, 12))
@settings(max_examples=25, deadline=None)
def test_quadrature_weights_sum_to_one_and_nodes_lie_in_the_unit_interval(rule: str, steps: int) -> None:
    alphas, weights = Quadrature(rule, steps).nodes()
    assert len(alphas) == len(weights) == steps
    assert abs(weights.sum() - 1.0) < 1e-12
    assert alphas.min() >= 0.0 and alphas.max() <= 1.0 and (weights > 0).all()


@given(steps=st.integers(1, 8))
@settings(max_examples=8, deadline=None)
def test_gauss_legendre_is_exact_for_polynomials_up_to_degree_2n_minus_1(steps: int) -> None:
    alphas, weights = Quadrature("gauss_legendre", steps).nodes()
    for degree in range(2 * steps):
        assert abs(float(weights @ alphas**degree) - 1.0 / (degree + 1)) < 1e-12


@given(rule=st.sampled_from(["riemann_left", "riemann_right", "trapezoid"]), steps=st.integers(2, 9))
@settings(max_examples=20, deadline=None)
def test_nested_refinement_reuses_the_old_nodes(rule: str, steps: int) -> None:
    quad = Quadrature(rule, steps)
    g = np.cos  # any integrand

    alphas, weights = quad.nodes()
    new_alphas, new_weights = quad.refinement_nodes()
    refined_alphas, refined_weights = quad.refined().nodes()
    assert np.allclose(np.sort(np.concatenate([alphas, new_alphas])), np.sort(np.unique(refined_alphas)))
    reused = 0.5 * (weights @ g(alphas)) + new_weights @ g(new_alphas)
    assert abs(reused - refined_weights @ g(refined_alphas)) < 1e-12


@pytest.mark.parametrize(("rule", "steps"), [("gauss_legendre", 1), ("riemann_middle", 1), ("trapezoid", 2)])
def test_integrated_gradients_of_a_quadratic_is_exact(rule: str, steps: int) -> None:
    generator = torch.Generator().manual_seed(0)
    c = torch.randn(5, generator=generator, dtype=torch.float64)
    x = torch.randn(4, 5, generator=generator, dtype=torch.float64)
    b = torch.randn(5, generator=generator, dtype=torch.float64)
    e = xaikit.explain(Quadratic(c), x, 0, method="integrated_gradients", baseline=b, steps=steps, quadrature=rule)
    assert_close(e.attribution, c * (x * x - b * b), rel=1e-12)
    assert float(e.delta.abs().max()) < 1e-12 * float(e.output.abs().max())


@given(seed=st.integers(0, 10_000), rule=st.sampled_from(["riemann_right", "riemann_middle", "gauss_legendre"]))
@settings(max_examples=10, deadline=None)
def test_integrated_gradients_from_zero_equals_gradient_x_input_on_bias_free_relu_nets(seed: int, rule: str) -> None:
    model = ReluMLP([6, 10, 8, 3], bias=False, seed=seed).eval()
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    model = model.double()
    ig = xaikit.explain(model, x, method="integrated_gradients", steps=7, quadrature=rule)
    gxi = xaikit.explain(model, x, method="gradient_x_input")
    assert_close(ig.attribution, gxi.attribution, rel=1e-10)
    # positively homogeneous: complete at any number of steps
    assert bool((ig.delta.abs() <= 1e-10 * ig.output.abs() + 1e-12).all())


@pytest.mark.parametrize("rule", ["trapezoid", "gauss_legendre", "riemann_right"])
def test_tolerance_mode_reaches_the_tolerance_and_matches_plain_integration(rule: str) -> None:
    model = ReluMLP([5, 16, 16, 3], seed=3).eval().double()
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(8, 5, generator=generator, dtype=torch.float64)
    baseline = 0.5 * torch.randn(5, generator=generator, dtype=torch.float64)
    e = xaikit.explain(
        model, x, 0, method="integrated_gradients", baseline=baseline, steps=4, quadrature=rule, tolerance=1e-2,
        max_steps=4096, batch_size=None,
    )
    assert bool(e.extras["converged"].all())
    assert float(e.relative_delta.max()) <= 1e-2
    assert_close(e.extras["completeness_gap"], e.delta, rel=0)
    steps = e.extras["steps"]
    assert int(steps.max()) > 4  # some samples needed refinement
    for count in steps.unique().tolist():
        rows = steps == count
        plain = xaikit.explain(model, x[rows], 0, method="integrated_gradients", baseline=baseline, steps=count, quadrature=rule)
        assert_close(e.attribution[rows], plain.attribution, rel=1e-9)


def test_tolerance_out_of_reach_warns_and_marks_the_samples() -> None:
    model = ReluMLP([5, 16, 3], seed=5).eval()
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(6))
    with pytest.warns(RuntimeWarning, match="did not reach the relative completeness gap"):
        e = xaikit.explain(model, x, 0, method="integrated_gradients", baseline=-1.0, steps=2,
                           quadrature="trapezoid", tolerance=1e-9, max_steps=9)
    assert not bool(e.extras["converged"].all())
    assert int(e.extras["steps"].max()) == 9


def test_internal_batch_size_does_not_change_the_result() -> None:
    model = ReluMLP([5, 8, 3], seed=7).eval()
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(8))
    whole = xaikit.explain(model, x, method="integrated_gradients", steps=9, batch_size=None)
    pieces = xaikit.explain(model, x, method="integrated_gradients", steps=9, batch_size=4)
    assert_close(pieces.attribution, whole.attribution, rel=1e-6)
    assert torch.equal(whole.output, whole.extras["f_input"] - whole.extras["f_baseline"])
