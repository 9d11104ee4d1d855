"""Noise tunnel, smoothed integrated gradients and expected gradients: exact limits and statistics."""

from __future__ import annotations

import math

import pytest
import torch
from gradients_testkit import ReluMLP, TinyCNN, assert_close
from torch import Tensor, nn

import xaikit
from xaikit.gradients import NoiseTunnel, Saliency


class Quadratic(nn.Module):
    """``f(x) = sum_i c_i x_i^2`` (gradient ``2 c x``; integrated gradients exact with midpoints)."""

    def __init__(self, c: Tensor) -> None:
        super().__init__()
        self.c = c

    def forward(self, x: Tensor) -> Tensor:
        return (self.c * x * x).flatten(1).sum(1, keepdim=True)


def linear_model() -> nn.Linear:
    model = nn.Linear(6, 2)
    with torch.no_grad():
        model.weight.copy_(torch.arange(12.0).view(2, 6) - 5.0)
        model.bias.copy_(torch.tensor([0.5, -1.5]))
    return model.eval()


# ---------------------------------------------------------------- noise tunnel
@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "guided_backprop"])
def test_without_noise_the_tunnel_returns_the_wrapped_method(method: str) -> None:
    model, x = TinyCNN().eval(), torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    inner = xaikit.explain(model, x, 1, method=method)
    for variant, expected in [
        ("smoothgrad", inner.attribution),
        ("smoothgrad_sq", inner.attribution**2),
        ("vargrad", torch.zeros_like(inner.attribution)),
    ]:
        e = xaikit.explain(model, x, 1, method="noise_tunnel", base_method=method, variant=variant, stdev=0.0, samples=3)
        assert_close(e.attribution, expected, rel=1e-6)
        assert_close(e.output, inner.output, rel=1e-6)


def test_linear_model_smoothgrad_is_the_weight_and_its_variance_is_zero() -> None:
    model, x = linear_model(), torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    sg = xaikit.explain(model, x, 1, method="smoothgrad", samples=7)
    assert_close(sg.attribution, model.weight[1].detach().expand(4, 6), rel=1e-7)
    var = xaikit.explain(model, x, 1, method="smoothgrad", variant="vargrad", samples=7)
    assert float(var.attribution.abs().max()) < 1e-10
    # attributions and outputs are averaged over the same noisy inputs: only the bias is unexplained
    gxi = xaikit.explain(model, x, 1, method="noise_tunnel", base_method="gradient_x_input", samples=7)
    assert_close(gxi.delta, torch.full((4,), -1.5), rel=1e-5)


def test_noise_level_is_relative_to_the_input_range() -> None:
    """For ``f = sum x^2`` the saliency is ``2 (x + eps)``: VarGrad estimates ``4 sigma^2``."""
    d, samples, stdev = 64, 400, 0.1
    x = torch.linspace(0.0, 2.0, d, dtype=torch.float64)[None]  # range 2: sigma = 0.2
    model = Quadratic(torch.ones(d, dtype=torch.float64))
    var = xaikit.explain(model, x, 0, method="noise_tunnel", variant="vargrad", samples=samples, stdev=stdev, seed=3)
    sigma = 0.2
    assert_close(var.extras["noise_stdev"], torch.tensor([sigma], dtype=torch.float64), rel=1e-12)
    ratio = float((var.attribution / (4 * sigma**2)).mean())
    assert abs(ratio - 1.0) < 5 * math.sqrt(2 / samples / d)  # 5 standard errors of the mean sample variance
    sg = xaikit.explain(model, x, 0, method="noise_tunnel", samples=samples, stdev=stdev, seed=3)
    assert float((sg.attribution - 2 * x).abs().max()) < 5 * 2 * sigma / math.sqrt(samples)
    sq = xaikit.explain(model, x, 0, method="noise_tunnel", variant="smoothgrad_sq", samples=samples, stdev=stdev, seed=3)
    assert_close(sq.attribution, sg.attribution**2 + var.attribution, rel=1e-9)


def test_noise_tunnel_is_deterministic_chunk_invariant_and_leaves_the_global_rng_alone() -> None:
    model, x = TinyCNN().eval(), torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(4))
    state = torch.get_rng_state()
    a = xaikit.explain(model, x, 0, method="smoothgrad", samples=5, seed=7, batch_size=2)
    b = xaikit.explain(model, x, 0, method="smoothgrad", samples=5, seed=7, batch_size=None)
    c = xaikit.explain(model, x, 0, method="smoothgrad", samples=5, seed=8)
    assert torch.equal(torch.get_rng_state(), state)
    assert_close(a.attribution, b.attribution, rel=1e-6)
    assert not torch.allclose(a.attribution, c.attribution)


