"""Excitation backprop (MWP, c-MWP) and contrastive LRP (issue 16, item 3).

References independent of the implementation: the marginal winning probabilities written
out with NumPy from Zhang et al.'s equations for an MLP; for the contrastive maps, a copy of
the model whose output row is negated (the dual class built explicitly) explained with
plain LRP.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import xaikit
from xaikit.lrp import Composite, LayerName, ZPlus, get_composite
from xaikit.utils.errors import InputError, ModelError

DT = torch.float64


def mlp(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 9), nn.ReLU(), nn.Linear(9, 7), nn.ReLU(), nn.Linear(7, 4)).to(DT).eval()


def cnn(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 5, 3, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(5 * 4 * 4, 8), nn.ReLU(), nn.Linear(8, 3)).to(DT).eval()


def mwp_numpy(model: nn.Sequential, x: np.ndarray, target: int, contrastive: bool = False) -> list[np.ndarray]:
    """Zhang et al., eq. (6)-(7): P(a_j) = sum_k a_j w_jk^+ / (sum_j' a_j' w_j'k^+) P(a_k), from the top.

    Returns the probabilities at the input of every linear layer, top first.
    """
    linears = [m for m in model if isinstance(m, nn.Linear)]
    activations = [x]
    for layer in linears[:-1]:
        activations.append(np.maximum(activations[-1] @ layer.weight.detach().numpy().T + layer.bias.detach().numpy(), 0))
    w_top = linears[-1].weight.detach().numpy()[target]
    a = activations[-1]
    def normalized(part: np.ndarray) -> np.ndarray:  # no contribution of that sign: nothing handed down
        return part / part.sum() if part.sum() != 0 else np.zeros_like(part)

    share = normalized(np.maximum(a * w_top, 0))
    if contrastive:
        share = share - normalized(np.minimum(a * w_top, 0))
    found = [share]
    for layer, a in zip(reversed(linears[:-1]), reversed(activations[:-1]), strict=True):
        w = layer.weight.detach().numpy().T  # (in, out)
        z = a[:, None] * np.maximum(w, 0)
        total = z.sum(0)
        share = (z / np.where(total > 0, total, 1.0)) @ found[-1]
        found.append(share)
    return found


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 3), st.booleans())
def test_excitation_backprop_equals_the_papers_equations(seed: int, target: int, contrastive: bool) -> None:
    model = mlp(seed % 5)
    x = torch.from_numpy(np.random.default_rng(seed).random((1, 6)))
    e = xaikit.explain(model, x, target, method="excitation_backprop", contrastive=contrastive, layers=["1", "3"])
    top, middle, bottom = mwp_numpy(model, x[0].numpy(), target, contrastive)
    np.testing.assert_allclose(e.layer_relevance("3")[0].numpy(), top, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(e.layer_relevance("1")[0].numpy(), middle, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(e.attribution[0].numpy(), bottom, rtol=1e-9, atol=1e-12)


def test_winning_probabilities_sum_to_one_at_every_layer() -> None:
    """Exactly on a bias-free model; with biases a neuron excited by its bias alone passes nothing."""
    model = cnn(0)
    with torch.no_grad():
        for module in model:
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
    x = torch.rand(5, 1, 8, 8, dtype=DT, generator=torch.Generator().manual_seed(1))
    layers = ["1", "2", "4", "7"]
    e = xaikit.explain(model, x, method="excitation_backprop", layers=layers)
    for name in layers:
        probabilities = e.layer_relevance(name)
        assert bool((probabilities >= 0).all())
        torch.testing.assert_close(probabilities.flatten(1).sum(1), torch.ones(5, dtype=DT), rtol=1e-9, atol=0)
    torch.testing.assert_close(e.attribution.flatten(1).sum(1), torch.ones(5, dtype=DT), rtol=1e-9, atol=0)
    torch.testing.assert_close(e.output, torch.ones(5, dtype=DT))
    contrast = xaikit.explain(model, x, e.target, method="excitation_backprop", contrastive=True)
    torch.testing.assert_close(contrast.attribution.flatten(1).sum(1), torch.zeros(5, dtype=DT), rtol=0, atol=1e-9)


def dual_model(model: nn.Sequential, target: int) -> nn.Sequential:
    """The dual class built explicitly: the output row of ``target`` and its bias negated."""
    dual = copy.deepcopy(model)
    with torch.no_grad():
        dual[-1].weight[target].neg_()
        dual[-1].bias[target].neg_()
    return dual


@pytest.mark.parametrize("composite", ["epsilon_plus", "epsilon_alpha2_beta1", "epsilon"])
def test_contrastive_lrp_is_target_lrp_minus_dual_lrp(composite: str) -> None:
    model, target = cnn(2), 1
    x = torch.rand(4, 1, 8, 8, dtype=DT, generator=torch.Generator().manual_seed(3))
    preset = get_composite(composite)
    top = Composite([(LayerName("8"), ZPlus(bias=False, signed=False, epsilon=0.0)), *preset.rules],
                    defaults=preset.defaults, units=preset.units)
    towards = xaikit.explain(model, x, target, method="lrp", composite=top)
    against = xaikit.explain(dual_model(model, target), x, target, method="lrp", composite=top)
    logit = towards.output
    torch.testing.assert_close(against.output, -logit, rtol=1e-12, atol=0)  # the dual class's logit is -z_t
    # each part started with z_t: the dual's LRP (started with its own logit -z_t) times z_t / (-z_t)
    expected = towards.attribution - against.attribution * (logit / against.output).view(-1, 1, 1, 1)
    clrp = xaikit.explain(model, x, target, method="contrastive_lrp", composite=composite)
    torch.testing.assert_close(clrp.attribution, expected, rtol=1e-9, atol=1e-12)
    rectified = xaikit.explain(model, x, target, method="clrp", composite=composite, rectify=True)
    torch.testing.assert_close(rectified.attribution, expected.clamp(min=0), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(clrp.extras["logit"], logit)


def test_bad_inputs_are_refused() -> None:
    model, x = cnn(0), torch.rand(2, 1, 8, 8, dtype=DT)
    with pytest.raises(InputError, match=r"must name an nn\.Linear"):
        xaikit.explain(model, x, method="contrastive_lrp", top_layer="3")
    with pytest.raises(ModelError, match="is not the output of its last layer"):
        xaikit.explain(model, x, method="excitation_backprop", top_layer="6")
    with pytest.raises(InputError, match=r"no nn\.Linear"):
        xaikit.explain(nn.Sequential(nn.Conv2d(1, 2, 8), nn.Flatten()).to(DT), x, method="excitation_backprop")
