"""Relevance at named layers from LRP's one backward pass (issue 15, item 1).

The reference is independent of the taps: the network above a cut, explained alone on the
cut's activations with the same composite, must give the relevance at the cut.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import xaikit
from xaikit.utils.errors import InputError, ModelError

DT = torch.float64
CUTS = ("1", "2", "3", "5", "7")
#: Composites whose rule of a layer does not depend on its position (z^B of the first layer
#: would apply to the truncated network's first layer instead).
POSITION_FREE = ("epsilon", "epsilon_plus", "epsilon_alpha2_beta1", "alpha1_beta0")


def cnn(bias: bool = True, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=bias), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1, bias=bias), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 4 * 4, 10, bias=bias), nn.ReLU(), nn.Linear(10, 3, bias=bias),
    ).to(DT).eval()


@pytest.mark.parametrize("composite", POSITION_FREE)
def test_layer_relevance_is_the_input_relevance_of_the_network_above(composite: str) -> None:
    model = cnn()
    x = torch.rand(5, 1, 8, 8, dtype=DT, generator=torch.Generator().manual_seed(1))
    e = xaikit.explain(model, x, method="lrp", composite=composite, layers=list(CUTS))
    assert e.layers == list(CUTS)
    for cut in CUTS:
        k = int(cut)
        with torch.no_grad():
            activations = model[: k + 1](x)
        above = xaikit.explain(model[k + 1:], activations, target=e.target, method="lrp", composite=composite)
        torch.testing.assert_close(e.layer_relevance(cut), above.attribution, rtol=1e-6, atol=1e-9)
    # the input relevance is what it is without the taps
    plain = xaikit.explain(model, x, method="lrp", composite=composite)
    torch.testing.assert_close(e.attribution, plain.attribution, rtol=0, atol=0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), samples=st.integers(1, 4))
def test_without_biases_every_layer_conserves_the_output(seed: int, samples: int) -> None:
    """Nothing absorbs relevance (no biases, epsilon tiny): each layer sums to the explained logit."""
    model = cnn(bias=False, seed=seed)
    x = torch.rand(samples, 1, 8, 8, dtype=DT, generator=torch.Generator().manual_seed(seed))
    e = xaikit.explain(model, x, method="lrp", composite="epsilon", composite_options={"epsilon": 1e-12},
                       layers=["0", "4", "6"])
    for name in e.layers:
        sums = e.layer_relevance(name).flatten(1).sum(1)
        torch.testing.assert_close(sums, e.output, rtol=1e-6, atol=1e-9)


def test_with_biases_the_gap_grows_downwards_by_what_each_layer_absorbs() -> None:
    model = cnn()
    x = torch.rand(3, 1, 8, 8, dtype=DT, generator=torch.Generator().manual_seed(2))
    e = xaikit.explain(model, x, method="lrp", composite="epsilon", composite_options={"epsilon": 1e-12},
                       layers=["7", "5"])
    top, middle = (e.layer_relevance(n).flatten(1).sum(1) for n in ("7", "5"))
    with torch.no_grad():
        hidden = model[:8](x)
        absorbed = model[8].bias[e.target]  # the last layer's bias takes its share z_c: bias_c
        torch.testing.assert_close(top, e.output - absorbed, rtol=1e-6, atol=1e-9)
        # the Linear(96, 10) bias absorbs b_j R_j / z_j of each hidden unit j
        z = model[6](model[:6](x))
        share = (model[6].bias * e.layer_relevance("7") / z).where(hidden > 0, torch.zeros_like(z)).sum(1)
    torch.testing.assert_close(middle, top - share, rtol=1e-6, atol=1e-9)


def test_batched_explanations_carry_the_same_layer_relevance() -> None:
    model = cnn()
    x = torch.rand(7, 1, 8, 8, dtype=DT, generator=torch.Generator().manual_seed(3))
    whole = xaikit.explain(model, x, method="lrp", layers=["2", "7"])
    parts = xaikit.explain(model, x, method="lrp", layers=["2", "7"], batch_size=3)
    for name in ("2", "7"):
        torch.testing.assert_close(parts.layer_relevance(name), whole.layer_relevance(name), rtol=1e-12, atol=1e-15)
    assert whole[2:4].layer_relevance("7").shape == (2, 10)  # slicing keeps the layers


def test_bad_layer_names_and_folded_layers_are_refused() -> None:
    model = cnn()
    x = torch.rand(2, 1, 8, 8, dtype=DT)
    with pytest.raises(InputError, match=r"layer 'conv9' is not a module of Sequential.*'0', '1'.*or the modules themselves"):
        xaikit.explain(model, x, method="lrp", layers=["conv9"])
    with pytest.raises(InputError, match="list of module names"):
        xaikit.explain(model, x, method="lrp", layers="2")
    with pytest.raises(KeyError, match=r"no relevance at layer '3'.*explain with layers=\['3'\]"):
        xaikit.explain(model, x, method="lrp", layers=["2"]).layer_relevance("3")
    torch.manual_seed(0)
    normed = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 36, 2)).eval()
    with pytest.raises(ModelError, match=r"folded it into the next layer.*merge_batchnorm=False"):
        xaikit.explain(normed, torch.rand(2, 1, 8, 8), method="lrp", layers=["0"])
    e = xaikit.explain(normed, torch.rand(2, 1, 8, 8), method="lrp", layers=["0"], merge_batchnorm=False)
    assert e.layer_relevance("0").shape == (2, 3, 6, 6)
    shared = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    twice = nn.Sequential(shared, shared, nn.Linear(4, 2)).eval()
    with pytest.raises(ModelError, match="runs more than once"):
        xaikit.explain(twice, torch.rand(2, 4), method="lrp", layers=["0"])
    assert not any(m._forward_hooks for m in model.modules())  # no hook left behind