def test_noise_tunnel_wraps_an_explainer_object_and_keeps_the_clean_target() -> None:
    model, x = ReluMLP([5, 8, 3], seed=5).eval(), torch.randn(4, 5, generator=torch.Generator().manual_seed(6))
    predicted = model(x).argmax(1)
    e = xaikit.explain(model, x, method=NoiseTunnel(Saliency(absolute=True), samples=4, stdev=2.0))
    assert torch.equal(e.target, predicted)
    assert bool((e.attribution >= 0).all())
    assert e.extras["inner_method"] == "saliency"
    with pytest.raises(ValueError, match="unknown noise tunnel variant"):
        NoiseTunnel(variant="smoothgrad_cubed")
    with pytest.raises(TypeError, match="base_options only with a method name"):
        NoiseTunnel(Saliency(), base_options={"absolute": True})


# ---------------------------------------------------------------- smoothed integrated gradients
def test_one_noiseless_start_is_integrated_gradients_with_midpoints() -> None:
    model, x = TinyCNN().eval(), torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(7))
    smooth = xaikit.explain(model, x, 2, method="smooth_integrated_gradients", samples=1, steps=6, stdev=0.0, baseline=0.2)
    ig = xaikit.explain(model, x, 2, method="integrated_gradients", steps=6, quadrature="riemann_middle", baseline=0.2)
    assert_close(smooth.attribution, ig.attribution, rel=1e-6)
    assert_close(smooth.output, ig.output, rel=1e-6)


def test_smoothed_ig_is_complete_with_respect_to_its_random_starts_on_a_quadratic() -> None:
    generator = torch.Generator().manual_seed(8)
    model = Quadratic(torch.randn(10, generator=generator, dtype=torch.float64))
    x = torch.randn(4, 10, generator=generator, dtype=torch.float64)
    e = xaikit.explain(model, x, 0, method="smooth_ig", samples=5, steps=5, stdev=0.3, seed=1)
    assert float(e.delta.abs().max()) < 1e-12 * float(e.attribution.abs().sum(1).max())
    again = xaikit.explain(model, x, 0, method="smooth_ig", samples=5, steps=5, stdev=0.3, seed=1)
    assert torch.equal(e.attribution, again.attribution)
    other = xaikit.explain(model, x, 0, method="smooth_ig", samples=5, steps=5, stdev=0.3, seed=2)
    assert not torch.allclose(e.attribution, other.attribution)


# ---------------------------------------------------------------- expected gradients
def test_expected_gradients_with_one_baseline_on_a_linear_model_is_exact() -> None:
    model = linear_model()
    generator = torch.Generator().manual_seed(9)
    x, b = torch.randn(3, 6, generator=generator), torch.randn(1, 6, generator=generator)
    e = xaikit.explain(model, x, 0, method="gradient_shap", baselines=b, samples=3)
    assert_close(e.attribution, (x - b) * model.weight[0].detach(), rel=1e-6)
    assert float(e.delta.abs().max()) < 1e-5


def test_expected_gradients_of_a_quadratic_converges_to_integrated_gradients() -> None:
    """``E_t[(x - b) 2 c (b + t (x - b))] = c (x^2 - b^2)``; the estimate is within a few standard errors."""
    generator = torch.Generator().manual_seed(10)
    c = torch.rand(8, generator=generator, dtype=torch.float64) + 0.5
    x = torch.randn(2, 8, generator=generator, dtype=torch.float64)
    b = torch.randn(1, 8, generator=generator, dtype=torch.float64)
    samples = 2000
    e = xaikit.explain(Quadratic(c), x, 0, method="expected_gradients", baselines=b, samples=samples, seed=5)
    exact = c * (x * x - b * b)
    standard_error = 2 * c * (x - b) ** 2 * math.sqrt(1 / 12) / math.sqrt(samples)
    assert bool(((e.attribution - exact).abs() <= 5 * standard_error).all())


def test_expected_gradients_draws_baselines_from_the_set() -> None:
    """A linear model: the attribution is ``(x - mean of the drawn baselines) * w``, near ``x - mean(B)``."""
    model = linear_model()
    generator = torch.Generator().manual_seed(11)
    x, background = torch.randn(2, 6, generator=generator), torch.randn(50, 6, generator=generator)
    e = xaikit.explain(model, x, 1, method="expected_gradients", baselines=background, samples=800, seed=0)
    drawn_mean = x - e.attribution / model.weight[1].detach()
    bound = 5 * background.std(0) / math.sqrt(800)
    assert bool(((drawn_mean - background.mean(0)).abs() <= bound).all())
    assert_close(e.output, model(x)[:, 1].detach() - model(background)[:, 1].mean().detach(), rel=1e-6)
