"""Layer and neuron attributions of the review's Table II (issue 15, item 3), checked against
Captum's corresponding methods on one float64 CNN, and for what Captum does not check:
the total conductance's convergence to f(x) - f(x')."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import xaikit
from xaikit.gradients.neurons import (
    NeuronOutput,
    internal_influence,
    layer_conductance,
    neuron_conductance,
    neuron_guided_backprop,
    neuron_integrated_gradients,
)
from xaikit.utils.errors import InputError

captum = pytest.importorskip("captum.attr")

DT = torch.float64
NEURON = (1, 2, 3)


def cnn(activation: type[nn.Module] = nn.ReLU, pool: type[nn.Module] = nn.MaxPool2d) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), activation(), nn.Conv2d(4, 6, 3, padding=1), activation(), pool(2),
        nn.Flatten(), nn.Linear(6 * 4 * 4, 10), activation(), nn.Linear(10, 3),
    ).to(DT).eval()


X = torch.rand(3, 1, 8, 8, dtype=DT, generator=torch.Generator().manual_seed(1))
Y = torch.tensor([0, 1, 2])


@pytest.mark.parametrize(("method", "rule"), [("gausslegendre", "gauss_legendre"), ("riemann_trapezoid", "trapezoid")])
def test_layer_conductance_equals_captum_with_its_left_point_rule(method: str, rule: str) -> None:
    model = cnn()
    theirs = captum.LayerConductance(model, model[2]).attribute(X, target=Y, n_steps=20, method=method)
    ours = layer_conductance(model, X, Y, layer="2", steps=20, rule=rule, gradient_at="left")
    torch.testing.assert_close(ours.attribution, theirs, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(("method", "rule"), [("gausslegendre", "gauss_legendre"), ("riemann_middle", "riemann_middle")])
def test_internal_influence_neuron_conductance_and_neuron_ig_equal_captum(method: str, rule: str) -> None:
    model = cnn()
    layer = model[2]
    pairs = [
        (captum.InternalInfluence(model, layer).attribute(X, target=Y, n_steps=16, method=method),
         internal_influence(model, X, Y, layer="2", steps=16, rule=rule).attribution),
        (captum.NeuronConductance(model, layer).attribute(X, neuron_selector=NEURON, target=Y, n_steps=16, method=method),
         neuron_conductance(model, X, Y, layer="2", neuron=NEURON, steps=16, rule=rule).attribution),
        (captum.NeuronIntegratedGradients(model, layer).attribute(X, neuron_selector=NEURON, n_steps=16, method=method),
         neuron_integrated_gradients(model, X, layer="2", neuron=NEURON, steps=16, rule=rule).attribution),
    ]
    for theirs, ours in pairs:
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-9)


def test_captum_trapezoid_weights_sum_to_one_minus_one_over_n() -> None:
    """Captum's riemann_trapezoid gives n nodes the weights 1/n (ends halved): they sum to
    1 - 1/n, so its integrals are (n - 1)/n of the trapezoid rule's (xaikit's weights 1/(n-1))."""
    model, n = cnn(), 16
    theirs = captum.NeuronIntegratedGradients(model, model[2]).attribute(X, neuron_selector=NEURON, n_steps=n,
                                                                          method="riemann_trapezoid")
    ours = neuron_integrated_gradients(model, X, layer="2", neuron=NEURON, steps=n, rule="trapezoid").attribution
    torch.testing.assert_close(theirs, ours * (n - 1) / n, rtol=1e-6, atol=1e-9)


def test_neuron_guided_backprop_equals_captum() -> None:
    model = cnn()
    theirs = captum.NeuronGuidedBackprop(model, model[2]).attribute(X, neuron_selector=NEURON)
    torch.testing.assert_close(neuron_guided_backprop(model, X, layer="2", neuron=NEURON).attribution, theirs,
                               rtol=1e-9, atol=1e-12)


def test_total_conductance_converges_to_the_output_difference_at_second_order() -> None:
    """Smooth model: the two-ended gradient's error falls ~4x per doubling, the left point's ~2x."""
    model = cnn(nn.Softplus, nn.AvgPool2d)
    errors = {how: [float(layer_conductance(model, X, Y, layer="3", steps=s, gradient_at=how).delta.abs().max())
                    for s in (8, 16, 32)] for how in ("average", "left")}
    average, left = errors["average"], errors["left"]
    assert average[1] < average[0] / 3 and average[2] < average[1] / 3, average
    assert left[2] > average[2] * 10, (left, average)


def test_neuron_output_lets_any_method_explain_a_neuron() -> None:
    model = cnn()
    neuron = NeuronOutput(model, model[2], NEURON)
    with torch.no_grad():
        expected = model[:3](X)[:, 1, 2, 3]
    torch.testing.assert_close(neuron(X)[:, 0], expected)
    flat = NeuronOutput(model, "2", 1 * 64 + 2 * 8 + 3)  # the same neuron by its flat index
    torch.testing.assert_close(flat(X), neuron(X))
    e = xaikit.explain(neuron, X, 0, method="saliency")
    assert e.attribution.shape == X.shape
    with pytest.raises(InputError, match="not an index of the layer output"):
        NeuronOutput(model, "2", (9, 0, 0))(X)
    with pytest.raises(InputError, match="outside the layer output"):
        NeuronOutput(model, "2", 10_000)(X)
    assert not any(m._forward_hooks for m in model.modules())
