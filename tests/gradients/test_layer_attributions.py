"""Attribution at named layers for the gradient, modified-backprop and DeepLIFT methods
(issue 15, item 1), read off the same backward pass as the input attribution.

References: Captum's ``LayerDeepLift`` and ``LayerGradientXActivation`` (float64), and the
network above a cut explained alone on the cut's activations (independent of the taps).
"""

from __future__ import annotations

import captum.attr as captum_attr
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import xaikit
from xaikit.utils.errors import InputError, ModelError

DT = torch.float64
CUTS = ("1", "3", "6")  # the outputs of both ReLUs of the features and of the hidden dense layer


def cnn(seed: int = 0, inplace: bool = False) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(inplace=inplace), nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(5 * 6 * 6, 8), nn.ReLU(), nn.Linear(8, 3),
    ).to(DT).eval()


def inputs(seed: int, n: int = 4) -> torch.Tensor:
    return torch.rand(n, 1, 6, 6, dtype=DT, generator=torch.Generator().manual_seed(seed))


TARGET = torch.tensor([0, 2, 1, 2])


@pytest.mark.parametrize("cut", CUTS)
def test_deeplift_layer_contributions_equal_captums_layer_deeplift(cut: str) -> None:
    model, x = cnn(), inputs(1)
    baseline = 0.3 * inputs(2)
    e = xaikit.explain(model, x, TARGET, method="deeplift", baseline=baseline, layers=[cut])
    theirs = captum_attr.LayerDeepLift(model, model[int(cut)]).attribute(x, baseline, target=TARGET)
    torch.testing.assert_close(e.layer_relevance(cut), theirs, rtol=1e-9, atol=1e-12)
    # per-layer conservation: every layer's contributions sum to f(x) - f(b), like the input's
    torch.testing.assert_close(e.layer_relevance(cut).flatten(1).sum(1), e.output, rtol=1e-9, atol=1e-12)
    alone = xaikit.explain(model, x, TARGET, method="deeplift", baseline=baseline)
    torch.testing.assert_close(e.attribution, alone.attribution, rtol=0, atol=0)  # the taps change nothing


def test_gradient_x_input_at_layers_equals_captums_layer_gradient_x_activation() -> None:
    model, x = cnn(1), inputs(3)
    e = xaikit.explain(model, x, TARGET, method="gradient_x_input", layers=list(CUTS), batch_size=3)
    for cut in CUTS:
        theirs = captum_attr.LayerGradientXActivation(model, model[int(cut)]).attribute(x, target=TARGET)
        torch.testing.assert_close(e.layer_relevance(cut), theirs, rtol=1e-12, atol=1e-14)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(CUTS), st.sampled_from(["saliency", "guided_backprop", "deconvnet"]))
def test_the_signal_at_a_layer_is_the_methods_input_signal_of_the_network_above(seed: int, cut: str, method: str) -> None:
    model, x = cnn(seed % 7), inputs(seed)
    e = xaikit.explain(model, x, TARGET, method=method, layers=[cut])
    k = int(cut)
    with torch.no_grad():
        activation = model[:k + 1](x)
    above = xaikit.explain(model[k + 1:], activation, TARGET, method=method)
    torch.testing.assert_close(e.layer_relevance(cut), above.attribution, rtol=1e-12, atol=1e-14)


def test_rectgrad_layers_and_batching() -> None:
    model, x = cnn(2), inputs(4)
    whole = xaikit.explain(model, x, TARGET, method="rectgrad", percentile=50.0, layers=["3"])
    assert whole.layer_relevance("3").shape == (4, 5, 6, 6)
    saliency = xaikit.explain(model, x, TARGET, method="saliency", layers=["3"], absolute=True)
    parts = xaikit.explain(model, x, TARGET, method="saliency", layers=["3"], absolute=True, batch_size=3)
    torch.testing.assert_close(parts.layer_relevance("3"), saliency.layer_relevance("3"), rtol=0, atol=0)
    assert bool((saliency.layer_relevance("3") >= 0).all())


def test_plain_gradients_refuse_a_layer_changed_in_place_and_bad_names() -> None:
    model, x = cnn(inplace=True), inputs(5)
    with pytest.raises(ModelError, match="in place"):
        xaikit.explain(model, x, TARGET, method="saliency", layers=["0"])  # the conv feeding ReLU(inplace=True)
    e = xaikit.explain(model, x, TARGET, method="saliency", layers=["1"])  # the ReLU itself is fine
    assert e.layer_relevance("1").shape == (4, 4, 6, 6)
    with pytest.raises(InputError, match=r"pass \['3'\]"):
        xaikit.explain(cnn(), x, TARGET, method="deeplift", layers="3")
    with pytest.raises(InputError, match="not a module"):
        xaikit.explain(cnn(), x, TARGET, method="guided_backprop", layers=["features.9"])


@pytest.mark.parametrize("method", ["lrp", "saliency", "deeplift"])
def test_a_modules_input_tap_equals_the_output_tap_of_the_module_before(method: str) -> None:
    model, x = cnn(3), inputs(6)
    e = xaikit.explain(model, x, TARGET, method=method, layers=["5:input", "4"])  # Linear's input = Flatten's output
    assert e.layers == ["5:input", "4"]
    torch.testing.assert_close(e.layer_relevance("5:input"), e.layer_relevance("4"), rtol=0, atol=0)
