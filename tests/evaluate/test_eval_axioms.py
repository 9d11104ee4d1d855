"""Axioms: completeness, implementation invariance, input invariance, continuity; runtime."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from _models import gradient, gradient_x_input
from torch import nn

import xaikit
from xaikit.evaluate import (
    absorb_input_shift,
    completeness_gap,
    continuity,
    explanation_rate,
    implementation_invariance,
    input_invariance,
)


def _mlp(bias: bool = True) -> nn.Module:
    torch.manual_seed(0)
    return xaikit.models.MLP(5, (12, 12), 3, bias=bias).eval()


def test_completeness_gap_known_answers() -> None:
    x = torch.randn(6, 5)
    linear = xaikit.models.MLP(5, (), 3, bias=False).eval()
    result = completeness_gap(linear, x, gradient_x_input, target=1)
    np.testing.assert_allclose(result.gap, 0.0, atol=1e-5)
    np.testing.assert_allclose(result.relative_gap, 0.0, atol=1e-4)
    # LRP-0 conserves relevance exactly in a bias-free ReLU network
    lrp = completeness_gap(_mlp(bias=False), x, "lrp", method_options={"composite": "lrp0"})
    np.testing.assert_allclose(lrp.gap, 0.0, atol=1e-4)
    # with biases, gradient x input of a ReLU network misses f(0) and the biases' share
    biased = completeness_gap(_mlp(), x, gradient_x_input, reference=0.0)
    assert np.abs(biased.gap).max() > 1e-3


def test_integrated_gradients_is_complete() -> None:
    # fixed inputs: the relative gap divides by f(x) - f(0), which some inputs bring near 0
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    result = completeness_gap(_mlp(), x, "integrated_gradients", reference=0.0)
    assert np.abs(result.relative_gap).max() < 0.05


def test_implementation_invariance() -> None:
    model = _mlp()
    twin = copy.deepcopy(model)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # permute the first hidden layer's units: the same function
        twin.net[0].weight.copy_(model.net[0].weight[perm])
        twin.net[0].bias.copy_(model.net[0].bias[perm])
        twin.net[2].weight.copy_(model.net[2].weight[:, perm])
    x = torch.randn(5, 5)
    result = implementation_invariance(model, twin, x, gradient)
    np.testing.assert_allclose(result.max_abs_diff, 0.0, atol=1e-5)
    np.testing.assert_allclose(result.correlation, 1.0, atol=1e-6)

    def first_layer_weights(m: nn.Module, inputs: torch.Tensor, target: object) -> torch.Tensor:
        return m.net[0].weight.detach().sum(0).expand_as(inputs)  # depends on the implementation

    broken = implementation_invariance(model, twin, x, first_layer_weights)
    np.testing.assert_allclose(broken.max_abs_diff, 0.0, atol=1e-5)  # a sum is permutation invariant
    with torch.no_grad():
        twin.net[0].weight.mul_(2.0)
        twin.net[0].bias.mul_(2.0)
        twin.net[2].weight.div_(2.0)  # ReLU is positively homogeneous: still the same function
    assert implementation_invariance(model, twin, x, gradient).max_abs_diff.max() < 1e-5
    assert implementation_invariance(model, twin, x, first_layer_weights).relative_diff.min() > 0.5
    with torch.no_grad():
        twin.net[4].bias.add_(1.0)
    with pytest.raises(ValueError, match="functionally equivalent"):
        implementation_invariance(model, twin, x, gradient)


def test_input_invariance_gradient_passes_gradient_x_input_fails() -> None:
    model = _mlp()
    x = torch.rand(6, 5)
    shifted = absorb_input_shift(model, torch.arange(5.0))
    np.testing.assert_allclose(model(x).detach(), shifted(x + torch.arange(5.0)).detach(), atol=1e-5)
    assert input_invariance(model, x, gradient, shift=2.0).max_abs_diff.max() < 1e-5
    assert input_invariance(model, x, gradient_x_input, shift=2.0).relative_diff.min() > 0.1
    assert torch.equal(model.net[0].bias, _mlp().net[0].bias)  # the user's model is untouched


def test_input_invariance_with_convolutions() -> None:
    torch.manual_seed(0)
    unpadded = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).eval()
    x = torch.rand(3, 2, 6, 6)
    result = input_invariance(unpadded, x, gradient, shift=torch.tensor([1.0, -0.5]))
    assert result.max_abs_diff.max() < 1e-5
    padded = xaikit.models.DigitsCNN().eval()
    with pytest.raises(ValueError, match="pad with zeros"):
        input_invariance(padded, torch.rand(2, 1, 8, 8), gradient, shift=1.0)


def test_continuity() -> None:
    linear = xaikit.models.MLP(5, (), 3).eval()
    x = torch.randn(4, 5)
    flat = continuity(linear, x, gradient, n_samples=5)
    np.testing.assert_allclose(flat.lipschitz, 0.0, atol=1e-6)  # the gradient of a linear model is constant
    np.testing.assert_allclose(flat.correlation, 1.0, atol=1e-6)
    gxi = continuity(linear, x, gradient_x_input, n_samples=5)
    weights = linear.net[0].weight.detach().abs().max(1).values  # |w * eps| / |eps| <= max |w|
    assert (gxi.lipschitz > 0).all()
    assert (gxi.lipschitz <= weights[linear(x).argmax(1)].numpy() + 1e-5).all()
    again = continuity(linear, x, gradient_x_input, n_samples=5)
    np.testing.assert_array_equal(gxi.lipschitz, again.lipschitz)
    assert ((gxi.prediction_changed >= 0) & (gxi.prediction_changed <= 1)).all()


def test_explanation_rate() -> None:
    model = _mlp()
    frame = explanation_rate(model, torch.randn(8, 5), {"grad": gradient, "lrp": "lrp"}, repeats=2)
    assert list(frame["method"]) == ["grad", "lrp"]
    assert (frame["explanations_per_second"] > 0).all() and (frame["n"] == 8).all()
