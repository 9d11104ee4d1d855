"""The rules where two relevance-carrying tensors meet, against their explicit formulas (issue 12).

Products (AttnLRP Propositions 3.2 and 3.3: the epsilon rule with a uniform split; gates
held constant, signal-take-all), the AttnLRP softmax rule with its absorbed share, CP-LRP's
held-constant attention, conservation of a bias-free transformer encoder under ``cp_lrp``,
and the same explanation whether attention is written by hand or with
``F.scaled_dot_product_attention``.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

import xaikit
from xaikit.engine.call import OpCall
from xaikit.rules import AttnLRPSoftmax, HeldConstant, ProductRule
from xaikit.rules.softmax import absorbed, attnlrp_softmax_relevance

DT = torch.float64


def _rule_relevance(rule: object, func: object, operands: list[Tensor], relevance: Tensor, roles: tuple[str, ...] = (), **kwargs: object) -> tuple[Tensor, ...]:
    leaves = [t.detach().requires_grad_(True) for t in operands]
    call, carried = OpCall.of(func, leaves, dict(kwargs), lambda t: any(t is leaf for leaf in leaves), lambda t: t.detach())  # type: ignore[arg-type]
    if roles:
        from dataclasses import replace

        call = replace(call, roles=roles)
    with torch.no_grad():
        value = call.on_values()
    out = rule.propagate_elementwise(call, carried, value)  # type: ignore[attr-defined]
    return torch.autograd.grad(out, leaves, relevance, allow_unused=True)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_elementwise_product_splits_relevance_uniformly(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    a, b = torch.randn(3, 5, generator=gen, dtype=DT), torch.randn(3, 5, generator=gen, dtype=DT)
    r = torch.randn(3, 5, generator=gen, dtype=DT)
    ra, rb = _rule_relevance(ProductRule(epsilon=0.0), torch.mul, [a, b], r)
    torch.testing.assert_close(ra, r / 2, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(rb, r / 2, rtol=1e-9, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_matrix_product_is_the_epsilon_rule_split_between_the_operands(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    a, b = torch.randn(2, 3, 4, generator=gen, dtype=DT), torch.randn(2, 4, 5, generator=gen, dtype=DT)
    r = torch.randn(2, 3, 5, generator=gen, dtype=DT)
    ra, rb = _rule_relevance(ProductRule(epsilon=0.0), torch.matmul, [a, b], r)
    ratio = r / (a @ b)
    expected_a = a * (ratio @ b.transpose(-1, -2)) / 2  # R_ik = a_ik sum_j b_kj R_ij / (2 z_ij)
    expected_b = b * (a.transpose(-1, -2) @ ratio) / 2
    torch.testing.assert_close(ra, expected_a, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(rb, expected_b, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(ra.sum() + rb.sum(), r.sum(), rtol=1e-9, atol=1e-9)


def test_a_gate_takes_none_and_the_signal_takes_all() -> None:
    gen = torch.Generator().manual_seed(0)
    gate, signal = torch.rand(3, 5, generator=gen, dtype=DT), torch.randn(3, 5, generator=gen, dtype=DT)
    r = torch.randn(3, 5, generator=gen, dtype=DT)
    rg, rs = _rule_relevance(ProductRule(epsilon=0.0), torch.mul, [gate, signal], r, roles=("gate", "signal"))
    assert rg is None or torch.equal(rg, torch.zeros_like(rg))
    torch.testing.assert_close(rs, r, rtol=1e-12, atol=1e-12)
    rg, rs = _rule_relevance(ProductRule(epsilon=0.0, hold_gates=False), torch.mul, [gate, signal], r, roles=("gate", "signal"))
    torch.testing.assert_close(rs, r / 2, rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_attnlrp_softmax_rule_is_its_formula(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    x, r = torch.randn(4, 6, generator=gen, dtype=DT), torch.randn(4, 6, generator=gen, dtype=DT)
    (got,) = _rule_relevance(AttnLRPSoftmax(), F.softmax, [x], r, dim=-1)
    s = torch.softmax(x, -1)
    torch.testing.assert_close(got, x * (r - s * r.sum(-1, keepdim=True)), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(r.sum(-1) - got.sum(-1), absorbed(x, s, r, -1), rtol=1e-12, atol=1e-12)


def test_masked_positions_get_no_relevance_from_the_softmax_rule() -> None:
    x = torch.tensor([[0.3, float("-inf"), -1.2]], dtype=DT)
    s = torch.softmax(x, -1)
    out = attnlrp_softmax_relevance(x, s, torch.ones_like(x), -1)
    assert torch.isfinite(out).all() and out[0, 1] == 0


def test_held_constant_attention_passes_no_relevance() -> None:
    x = torch.randn(2, 4, dtype=DT).requires_grad_(True)
    call, carried = OpCall.of(F.softmax, [x], {"dim": -1}, lambda t: t is x, lambda t: t.detach())
    value = torch.softmax(x.detach(), -1)
    out = HeldConstant().propagate_elementwise(call, carried, value)
    assert not out.requires_grad  # a constant: no relevance reaches the queries and keys
    torch.testing.assert_close(out, value)


class SoftmaxTimesValue(nn.Module):
    """``sum_j softmax(x W_q)_j (x W_v)_j``: one softmax whose absorbed share is known in closed form."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(4)
        self.wq = torch.randn(5, 4, generator=gen, dtype=DT)
        self.wv = torch.randn(5, 4, generator=gen, dtype=DT)

    def forward(self, x: Tensor) -> Tensor:
        s = F.softmax(F.linear(x, self.wq), dim=-1)
        return (s * F.linear(x, self.wv)).sum(-1, keepdim=True)


