"""Conservation: sum_i R_i = f(x) when biases are zero and stabilizers vanish; with biases,
Explanation.delta is exactly the relevance the biases absorb."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lrp_nets import DT, zero_biases
from torch import nn

import xaikit
from xaikit.lrp import AlphaBeta, Composite, Epsilon, FirstLayer, Gamma, Kind, ZBox, ZPlus

EXACT = Epsilon(0.0)
LAYERS = Kind("dense", "conv")
COMPOSITES = {
    "lrp0": Composite([(LAYERS, EXACT)]),
    "epsilon": Composite([(LAYERS, Epsilon(1e-12, relative=False))]),
    "gamma": Composite([(LAYERS, Gamma(0.25, epsilon=0.0))]),
    "zplus": Composite([(Kind("conv"), ZPlus(epsilon=0.0)), (LAYERS, EXACT)]),
    "alpha2_beta1": Composite([(Kind("conv"), AlphaBeta(2.0, 1.0, epsilon=0.0)), (LAYERS, EXACT)]),
    "gamma_box": Composite([(FirstLayer(), ZBox(low=-4.0, high=4.0, epsilon=0.0)), (Kind("conv"), Gamma(epsilon=0.0)), (LAYERS, EXACT)]),
}


@pytest.mark.parametrize("net", ["mlp", "vgg", "resnet"])
@pytest.mark.parametrize("composite", list(COMPOSITES))
def test_conservation_without_biases(nets, net: str, composite: str) -> None:  # type: ignore[no-untyped-def]
    model, x = nets[net]
    model = zero_biases(copy.deepcopy(model))
    e = xaikit.explain(model, x, method="lrp", composite=COMPOSITES[composite])
    assert (e.relative_delta < 1e-6).all(), e.relative_delta


@pytest.mark.parametrize("preset", ["epsilon_plus", "epsilon_gamma_box", "epsilon_alpha2_beta1", "epsilon_plus_flat"])
def test_presets_nearly_conserve_without_biases(nets, preset: str) -> None:  # type: ignore[no-untyped-def]
    model, x = nets["resnet"]
    model = zero_biases(copy.deepcopy(model))
    e = xaikit.explain(model, x, composite=preset)
    assert (e.relative_delta < 1e-4).all(), e.relative_delta  # only the 1e-6 scale-aware epsilon dissipates


def test_bias_absorption_is_reported_exactly() -> None:
    gen = torch.Generator().manual_seed(0)
    layer = nn.Linear(6, 3).to(DT)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(3, 6, generator=gen, dtype=DT))
        layer.bias.copy_(torch.randn(3, generator=gen, dtype=DT))
    x = torch.randn(5, 6, generator=gen, dtype=DT)
    e = xaikit.explain(layer, x, target=1, composite="lrp0")
    # LRP-0 on one layer: R_out = z_1, the bias takes b_1 / z_1 of it, i.e. exactly b_1.
    torch.testing.assert_close(e.delta, layer.bias[1].detach().expand(5))
    torch.testing.assert_close(e.output, layer(x)[:, 1].detach())


def test_scale_aware_epsilon_survives_tiny_activations() -> None:
    """With logits of order 1e-6, an absolute epsilon of 1e-6 swallows the relevance; the scale-aware one does not."""
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16, bias=False), nn.ReLU(), nn.Linear(16, 4, bias=False)).to(DT)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=DT) * 1e-3)
    x = torch.rand(4, 8, generator=gen, dtype=DT)
    absolute = xaikit.explain(model, x, composite=Composite([(LAYERS, Epsilon(1e-6, relative=False))]))
    relative = xaikit.explain(model, x, composite=Composite([(LAYERS, Epsilon(1e-6, relative=True))]))
    assert (absolute.relative_delta > 0.2).all()
    assert (relative.relative_delta < 1e-4).all()  # of the order of epsilon times a few layers


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    widths=st.lists(st.integers(1, 12), min_size=1, max_size=3),
    rule=st.sampled_from(["lrp0", "gamma", "zplus", "alpha2_beta1"]),
)
def test_conservation_property_on_random_mlps(seed: int, widths: list[int], rule: str) -> None:
    gen = torch.Generator().manual_seed(seed)
    sizes = [5, *widths, 3]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        lin = nn.Linear(a, b, bias=False).to(DT)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=gen, dtype=DT))
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    x = torch.randn(6, 5, generator=gen, dtype=DT)
    rules = {"lrp0": EXACT, "gamma": Gamma(0.5, epsilon=0.0), "zplus": ZPlus(epsilon=0.0), "alpha2_beta1": AlphaBeta(epsilon=0.0)}
    e = xaikit.explain(model, x, composite=Composite([(LAYERS, rules[rule])]))
    # samples whose output is exactly zero have nothing to conserve
    nonzero = e.output.abs() > 1e-12
    gap = (e.delta.abs() / e.output.abs().clamp(min=1e-300))[nonzero]
    # a ReLU unit that is dead for every sample blocks nothing; but a neuron whose positive sum
    # is empty loses its (zero) relevance only: conservation must hold everywhere it can
    assert (gap < 1e-6).all(), (gap, e.output)
