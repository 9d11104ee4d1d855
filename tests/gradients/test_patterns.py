"""PatternNet and PatternAttribution (issue 16, item 2): the paper's linear toy case, where the
signal direction differs from the filter, and the backward swap checked against the gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import xaikit
from xaikit.gradients import Patterns, fit_patterns
from xaikit.utils.errors import InputError

DT = torch.float64


def toy() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """Kindermans et al., section 2: x = s a_s + eps d, signal direction a_s = (1, 0), distractor d = (1, 1);
    the filter w = (1, -1) cancels the distractor (w . d = 0) and reads the signal (w . a_s = 1)."""
    generator = torch.Generator().manual_seed(0)
    s, eps = torch.randn(20_000, 1, generator=generator, dtype=DT), torch.randn(20_000, 1, generator=generator, dtype=DT)
    x = s * torch.tensor([1.0, 0.0], dtype=DT) + eps * torch.tensor([1.0, 1.0], dtype=DT)
    model = nn.Sequential(nn.Linear(2, 1, bias=False)).to(DT).eval()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -1.0]], dtype=DT))
    return model, x, s


@pytest.mark.parametrize("estimator", ["linear", "two_component"])
def test_patterns_recover_the_signal_where_the_gradient_shows_the_filter(estimator: str) -> None:
    model, x, s = toy()
    patterns = fit_patterns(model, x, estimator=estimator)
    np.testing.assert_allclose(patterns.patterns["0"].numpy(), [[1.0, 0.0]], atol=0.03)  # a = a_s, not w
    xs = x[:8]
    signal = xaikit.explain(model, xs, 0, method="pattern_net", patterns=patterns).attribution
    truth = s[:8] * torch.tensor([1.0, 0.0], dtype=DT)
    assert float((signal - truth).abs().max()) < 0.05 * float(truth.abs().max())
    attribution = xaikit.explain(model, xs, 0, method="pattern_attribution", patterns=patterns).attribution
    gradient_x_input = xaikit.explain(model, xs, 0, method="gradient_x_input").attribution
    # the second feature carries only the distractor: PatternAttribution leaves it (almost) alone
    assert float(attribution[:, 1].abs().max()) < 0.05 * float(attribution[:, 0].abs().max())
    assert float(gradient_x_input[:, 1].abs().max()) > 0.3 * float(gradient_x_input[:, 0].abs().max())


def cnn() -> nn.Sequential:
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(3 * 4 * 4, 5), nn.ReLU(), nn.Linear(5, 2)).to(DT).eval()


def test_with_the_weights_as_patterns_both_methods_are_the_gradient_times_the_output() -> None:
    model, x = cnn(), torch.rand(4, 1, 8, 8, dtype=DT, generator=torch.Generator().manual_seed(2))
    weights = {name: m.weight.detach() for name, m in model.named_modules() if isinstance(m, nn.Linear | nn.Conv2d)}
    ones = {name: torch.ones_like(w) for name, w in weights.items()}
    saliency = xaikit.explain(model, x, 1, method="saliency")
    expected = saliency.attribution * saliency.output.view(-1, 1, 1, 1)
    net = xaikit.explain(model, x, 1, method="pattern_net", patterns=Patterns(weights, "linear", 0))
    attribution = xaikit.explain(model, x, 1, method="pattern_attribution", patterns=Patterns(ones, "linear", 0))
    torch.testing.assert_close(net.attribution, expected, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(attribution.attribution, expected, rtol=1e-12, atol=1e-14)


def test_a_convolutions_two_component_pattern_is_the_covariance_of_its_patches_where_it_fires() -> None:
    model = cnn()
    data = torch.rand(30, 1, 8, 8, dtype=DT, generator=torch.Generator().manual_seed(3))
    patterns = fit_patterns(model, data, batch_size=7)
    conv = model[0]
    rows = F.unfold(data, 3, padding=1).transpose(1, 2).reshape(-1, 9).numpy()  # (R, in)
    out = (conv(data) - conv.bias.view(1, -1, 1, 1)).detach().flatten(2).transpose(1, 2).reshape(-1, 3).numpy()
    w = conv.weight.detach().reshape(3, 9).numpy()
    for j in range(3):
        on = out[:, j] > 0
        xs, ys = rows[on], out[on, j]
        covariance = (xs * ys[:, None]).mean(0) - xs.mean(0) * ys.mean()
        expected = covariance / (w[j] @ covariance)
        np.testing.assert_allclose(patterns.patterns["0"][j].reshape(9).numpy(), expected, rtol=1e-9, atol=1e-12)
    assert {k: tuple(v.shape) for k, v in patterns.patterns.items()} == {
        "0": (3, 1, 3, 3), "4": (5, 48), "6": (2, 5)}


def test_patterns_are_required_and_must_cover_the_model() -> None:
    model, x = cnn(), torch.rand(2, 1, 8, 8, dtype=DT)
    with pytest.raises(InputError, match="fit_patterns"):
        xaikit.explain(model, x, 0, method="pattern_net", patterns={"0": 1})
    partial = fit_patterns(model, x)
    with pytest.raises(InputError, match="do not cover"):
        xaikit.explain(model, x, 0, method="pattern_net",
                       patterns=Patterns({"0": partial.patterns["0"]}, "two_component", 2))
    with pytest.raises(InputError, match="estimator"):
        fit_patterns(model, x, estimator="quadratic")