def test_attnlrp_delta_is_exactly_the_softmax_absorption() -> None:
    model = SoftmaxTimesValue()
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(5), dtype=DT)
    options = {"composite": "attnlrp", "composite_options": {"epsilon": 0.0}}
    e = xaikit.explain(model, x, 0, method="lrp", **options)
    q = F.linear(x, model.wq)
    s = torch.softmax(q, -1)
    relevance_at_s = s * F.linear(x, model.wv) / 2  # the product splits R_z = z uniformly
    torch.testing.assert_close(e.delta, absorbed(q, s, relevance_at_s, -1), rtol=1e-7, atol=1e-10)


def _bias_free_linear(i: int, o: int, gen: torch.Generator) -> nn.Linear:
    """A float64 ``nn.Linear`` without bias, weights drawn from ``gen`` and scaled by ``1/sqrt(i)``."""
    layer = nn.Linear(i, o, bias=False).to(DT)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(o, i, generator=gen, dtype=DT) / math.sqrt(i))
    return layer


class Encoder(nn.Module):
    """A bias-free 2-layer transformer encoder on continuous inputs ``(N, T, d)``, attention by hand or SDPA."""

    def __init__(self, attention: str = "hand", d: int = 8, heads: int = 2, layers: int = 2) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(6)

        def linear(i: int, o: int) -> nn.Linear:
            return _bias_free_linear(i, o, gen)

        self.heads, self.attention = heads, attention
        self.qkv = nn.ModuleList([linear(d, 3 * d) for _ in range(layers)])
        self.out = nn.ModuleList([linear(d, d) for _ in range(layers)])
        self.ff1 = nn.ModuleList([linear(d, 2 * d) for _ in range(layers)])
        self.ff2 = nn.ModuleList([linear(2 * d, d) for _ in range(layers)])
        self.norms = nn.ModuleList([nn.LayerNorm(d, bias=False).to(DT) for _ in range(2 * layers)])
        self.head = linear(d, 3)
        if attention == "mha":
            self.mha = nn.ModuleList()
            for qkv, out in zip(self.qkv, self.out):
                layer = nn.MultiheadAttention(d, heads, bias=False, batch_first=True).to(DT)
                with torch.no_grad():
                    layer.in_proj_weight.copy_(qkv.weight)
                    layer.out_proj.weight.copy_(out.weight)
                self.mha.append(layer)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        if self.attention == "sdpa":
            return F.scaled_dot_product_attention(q, k, v)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        return torch.softmax(scores, dim=-1) @ v

    def forward(self, x: Tensor) -> Tensor:
        n, t, d = x.shape
        for i in range(len(self.qkv)):
            h = self.norms[2 * i](x)
            if self.attention == "mha":
                x = x + self.mha[i](h, h, h, need_weights=False)[0]
                x = x + self.ff2[i](F.gelu(self.ff1[i](self.norms[2 * i + 1](x))))
                continue
            q, k, v = self.qkv[i](h).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
            a = self._attend(q, k, v).transpose(1, 2).reshape(n, t, d)
            x = x + self.out[i](a)
            x = x + self.ff2[i](F.gelu(self.ff1[i](self.norms[2 * i + 1](x))))
        return self.head(x.mean(1))


def _tokens() -> Tensor:
    return torch.randn(3, 5, 8, generator=torch.Generator().manual_seed(7), dtype=DT)


def test_cp_lrp_conserves_relevance_on_a_bias_free_encoder() -> None:
    e = xaikit.explain(Encoder().eval(), _tokens(), 1, method="lrp", composite="cp_lrp", composite_options={"epsilon": 1e-12})
    assert float(e.relative_delta.max()) < 1e-6


