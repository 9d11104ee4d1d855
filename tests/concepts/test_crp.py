"""Concept relevance propagation (issue 15, item 2): completeness, agreement with an
independent construction, batched concepts, token features as concepts, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import xaikit
from xaikit.concepts import CRP
from xaikit.utils.errors import InputError

DT = torch.float64


def cnn(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 4 * 4, 10), nn.ReLU(), nn.Linear(10, 3),
    ).to(DT).eval()


X = torch.rand(4, 1, 8, 8, dtype=DT, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(("composite", "layer"), [("epsilon_plus", "3"), ("epsilon_gamma_box", "1"),
                                                  ("epsilon_alpha2_beta1", "7")])
def test_conditional_maps_over_all_channels_add_up_to_lrp(composite: str, layer: str) -> None:
    """CRP's completeness: every path of a sequential network passes through the layer."""
    model = cnn()
    options = {"low": 0.0, "high": 1.0} if composite == "epsilon_gamma_box" else None
    e = xaikit.explain(model, X, method="crp", layer=layer, per_concept=True, composite=composite,
                       composite_options=options, concept_batch=4)
    lrp = xaikit.explain(model, X, method="lrp", composite=composite, composite_options=options)
    maps = e.extras["conditional_relevance"]
    assert maps.shape == (4, len(e.extras["concepts"]), 1, 8, 8)
    torch.testing.assert_close(maps.sum(1), lrp.attribution, rtol=1e-6, atol=1e-10)
    torch.testing.assert_close(e.attribution, lrp.attribution, rtol=1e-6, atol=1e-10)
    # each concept's map holds what the concept holds at the layer (up to what lower biases absorb)
    torch.testing.assert_close(e.extras["concept_relevance"].sum(1), e.extras["layer_relevance"].flatten(1).sum(1))


def test_a_concept_map_is_lrp_of_the_lower_network_read_out_by_that_concept() -> None:
    """Independent construction: the lower network plus a linear readout whose weights hand each
    neuron of the concept its relevance at the layer, explained by plain LRP."""
    model = cnn()
    layer, concept = "3", 2
    e = xaikit.explain(model, X, method="crp", layer=layer, concepts=[concept], composite="epsilon_plus")
    at_layer = e.extras["layer_relevance"]
    with torch.no_grad():
        activation = model[:4](X)
    for n in range(len(X)):
        mask = torch.zeros_like(at_layer[n])
        mask[concept] = 1.0
        weight = torch.where(activation[n] > 0, at_layer[n] * mask / activation[n].clamp(min=1e-300), 0.0)
        readout = nn.Linear(weight.numel(), 1, bias=False).to(DT)
        with torch.no_grad():
            readout.weight.copy_(weight.flatten()[None])
        lower = nn.Sequential(*model[:4], nn.Flatten(), readout).eval()
        reference = xaikit.explain(lower, X[n:n + 1], target=0, method="lrp", composite="epsilon_plus",
                                   composite_options={"epsilon": 1e-12})
        torch.testing.assert_close(e.attribution[n:n + 1], reference.attribution, rtol=1e-6, atol=1e-10)


def test_batched_concepts_equal_one_call_per_concept_and_the_union_is_their_sum() -> None:
    model = cnn()
    chosen = [5, 0, 3]
    batched = xaikit.explain(model, X, method="crp", layer="2", concepts=chosen, per_concept=True, concept_batch=2)
    for k, concept in enumerate(chosen):
        single = xaikit.explain(model, X, method="crp", layer="2", concepts=concept)
        torch.testing.assert_close(batched.extras["conditional_relevance"][:, k], single.attribution,
                                   rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(batched.extras["conditional_relevance"].sum(1), batched.attribution,
                               rtol=1e-9, atol=1e-12)
    assert batched.extras["concept_relevance"].shape == (4, 6)  # every channel of the layer, for ranking


class TokenMLP(nn.Module):
    """Token features (N, T, D) whose MLP neurons are the concepts."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(20, 8)
        self.up, self.down, self.head = nn.Linear(8, 12), nn.Linear(12, 8), nn.Linear(8, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.down(torch.relu(self.up(self.embed(ids)))).mean(1))


def test_mlp_neurons_of_token_features_are_concepts_on_the_last_axis() -> None:
    model = TokenMLP().to(DT).eval()
    ids = torch.randint(0, 20, (3, 5), generator=torch.Generator().manual_seed(0))
    e = xaikit.explain(model, ids, method="crp", layer="up", per_concept=True, composite="epsilon")
    assert e.extras["concept_relevance"].shape == (3, 12)  # the 12 neurons, not the 5 tokens
    lrp = xaikit.explain(model, ids, method="lrp", composite="epsilon")
    # the maps are of the embeddings (N, K, T, D); summed over concepts and dimensions: the token relevance
    torch.testing.assert_close(e.extras["conditional_relevance"].sum((1, -1)), lrp.attribution, rtol=1e-6, atol=1e-10)


def test_bad_concepts_and_layers_are_refused() -> None:
    model = cnn()
    with pytest.raises(InputError, match=r"concepts \[9\] are not channels of the layer, which has 6"):
        xaikit.explain(model, X, method="crp", layer="3", concepts=[1, 9])
    with pytest.raises(InputError, match="name a channel twice"):
        xaikit.explain(model, X, method="crp", layer="3", concepts=[1, 1])
    with pytest.raises(InputError, match="module name"):
        CRP(layer="")
    with pytest.raises(InputError, match="not a module"):
        xaikit.explain(model, X, method="crp", layer="features.9")
    with pytest.raises(InputError, match="module Linear is not a module of Sequential"):
        xaikit.explain(model, X, method="crp", layer=nn.Linear(2, 2))
    by_module = xaikit.explain(model, X, method="crp", layer=model[3], concepts=1)
    torch.testing.assert_close(by_module.attribution, xaikit.explain(model, X, method="crp", layer="3", concepts=1).attribution)
    assert by_module.extras["layer"] == "3"
    with pytest.raises(InputError, match="log-odds"):
        xaikit.explain(model, X, "logodds", method="crp", layer="3")
    assert not any(m._forward_hooks for m in model.modules())
