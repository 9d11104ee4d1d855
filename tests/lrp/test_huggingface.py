"""Hugging Face ``transformers`` models explained without patch maps (issue 12, item 6).

BERT, GPT-2, Llama (RoPE, RMS norm, grouped-query attention) and ViT, built from tiny
configs with random weights (nothing is downloaded), in float64, with both the eager and
the sdpa attention implementation. The models are explained through their input
embeddings (ViT: through ``pixel_values``) by a small wrapper module defined here; xaikit
holds no model-specific code.

What absorbs relevance in these models, so that conservation can be checked: Llama has no
additive constants at all (no biases, RMS norm without shift, RoPE a rotation). BERT, GPT-2
and ViT add constants to the input: their biases (zero at Hugging Face's initialization,
zeroed here explicitly), the position embeddings (BERT, GPT-2, ViT), BERT's token-type
embedding and ViT's CLS token. These constants take a large share of the relevance (with
this file's seeds and the predicted class, |sum R - f(x)| / |f(x)| under ``cp_lrp`` is 0.65
and 53 for BERT's two samples, 0.14 and 0.025 for GPT-2's (measured with torch.addmm
decomposed by hand), 1.0 and 1.1 for ViT's); with all of them zeroed the models are
constant-free and conserve under ``cp_lrp``: BERT 2e-8, GPT-2 7e-11, ViT 1.3e-6 (the sum
sum rule's stabilizer when it was not the preset's epsilon; 1.4e-9 since), Llama 8e-8 (its RMS norm
and eager softmax compute in float32 whatever the model's dtype).
"""

from __future__ import annotations

from collections.abc import Callable
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import xaikit

transformers = pytest.importorskip("transformers")

DT = torch.float64
FAMILIES = ("bert", "gpt2", "llama", "llama_gqa", "vit")
IMPLEMENTATIONS = ("eager", "sdpa")
COMPOSITES = ("attnlrp", "cp_lrp")
OPTIONS = {"composite_options": {"epsilon": 1e-12}}
#: The predicted class (token): random tiny models give logits near zero, and a relative
#: delta on a near-zero output reflects round-off (Llama's float32 casts), not the rules
TARGET = None
#: Parameters that add constants to the residual stream (besides the biases).
CONSTANTS = ("position_embeddings", "token_type_embeddings", "wpe", "cls_token")

# GPT-2's projections are transformers' Conv1D, whose forward is
# torch.addmm(bias, x.view(-1, d), weight); the engine has no rule for torch.addmm.
# Eager attention adds a float mask holding finfo(float64).min; the sum rule's relative
# stabilizer (epsilon * mean |z| per sample) overflows to inf on it, so no relevance
# enters the queries and keys through AttnLRP's softmax rule (sdpa gets is_causal or a boolean mask).
# Under sdpa with grouped-query attention (Llama with fewer key/value heads than query
# heads) transformers passes enable_gqa=True; the engine's decomposition of
# scaled_dot_product_attention repeats the key/value heads with Tensor.repeat_interleave,
# which the engine does not know.
# The sum rule (residual additions, layer norm's centering) keeps its default relative
# stabilizer 1e-9, which the presets' epsilon option does not set; on the constant-free ViT
# that alone leaves a relative delta of 1.3e-6 (1.4e-9 with the sum rule's epsilon at 1e-12).

class Logits(nn.Module):
    """A model's logits from one real-valued input keyword (``inputs_embeds``, ``pixel_values``).

    ``last=True`` keeps a language model's logits for the token after the last position.
    """

    def __init__(self, model: nn.Module, keyword: str, last: bool = False) -> None:
        super().__init__()
        self.model, self.keyword, self.last = model, keyword, last

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = self.model(**{self.keyword: x}).logits
        return logits[:, -1] if self.last else logits


def _bert(attention: str) -> nn.Module:
    config = transformers.BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=16, num_labels=3, attn_implementation=attention,
    )
    return transformers.BertForSequenceClassification(config)


def _gpt2(attention: str) -> nn.Module:
    config = transformers.GPT2Config(
        vocab_size=50, n_embd=16, n_layer=2, n_head=2, n_positions=16, bos_token_id=0, eos_token_id=0,
        attn_implementation=attention,
    )
    return transformers.GPT2LMHeadModel(config)


def _llama(attention: str, kv_heads: int = 4) -> nn.Module:
    config = transformers.LlamaConfig(
        vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=kv_heads,
        intermediate_size=48, max_position_embeddings=16, attention_bias=False, mlp_bias=False,
        attn_implementation=attention,
    )
    return transformers.LlamaForCausalLM(config)


def _vit(attention: str) -> nn.Module:
    config = transformers.ViTConfig(
        image_size=8, patch_size=4, num_channels=3, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, num_labels=3, attn_implementation=attention,
    )
    return transformers.ViTForImageClassification(config)


def _llama_gqa(attention: str) -> nn.Module:
    """Grouped-query attention: 4 query heads share 2 key/value heads (sdpa: enable_gqa=True)."""
    return _llama(attention, kv_heads=2)


BUILDERS: dict[str, Callable[[str], nn.Module]] = {
    "bert": _bert, "gpt2": _gpt2, "llama": _llama, "llama_gqa": _llama_gqa, "vit": _vit,
}