@pytest.mark.parametrize("attention", ["sdpa", "mha"])
@pytest.mark.parametrize("composite", ["cp_lrp", "attnlrp"])
def test_attention_by_hand_sdpa_and_multihead_module_explain_alike(composite: str, attention: str) -> None:
    x = _tokens()
    # a tiny stabilizer: nn.MultiheadAttention projects q, k, v as three layers, the hand-written
    # encoder as one, and a relative epsilon scales with each layer's mean output
    options = {"composite": composite, "composite_options": {"epsilon": 1e-12}}
    by_hand = xaikit.explain(Encoder("hand").eval(), x, 1, method="lrp", **options)
    fused = xaikit.explain(Encoder(attention).eval(), x, 1, method="lrp", **options)
    torch.testing.assert_close(fused.output, by_hand.output, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fused.attribution, by_hand.attribution, rtol=1e-6, atol=1e-9)


def test_a_classic_composite_refuses_the_attention_softmax_and_names_the_presets() -> None:
    with pytest.raises(xaikit.engine.UnsupportedOperationError, match="attnlrp"):
        xaikit.explain(Encoder().eval(), _tokens(), 1, method="lrp", composite="epsilon_plus")


def _rms_norm(x: Tensor, weight: Tensor, eps: float = 1e-6) -> Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def _rotate_half(x: Tensor) -> Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


class Decoder(nn.Module):
    """A bias-free Llama-style decoder: RMS norm written out, rotary embeddings, causal attention, SwiGLU."""

    def __init__(self, d: int = 8, heads: int = 2, layers: int = 2, attention: str = "hand") -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(8)

        def linear(i: int, o: int) -> nn.Linear:
            return _bias_free_linear(i, o, gen)

        self.heads, self.attention = heads, attention
        self.q, self.k, self.v, self.o = (nn.ModuleList([linear(d, d) for _ in range(layers)]) for _ in range(4))
        self.gate, self.up = (nn.ModuleList([linear(d, 2 * d) for _ in range(layers)]) for _ in range(2))
        self.down = nn.ModuleList([linear(2 * d, d) for _ in range(layers)])
        self.norm_weights = nn.ParameterList(
            [nn.Parameter(1 + 0.1 * torch.randn(d, generator=gen, dtype=DT)) for _ in range(2 * layers + 1)]
        )
        self.head = linear(d, 5)

    def _rope(self, x: Tensor) -> Tensor:
        t, dim = x.shape[-2], x.shape[-1]
        frequencies = 1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=DT) / dim))
        angles = torch.outer(torch.arange(t, dtype=DT), frequencies)
        cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
        return x * cos + _rotate_half(x) * sin

    def forward(self, x: Tensor) -> Tensor:
        n, t, d = x.shape
        for i in range(len(self.q)):
            h = _rms_norm(x, self.norm_weights[2 * i])

            def split(layer: nn.Module, h: Tensor = h) -> Tensor:
                return layer(h).reshape(n, t, self.heads, d // self.heads).transpose(1, 2)

            q, k, v = self._rope(split(self.q[i])), self._rope(split(self.k[i])), split(self.v[i])
            if self.attention == "sdpa":
                a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)
                causal = torch.ones(t, t, dtype=torch.bool).tril()
                a = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1) @ v
            x = x + self.o[i](a.transpose(1, 2).reshape(n, t, d))
            h = _rms_norm(x, self.norm_weights[2 * i + 1])
            x = x + self.down[i](F.silu(self.gate[i](h)) * self.up[i](h))
        return self.head(_rms_norm(x, self.norm_weights[-1])[:, -1])


def test_cp_lrp_conserves_relevance_on_a_bias_free_rms_norm_rope_decoder() -> None:
    e = xaikit.explain(Decoder().eval(), _tokens(), 2, method="lrp", composite="cp_lrp", composite_options={"epsilon": 1e-12})
    assert float(e.relative_delta.max()) < 1e-6


def test_the_causal_decoder_explains_alike_with_sdpa() -> None:
    options = {"composite": "attnlrp", "composite_options": {"epsilon": 1e-12}}
    by_hand = xaikit.explain(Decoder().eval(), _tokens(), 2, method="lrp", **options)
    fused = xaikit.explain(Decoder(attention="sdpa").eval(), _tokens(), 2, method="lrp", **options)
    torch.testing.assert_close(fused.attribution, by_hand.attribution, rtol=1e-6, atol=1e-9)
    assert torch.isfinite(by_hand.attribution).all()
