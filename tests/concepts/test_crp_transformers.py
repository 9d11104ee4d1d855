"""Attention heads and MLP neurons of a Hugging Face transformer as CRP concepts (issue 15, item 2).

A tiny Llama (random weights from a config; no biases, RMS norm, RoPE: no constant absorbs
relevance) is explained through its input embeddings. The concepts are read at a module's
*input* (``"NAME:input"``): the concatenated heads entering ``self_attn.o_proj`` (head ``h``
is channels ``h * head_dim ... (h + 1) * head_dim - 1``) and the gated neurons entering
``mlp.down_proj``.

What holds, and what does not: relevance reaches the input both through a block and around
it (the residual stream), so CRP's completeness over a block's concepts is completeness of
the relevance that *passes through* the block: the conditional maps add up to the CRP
heatmap of all the block's concepts, whose sum is the block's relevance, not the output.
Each head's map conserves that head's relevance (the network below conserves).
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import xaikit
from xaikit.utils.errors import InputError

transformers = pytest.importorskip("transformers")

DT = torch.float64
HEADS, HEAD_DIM = 4, 8
OPTIONS = {"composite": "cp_lrp", "composite_options": {"epsilon": 1e-12}}
HEADS_LAYER = "model.model.layers.1.self_attn.o_proj:input"
NEURONS_LAYER = "model.model.layers.0.mlp.down_proj:input"


class LastLogits(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, embeds: Tensor) -> Tensor:
        logits: Tensor = self.model(inputs_embeds=embeds).logits
        return logits[:, -1]


@pytest.fixture(scope="module")
def llama() -> tuple[nn.Module, Tensor]:
    config = transformers.LlamaConfig(
        vocab_size=50, hidden_size=HEADS * HEAD_DIM, num_hidden_layers=2, num_attention_heads=HEADS,
        num_key_value_heads=HEADS, intermediate_size=48, max_position_embeddings=16, attention_bias=False,
        mlp_bias=False, attn_implementation="eager",
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = transformers.LlamaForCausalLM(config).to(DT).eval()
    ids = torch.randint(0, 50, (2, 6), generator=torch.Generator().manual_seed(1))
    return LastLogits(model).eval(), model.get_input_embeddings()(ids).detach()


def test_each_heads_map_conserves_the_heads_relevance(llama) -> None:  # type: ignore[no-untyped-def]
    model, x = llama
    crp = xaikit.explain(model, x, method="crp", layer=HEADS_LAYER, per_concept=True, **OPTIONS)
    lrp = xaikit.explain(model, x, crp.target, method="lrp", layers=[HEADS_LAYER], **OPTIONS)
    at_layer = lrp.layer_relevance(HEADS_LAYER)  # (N, T, heads * head_dim), from plain LRP
    per_head = at_layer.unflatten(-1, (HEADS, HEAD_DIM)).sum((1, 3))  # (N, heads)
    maps = crp.extras["conditional_relevance"].unflatten(1, (HEADS, HEAD_DIM)).sum(2)  # (N, heads, T, D)
    scale = float(per_head.abs().max())
    torch.testing.assert_close(maps.flatten(2).sum(2), per_head, rtol=0, atol=1e-6 * scale)
    torch.testing.assert_close(crp.extras["concept_relevance"].unflatten(1, (HEADS, HEAD_DIM)).sum(2), per_head,
                               rtol=0, atol=1e-12 * scale)
    # completeness over the block's concepts: the CRP heatmap of all of them, not LRP's (the residual bypasses)
    # (to float32 round-off: Llama's RMS norm and eager softmax compute in float32 whatever the model's dtype)
    torch.testing.assert_close(crp.extras["conditional_relevance"].sum(1), crp.attribution, rtol=0,
                               atol=1e-7 * float(crp.attribution.abs().max()))
    assert float((crp.attribution - lrp.attribution).abs().max()) > 0.1 * float(lrp.attribution.abs().max())


def test_a_head_is_the_union_of_its_channels(llama) -> None:  # type: ignore[no-untyped-def]
    model, x = llama
    every = xaikit.explain(model, x, method="crp", layer=HEADS_LAYER, per_concept=True, **OPTIONS)
    head = 2
    channels = list(range(head * HEAD_DIM, (head + 1) * HEAD_DIM))
    one = xaikit.explain(model, x, every.target, method="crp", layer=HEADS_LAYER, concepts=channels, **OPTIONS)
    expected = every.extras["conditional_relevance"][:, channels].sum(1)
    torch.testing.assert_close(one.attribution, expected, rtol=0, atol=1e-7 * float(expected.abs().max()))


def test_mlp_neurons_are_concepts_and_their_maps_conserve(llama) -> None:  # type: ignore[no-untyped-def]
    model, x = llama
    crp = xaikit.explain(model, x, method="crp", layer=NEURONS_LAYER, per_concept=True, **OPTIONS)
    maps = crp.extras["conditional_relevance"]
    assert maps.shape == (2, 48, *x.shape[1:])  # 48 neurons, each a map of the embeddings
    relevance = crp.extras["concept_relevance"]
    scale = float(relevance.abs().max())
    torch.testing.assert_close(maps.flatten(2).sum(2), relevance, rtol=0, atol=1e-6 * scale)


def test_an_input_tap_of_a_missing_module_is_refused(llama) -> None:  # type: ignore[no-untyped-def]
    model, x = llama
    with pytest.raises(InputError, match="not a module"):
        xaikit.explain(model, x, method="crp", layer="model.model.layers.1.self_attn.nothing:input", **OPTIONS)
