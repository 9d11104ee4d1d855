"""Gradient units (relevance = value x gradient, :mod:`xaikit.engine.units`) against relevance units.

The two conventions must give the same relevance in the limit of vanishing stabilizers:
each rule's gradient form against its relevance form on random tensors, whole models
(encoder with attention by hand, SDPA and ``nn.MultiheadAttention``; an RMS-norm RoPE
decoder; LSTM and GRU) under ``attnlrp`` and ``cp_lrp``, and composites mixing rules that
have no gradient form (z-plus, gamma, a custom rule, the log-odds target), which run with
units converted around them. The point of the form is memory: the backward pass saves what
the plain gradient saves, which a test counts.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from lrp_nets import DT
from test_attention_rules import Decoder, Encoder, _tokens
from test_recurrent_relevance import Recurrent, _sequence
from torch import Tensor, nn

import xaikit
from xaikit.engine import GradientUnits, OpKind, explainable, graft
from xaikit.engine.call import OpCall
from xaikit.rules import (
    AttnLRPSoftmax,
    Composite,
    Epsilon,
    Gamma,
    HeldConstant,
    Kind,
    Norm,
    Pass,
    ProductRule,
    ZPlus,
)
from xaikit.rules.matchers import FirstLayer

TINY = {"epsilon": 1e-13}


def _call(func: object, operands: list[Tensor], **kwargs: object) -> tuple[OpCall, list[Tensor]]:
    leaves = [t.detach().requires_grad_(True) for t in operands]
    call, carried = OpCall.of(func, leaves, dict(kwargs), lambda t: any(t is leaf for leaf in leaves), lambda t: t.detach())  # type: ignore[arg-type]
    return call, carried


def _both_forms(rule: object, kind: OpKind, func: object, operands: list[Tensor], relevance: Tensor, **kwargs: object) -> tuple[list[Tensor], list[Tensor]]:
    """The input relevance of ``rule`` in relevance units and in gradient units (converted back)."""
    call, leaves = _call(func, operands, **kwargs)
    with torch.no_grad():
        value = call.on_values()
    out = rule.propagate_elementwise(call, leaves, value)  # type: ignore[attr-defined]
    in_relevance = torch.autograd.grad(out, leaves, relevance, allow_unused=True)
    call, leaves = _call(func, operands, **kwargs)
    out = rule.propagate_gradient_elementwise(kind, call, leaves, GradientUnits(0.0))  # type: ignore[attr-defined]
    torch.testing.assert_close(out.detach(), value)  # the true output
    grads = torch.autograd.grad(out, leaves, relevance / value, allow_unused=True)
    in_gradient = [torch.zeros_like(x) if g is None else x.detach() * g for x, g in zip(leaves, grads)]
    return [torch.zeros_like(x) if r is None else r for x, r in zip(leaves, in_relevance)], in_gradient


def _assert_lists_close(a: list[Tensor], b: list[Tensor]) -> None:
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=1e-9, atol=1e-11)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_each_rule_gives_the_same_relevance_in_gradient_units(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=gen, dtype=DT)

    a, b, r = randn(3, 5), randn(3, 5), randn(3, 5)
    _assert_lists_close(*_both_forms(ProductRule(epsilon=0.0), OpKind.PRODUCT, torch.mul, [a, b], r))
    m, n, rm = randn(2, 3, 4), randn(2, 4, 5), randn(2, 3, 5)
    _assert_lists_close(*_both_forms(ProductRule(epsilon=0.0), OpKind.PRODUCT, torch.matmul, [m, n], rm))
    _assert_lists_close(*_both_forms(AttnLRPSoftmax(), OpKind.SOFTMAX, torch.softmax, [a], r, dim=-1))
    _assert_lists_close(*_both_forms(Norm(epsilon=0.0), OpKind.SUM, torch.add, [a, b], r))
    _assert_lists_close(*_both_forms(Norm(epsilon=0.0), OpKind.SUM, torch.sum, [a], r.sum(-1), dim=-1))
    _assert_lists_close(*_both_forms(Pass(), OpKind.ACTIVATION, F.gelu, [a], r))
    _assert_lists_close(*_both_forms(Pass(), OpKind.ACTIVATION, torch.tanh, [a], r))
    _assert_lists_close(*_both_forms(Pass(), OpKind.SCALE, torch.mul, [a], r, other=2.5))


def test_held_constant_attention_is_a_constant_in_gradient_units() -> None:
    call, leaves = _call(torch.softmax, [torch.randn(2, 4, dtype=DT)], dim=-1)
    out = HeldConstant().propagate_gradient_elementwise(OpKind.SOFTMAX, call, leaves, GradientUnits())
    assert not out.requires_grad
    torch.testing.assert_close(out, torch.softmax(leaves[0].detach(), -1))


def _explain(model: nn.Module, x: Tensor, target: int, composite: str | Composite, gradient_units: bool | None = None) -> xaikit.Explanation:
    if isinstance(composite, Composite):
        return xaikit.explain(model, x, target, method="lrp", composite=composite)
    options = dict(TINY) if gradient_units is None else {**TINY, "gradient_units": gradient_units}
    return xaikit.explain(model, x, target, method="lrp", composite=composite, composite_options=options)


def _models() -> list[tuple[str, nn.Module, Tensor, int]]:
    return [
        ("encoder, attention by hand", Encoder(), _tokens(), 1),
        ("encoder, SDPA", Encoder("sdpa"), _tokens(), 1),
        ("encoder, nn.MultiheadAttention", Encoder("mha"), _tokens(), 1),
        ("decoder, RMS norm and RoPE", Decoder(), _tokens(), 2),
        ("bidirectional LSTM", Recurrent("lstm"), _sequence(), 1),
        ("bidirectional GRU", Recurrent("gru"), _sequence(), 1),
    ]


@pytest.mark.parametrize("composite", ["attnlrp", "cp_lrp"])
@pytest.mark.parametrize("case", range(6), ids=[m[0] for m in _models()])
def test_gradient_units_equal_relevance_units_on_sequence_models(composite: str, case: int) -> None:
    _, model, x, target = _models()[case]
    model.eval()
    fast = _explain(model, x, target, composite)
    slow = _explain(model, x, target, composite, gradient_units=False)
    scale = float(slow.attribution.abs().max())
    torch.testing.assert_close(fast.attribution, slow.attribution, rtol=0, atol=1e-9 * scale)
    torch.testing.assert_close(fast.delta, slow.delta, rtol=0, atol=1e-9 * scale)


class _Net(nn.Module):
    """Conv - ReLU - conv - ReLU - pool - linear - tanh - custom pooling - linear, with biases."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.c1, self.c2 = nn.Conv2d(1, 4, 3).to(DT), nn.Conv2d(4, 4, 3).to(DT)
        self.fc1, self.fc2 = nn.Linear(4 * 2 * 2, 6).to(DT), nn.Linear(6, 3).to(DT)

    def forward(self, x: Tensor) -> Tensor:
        h = F.max_pool2d(F.relu(self.c2(F.relu(self.c1(x)))), 2)
        h = torch.tanh(self.fc1(h.flatten(1)))
        return self.fc2(_halve(h))