def _build(family: str, attention: str, constant_free: bool = False) -> tuple[nn.Module, nn.Module, Tensor]:
    """``(hf_model, wrapper, inputs)``: the same random weights for either attention implementation."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = BUILDERS[family](attention).to(DT).eval()
    assert model.config._attn_implementation == attention
    if constant_free:
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name.endswith("bias") or any(part in name for part in CONSTANTS):
                    parameter.zero_()
    gen = torch.Generator().manual_seed(1)
    if family == "vit":
        return model, Logits(model, "pixel_values").eval(), torch.randn(2, 3, 8, 8, generator=gen, dtype=DT)
    ids = torch.randint(0, 50, (2, 6), generator=gen)
    embeds = model.get_input_embeddings()(ids).detach()
    wrapper = Logits(model, "inputs_embeds", last=family != "bert")
    return model, wrapper.eval(), embeds


def _explain(family: str, attention: str, composite: str, constant_free: bool = False) -> tuple[nn.Module, Tensor, xaikit.Explanation]:
    _, wrapper, x = _build(family, attention, constant_free)
    return wrapper, x, xaikit.explain(wrapper, x, TARGET, method="lrp", composite=composite, **OPTIONS)


@pytest.mark.parametrize("composite", COMPOSITES)
@pytest.mark.parametrize("attention", IMPLEMENTATIONS)
@pytest.mark.parametrize("family", FAMILIES)
def test_the_model_is_explained_through_its_input_embeddings(family: str, attention: str, composite: str) -> None:
    wrapper, x, e = _explain(family, attention, composite)
    assert e.attribution.shape == x.shape and e.attribution.dtype == DT
    assert torch.isfinite(e.attribution).all()
    assert e.attribution.abs().sum() > 0
    with torch.no_grad():
        logits = wrapper(x)
    torch.testing.assert_close(e.output, logits.max(1).values, rtol=1e-9, atol=1e-12)


def test_the_sdpa_models_call_the_fused_kernel() -> None:
    """So that comparing eager with sdpa compares two code paths."""
    fused = F.scaled_dot_product_attention
    for family in FAMILIES:
        for attention in IMPLEMENTATIONS:
            _, wrapper, x = _build(family, attention)
            with mock.patch.object(F, "scaled_dot_product_attention", wraps=fused) as spy, torch.no_grad():
                wrapper(x)
            assert spy.call_count == (2 if attention == "sdpa" else 0), (family, attention)


@pytest.mark.parametrize("composite", COMPOSITES)
@pytest.mark.parametrize("family", FAMILIES)
def test_eager_and_sdpa_attention_explain_alike(family: str, composite: str) -> None:
    _, _, eager = _explain(family, "eager", composite)
    _, _, sdpa = _explain(family, "sdpa", composite)
    # Llama's eager softmax runs in float32 (softmax(..., dtype=torch.float32)): the two
    # differ by float32 round-off, about 1e-7 of the largest relevance
    torch.testing.assert_close(eager.output, sdpa.output, rtol=1e-6, atol=1e-9 * float(sdpa.output.abs().max()))
    scale = float(sdpa.attribution.abs().max())
    torch.testing.assert_close(eager.attribution, sdpa.attribution, rtol=1e-6, atol=1e-6 * scale)


def test_llama_is_bias_free_as_configured() -> None:
    model, _, _ = _build("llama", "eager")
    assert not [name for name, _ in model.named_parameters() if "bias" in name]


@pytest.mark.parametrize("attention", IMPLEMENTATIONS)
@pytest.mark.parametrize("family", FAMILIES)
def test_cp_lrp_conserves_relevance_on_the_constant_free_model(family: str, attention: str) -> None:
    # Llama is constant-free as configured; the others once their biases, position and
    # token-type embeddings and CLS token are zeroed (see the module docstring)
    _, _, e = _explain(family, attention, "cp_lrp", constant_free=not family.startswith("llama"))
    assert float(e.relative_delta.max()) < 1e-6


@pytest.mark.parametrize("attention", IMPLEMENTATIONS)
def test_cp_lrp_conserves_relevance_on_the_constant_free_vit_to_the_sum_stabilizer(attention: str) -> None:
    # the figure measured: 1.3e-6 (the sum rule's default relative stabilizer, 1e-9,
    # which composite_options={"epsilon": ...} does not reach); 1.4e-9 with it at 1e-12
    _, _, e = _explain("vit", attention, "cp_lrp", constant_free=True)
    assert float(e.relative_delta.max()) < 5e-6


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_the_next_token_at_a_chosen_position_is_a_target(family: str) -> None:
    """Causal models: tokens after the position get no relevance; the predicted token by default."""
    model, _, _ = _build(family, "sdpa")
    ids = torch.randint(0, 50, (2, 6), generator=torch.Generator().manual_seed(3))
    position = 3
    e = xaikit.explain(model, ids, None, method="lrp", composite="cp_lrp", output=xaikit.NextToken(position))
    assert e.attribution.shape == (2, 6)
    assert torch.all(e.attribution[:, position + 1 :] == 0)
    assert torch.all(e.attribution[:, : position + 1].abs().sum(1) > 0)
    with torch.no_grad():
        predicted = model(input_ids=ids).logits[:, position].argmax(-1)
    assert torch.equal(torch.as_tensor(e.target), predicted)
    by_hand = xaikit.explain(
        model, ids, predicted, method="lrp", composite="cp_lrp", output=lambda out: out.logits[:, position]
    )
    torch.testing.assert_close(e.attribution, by_hand.attribution, rtol=0, atol=0)


def test_next_token_outside_the_sequence_or_on_a_classifier_is_refused() -> None:
    model, _, _ = _build("gpt2", "sdpa")
    ids = torch.randint(0, 50, (2, 6), generator=torch.Generator().manual_seed(3))
    with pytest.raises(xaikit.utils.errors.InputError, match=r"position=6.*\[-6, 5\]"):
        xaikit.explain(model, ids, None, method="saliency", output=xaikit.NextToken(6))
    classifier, _, _ = _build("bert", "sdpa")
    with pytest.raises(xaikit.utils.errors.ModelOutputError, match="output='logits'"):
        xaikit.explain(classifier, ids, None, method="saliency", output=xaikit.NextToken(-1))