def _halve_rule(call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
    (g,) = graphs
    return graft(g * 0.5, value)  # relevance units: half of the output's relevance, elementwise


@explainable(_halve_rule)
def _halve(h: Tensor) -> Tensor:
    return h / 2


def _mixed(units: GradientUnits | None) -> Composite:
    return Composite(
        [(FirstLayer(), ZPlus()), (Kind(OpKind.CONV), Gamma(0.25)), (Kind(OpKind.DENSE), Epsilon(1e-13))],
        units=units,
    )


@pytest.mark.parametrize("target", [0, xaikit.LogOdds(0)], ids=["class", "log-odds"])
def test_rules_without_a_gradient_form_run_with_units_converted_around_them(target: object) -> None:
    model = _Net().eval()
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(4), dtype=DT)
    fast = xaikit.explain(model, x, target, method="lrp", composite=_mixed(GradientUnits(1e-13)))
    slow = xaikit.explain(model, x, target, method="lrp", composite=_mixed(None))
    scale = float(slow.attribution.abs().max())
    assert scale > 0
    torch.testing.assert_close(fast.attribution, slow.attribution, rtol=0, atol=1e-8 * scale)


def _saved_bytes(run: object) -> int:
    """Bytes of the distinct non-parameter tensors autograd saves for the backward pass of ``run()``."""
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        if not isinstance(t, nn.Parameter):
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        run()  # type: ignore[operator]
    return sum(storages.values())


class _GeluMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.layers = nn.ModuleList([nn.Linear(32, 32) for _ in range(4)])
        self.head = nn.Linear(32, 2)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = F.gelu(layer(x))
        return self.head(x)


def test_gradient_units_save_what_the_gradient_saves() -> None:
    model = _GeluMLP().eval()
    x = torch.randn(64, 32, generator=torch.Generator().manual_seed(6))

    def gradient() -> None:
        leaf = x.clone().requires_grad_(True)
        params = [p.requires_grad_(False) for p in model.parameters()]
        try:
            model(leaf)[:, 1].sum().backward()
        finally:
            for p in params:
                p.requires_grad_(True)

    plain = _saved_bytes(gradient)
    fast = _saved_bytes(lambda: _explain(model, x, 1, "attnlrp"))
    slow = _saved_bytes(lambda: _explain(model, x, 1, "attnlrp", gradient_units=False))
    hidden = 64 * 32 * 4  # one hidden activation in float32
    assert plain >= 4 * hidden  # GELU keeps its input
    assert fast <= plain + 2 * hidden  # the input leaf and the readout, nothing per layer
    assert slow >= plain + 4 * hidden  # relevance units keep each layer's input and output besides


def test_gradient_units_are_checked() -> None:
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        GradientUnits(-1.0)
    with pytest.raises(TypeError, match=r"units must be a xaikit\.engine\.GradientUnits"):
        Composite([], units="gradient")  # type: ignore[arg-type]


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000))
def test_declared_own_backward_factors_agree_with_the_gradient_form(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    a, b, r = (torch.randn(3, 4, generator=gen, dtype=DT) for _ in range(3))
    cases: list[tuple[object, OpKind, object, list[Tensor], dict[str, object]]] = [
        (ProductRule(), OpKind.PRODUCT, torch.mul, [a, b], {}),
        (AttnLRPSoftmax(), OpKind.SOFTMAX, torch.softmax, [a], {"dim": -1}),
        (Norm(), OpKind.SUM, torch.add, [a, b], {}),
        (Pass(), OpKind.SCALE, torch.mul, [a], {"other": 3.0}),
    ]
    for rule, kind, func, operands, kwargs in cases:
        call, leaves = _call(func, operands, **kwargs)
        out = rule.propagate_gradient_elementwise(kind, call, leaves, GradientUnits())  # type: ignore[attr-defined]
        form = torch.autograd.grad(out, leaves, r)
        plain_leaves = [t.detach().requires_grad_(True) for t in operands]
        plain = torch.autograd.grad(func(*plain_leaves, **kwargs), plain_leaves, r)  # type: ignore[operator]
        factors = rule.own_backward_factors(kind, ("signal",) * len(operands))  # type: ignore[attr-defined]
        for g, p, c in zip(form, plain, factors):
            torch.testing.assert_close(g, c * p, rtol=1e-12, atol=1e-14)
    assert ProductRule().own_backward_factors(OpKind.PRODUCT, ("gate", "signal")) == (0.0, 1.0)
    assert HeldConstant().own_backward_factors(OpKind.SOFTMAX, ("signal",)) == (0.0,)
    assert Pass().own_backward_factors(OpKind.ACTIVATION, ("signal",)) is None


class _OpByOp(AttnLRPSoftmax):
    """AttnLRP's softmax without declared factors: the engine then never fuses attention."""

    def own_backward_factors(self, kind: OpKind, roles: tuple[str, ...]) -> None:
        return None


class _HeldOpByOp(HeldConstant):
    def own_backward_factors(self, kind: OpKind, roles: tuple[str, ...]) -> None:
        return None


class _Attention(nn.Module):
    """Projections into grouped-query attention through ``F.scaled_dot_product_attention``, with a mask."""

    def __init__(self, mask: str) -> None:
        super().__init__()
        torch.manual_seed(9)
        self.q, self.kv, self.out = nn.Linear(8, 8).to(DT), nn.Linear(8, 8).to(DT), nn.Linear(8, 3).to(DT)
        self.mask = mask

    def forward(self, x: Tensor) -> Tensor:
        n, t, _ = x.shape
        q = self.q(x).reshape(n, t, 4, 2).transpose(1, 2)
        k, v = self.kv(x).reshape(n, t, 2, 2, 2).permute(2, 0, 3, 1, 4)
        keep = torch.rand(t, t, generator=torch.Generator().manual_seed(2)) > 0.3
        keep |= torch.eye(t, dtype=torch.bool)
        options: dict[str, object] = {"enable_gqa": True}
        if self.mask == "causal":
            options["is_causal"] = True
        elif self.mask == "bool":
            options["attn_mask"] = keep
        elif self.mask == "float":
            options["attn_mask"] = torch.randn(t, t, generator=torch.Generator().manual_seed(3), dtype=DT)
        a = F.scaled_dot_product_attention(q, k, v, **options)
        return self.out(torch.tanh(a.transpose(1, 2).reshape(n, t, 8)).mean(1))


@pytest.mark.parametrize("softmax", ["attnlrp", "cp_lrp"])
@pytest.mark.parametrize("case", ["encoder SDPA", "encoder MHA", "causal", "bool", "float", "none"])
def test_fused_attention_explains_as_the_composition_it_computes(softmax: str, case: str) -> None:
    if case.startswith("encoder"):
        model: nn.Module = Encoder("sdpa" if case == "encoder SDPA" else "mha")
        x = _tokens()
    else:
        model = _Attention(case)
        x = torch.randn(3, 6, 8, generator=torch.Generator().manual_seed(4), dtype=DT)
    model.eval()
    fused = xaikit.explain(model, x, 1, method="lrp", composite=softmax)
    slow_rule = _OpByOp() if softmax == "attnlrp" else _HeldOpByOp()
    preset = xaikit.rules.get_composite(softmax)
    op_by_op = preset.with_rules((Kind(OpKind.SOFTMAX), slow_rule))
    composed = xaikit.explain(model, x, 1, method="lrp", composite=op_by_op)
    scale = float(composed.attribution.abs().max())
    assert scale > 0
    torch.testing.assert_close(fused.attribution, composed.attribution, rtol=0, atol=1e-10 * scale)
    torch.testing.assert_close(fused.output, composed.output, rtol=1e-12, atol=1e-12)
