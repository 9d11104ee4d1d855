"""The engine-rule contract: typed kinds, rules that declare what they serve, rule-owned caches."""

from __future__ import annotations

import copy
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import xaikit
from xaikit.core.probe import PROBE_CALLS
from xaikit.engine import (
    ElementwiseRule,
    LayerRule,
    LinearOp,
    OpCall,
    OpKind,
    explainable,
    graft,
    register_operation,
    times_input,
    unregister_operation,
)
from xaikit.engine.graft import stabilized_ratio
from xaikit.models import MLP, DigitsCNN
from xaikit.rules import (
    Composite,
    Epsilon,
    FirstLayer,
    Gamma,
    Kind,
    LayerName,
    LayerType,
    Norm,
    Pass,
    ZPlus,
    composite_options,
    composites,
    get_composite,
)
from xaikit.utils.options import OptionError

DT = torch.float64


def _mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return MLP(6, (8, 8), 3).to(DT).eval()


# ---------------------------------------------------------------- kinds
def test_a_misspelt_kind_raises_and_lists_the_kinds() -> None:
    with pytest.raises(ValueError, match=r"unknown operation kind 'activaton'.*'activation'"):
        Kind("activaton")
    with pytest.raises(ValueError, match="unknown operation kind"):
        OpKind.parse("dens")
    assert Kind("conv").kinds == {OpKind.CONV}
    assert OpKind.CONV == "conv" and str(OpKind.SUM) == "sum"


# ---------------------------------------------------------------- composites
def test_a_rule_on_a_kind_it_cannot_serve_raises_at_construction_naming_both() -> None:
    with pytest.raises(TypeError, match=r"Pass\(\) cannot serve operations of kind 'dense'"):
        Composite([(Kind("dense"), Pass())])
    with pytest.raises(TypeError, match=r"Epsilon.*cannot serve operations of kind 'activation'"):
        Composite([(Kind("activation", "dense"), Epsilon())])
    with pytest.raises(TypeError, match=r"Norm\(.*cannot serve.*'conv'"):
        Composite([(FirstLayer(), Norm())])


def test_an_object_that_is_not_a_rule_is_refused() -> None:
    class DuckRule:
        def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
            return a

    with pytest.raises(TypeError, match=r"is not a rule; a rule subclasses xaikit\.engine\.LayerRule"):
        Composite([(Kind("dense"), DuckRule())])


def test_a_module_matcher_applies_its_rule_only_where_it_serves_and_falls_through() -> None:
    """A layer rule matched by module type lands on the module's layer, not on the sum inside it."""

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: Tensor) -> Tensor:
            return self.fc(x) + x

    model = nn.Sequential(Block(), nn.Linear(4, 2)).to(DT).eval()
    composite = Composite([(LayerType(Block), Epsilon(0.0)), (Kind("sum"), Norm(0.0)), (Kind("dense"), Epsilon(0.0))])
    seen: list[tuple[OpKind, str]] = []
    for kind in (OpKind.DENSE, OpKind.SUM):
        info = xaikit.engine.LayerInfo(kind=kind, func=F.linear, module=model[0], name="0")
        rule = composite.rule_for(info)
        seen.append((kind, type(rule).__name__))
    assert seen == [(OpKind.DENSE, "Epsilon"), (OpKind.SUM, "Norm")]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.bias.zero_()
    e = xaikit.explain(model, torch.rand(3, 4, dtype=DT), method="lrp", composite=composite)
    torch.testing.assert_close(e.relevance_sum, e.output, rtol=1e-9, atol=1e-12)


def test_the_engine_checks_rules_of_other_providers() -> None:
    class Provider:
        def rule_for(self, info: xaikit.engine.LayerInfo) -> object:
            return Pass() if info.is_layer else None

        def default_for(self, kind: OpKind) -> None:
            return None

    model = _mlp()
    leaf = torch.rand(2, 6, dtype=DT).requires_grad_(True)
    with pytest.raises(TypeError, match="cannot serve operations of kind 'dense'"):
        with torch.enable_grad(), xaikit.engine.Propagation(model, Provider()) as prop:  # type: ignore[arg-type]
            prop.track(leaf)
            model(leaf)


# ---------------------------------------------------------------- stale weights
def _fresh(model: nn.Module, x: Tensor, composite: str) -> Tensor:
    """What a fresh process computes: a new model object, new rule objects."""
    clone = copy.deepcopy(model)
    opts = {"low": -1.0, "high": 1.0} if composite == "epsilon_gamma_box" else None
    return xaikit.explain(clone, x, target=0, method="lrp", composite=composite, composite_options=opts).attribution


def _writers() -> dict[str, object]:
    def data_assignment(model: nn.Module) -> nn.Module:
        for p in model.parameters():
            p.data = p.data * 1.7 - 0.1
        return model

    def data_inplace(model: nn.Module) -> nn.Module:
        for p in model.parameters():
            p.data.mul_(-1.3)  # bypasses the version counter
        return model

    def state_dict(model: nn.Module) -> nn.Module:
        other = _mlp(seed=5)
        model.load_state_dict(other.state_dict())
        return model

    def to_double(model: nn.Module) -> nn.Module:
        return model.double()

    return {"data=": data_assignment, "data.mul_": data_inplace, "load_state_dict": state_dict, "double": to_double}


@pytest.mark.parametrize("writer", list(_writers()))
@pytest.mark.parametrize("composite", ["gamma", "zplus", "epsilon_gamma_box"])
def test_weights_written_between_calls_are_never_explained_stale(writer: str, composite: str) -> None:
    torch.manual_seed(0)
    model = MLP(6, (8, 8), 3).eval()
    if writer != "double":
        model = model.to(DT)
    x = torch.rand(4, 6, dtype=DT) * 2 - 1
    opts = {"low": -1.0, "high": 1.0} if composite == "epsilon_gamma_box" else None
    explainer = xaikit.lrp.LRP(composite=composite, composite_options=opts)  # the same rule objects twice
    explainer(model, x.to(next(model.parameters()).dtype), target=0)
    model = _writers()[writer](model)  # type: ignore[operator]
    again = explainer(model, x, target=0).attribution
    torch.testing.assert_close(again, _fresh(model, x, composite), rtol=0.0, atol=0.0)


def test_derived_weights_are_reused_within_one_call() -> None:
    """A module used twice derives its modified weight once (the cache is the rule's, per call)."""
    calls = []

    class CountingZPlus(ZPlus):
        def derive(self, op: LinearOp, transform: object, *, bias: bool = True) -> tuple[Tensor, Tensor | None]:
            calls.append(transform)
            return super().derive(op, transform, bias=bias)  # type: ignore[arg-type]

    layer = nn.Linear(5, 5).to(DT)
    model = lambda x: layer(F.relu(layer(x)))  # noqa: E731
    rule = CountingZPlus(signed=False)
    before = len(rule._derived_weights())
    xaikit.explain(model, torch.rand(2, 5, dtype=DT), target=0, method="lrp", composite=Composite([(Kind("dense"), rule)]))
    assert calls and len(rule._derived_weights()) == before + 2  # weight and bias, held once each


# ---------------------------------------------------------------- the speed flag cannot change values
def test_a_wrong_computes_layer_output_flag_cannot_change_the_forward_values() -> None:
    class DoubledWeights(LayerRule):
        """Claims to compute the layer output but runs a modified forward (a contract violation)."""

        computes_layer_output: ClassVar[bool] = True

        def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
            u = op(times_input(a), 2 * op.weight, op.bias)
            return stabilized_ratio(u, u.detach(), 1e-6, True)

    model = _mlp()
    x = torch.rand(5, 6, dtype=DT)
    e = xaikit.explain(model, x, target=1, method="lrp", composite=Composite([(Kind("dense"), DoubledWeights())]))
    torch.testing.assert_close(e.output, model(x)[:, 1].detach(), rtol=0.0, atol=0.0)


def test_epsilon_reads_the_layer_output_off_its_own_forward() -> None:
    """The flag saves a forward: Epsilon's graph is built eagerly and no extra layer call happens."""
    layer = nn.Linear(6, 3).to(DT)
    calls = 0
    original = F.linear

    def counting(*args: object, **kwargs: object) -> Tensor:
        nonlocal calls
        calls += 1
        return original(*args, **kwargs)  # type: ignore[arg-type]

    register_operation(counting, "dense")
    try:
        model = lambda x: counting(x, layer.weight, layer.bias)  # noqa: E731
        xaikit.explain(model, torch.rand(2, 6, dtype=DT), target=0, method="lrp", composite="epsilon")
    finally:
        unregister_operation(counting)
    assert calls == 1 + PROBE_CALLS  # the model's own call (the engine ran F.linear inside it) and the probe's


# ---------------------------------------------------------------- custom rules see the arguments
def test_a_custom_rule_receives_the_call_arguments() -> None:
    seen: dict[str, object] = {}

    def share(call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
        seen["dim"] = call.kwargs["dim"]
        seen["scale"] = call.args[1]
        (g,) = graphs
        weights = torch.softmax(g.detach() * call.args[1], dim=call.kwargs["dim"])
        return graft((g * weights).sum(call.kwargs["dim"]), value)

    @explainable(share)
    def soft_max_pool(h: Tensor, scale: float, *, dim: int) -> Tensor:
        return torch.logsumexp(h * scale, dim=dim) / scale

    layer = nn.Linear(4, 3).to(DT)
    model = lambda x: soft_max_pool(layer(x), 5.0, dim=1)  # noqa: E731
    e = xaikit.explain(model, torch.rand(2, 4, dtype=DT), target=lambda out: out, method="lrp", composite="epsilon")
    assert seen == {"dim": 1, "scale": 5.0}
    assert torch.isfinite(e.attribution).all()


def test_elementwise_rules_get_an_op_call_they_can_rerun() -> None:
    class Halve(ElementwiseRule):
        kinds: ClassVar[frozenset[OpKind]] = frozenset({OpKind.ACTIVATION})

        def propagate_elementwise(self, call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
            assert isinstance(call, OpCall) and call.func in (F.relu, torch.relu)
            return graft(graphs[0] * 0.5, value)

    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1)).to(DT).eval()
    x = torch.rand(2, 3, dtype=DT)
    halved = xaikit.explain(model, x, target=0, method="lrp", composite=Composite([(Kind("activation"), Halve())]))
    plain = xaikit.explain(model, x, target=0, method="lrp", composite="epsilon")
    torch.testing.assert_close(halved.attribution, plain.attribution * 0.5)


def test_unregister_operation_undoes_a_registration() -> None:
    def my_op(x: Tensor) -> Tensor:
        return x

    register_operation(my_op, "activation")
    assert "activation" in xaikit.engine.supported_operations()
    unregister_operation(my_op)
    with pytest.raises(KeyError, match="not a registered operation"):
        unregister_operation(my_op)
    register_operation(F.relu, "route")
    unregister_operation(F.relu)  # a built-in gets its family back
    assert xaikit.engine.ops.family_of(F.relu) == "activation"


# ---------------------------------------------------------------- presets and their options
@pytest.mark.parametrize("name", sorted(set(composites()) - {"lrp0", "neon"}))
def test_every_preset_accepts_relative_false(name: str) -> None:
    assert "relative" in composite_options(name)
    model = DigitsCNN().to(DT).eval()
    x = torch.rand(2, 1, 8, 8, dtype=DT)
    opts = {"low": 0.0, "high": 1.0} if "low" in composite_options(name) else {}
    e = xaikit.explain(model, x, method="lrp", composite=name, composite_options={**opts, "relative": False})
    assert torch.isfinite(e.attribution).all()


def test_an_unknown_preset_option_lists_the_valid_ones() -> None:
    with pytest.raises(OptionError, match=r"composite 'epsilon_plus' got an unknown option 'gama'.*epsilon, relative"):
        get_composite("epsilon_plus", gama=0.5)
    with pytest.raises(OptionError, match="did you mean 'gamma'"):
        get_composite("epsilon_gamma_box", gama=0.5)


def test_layer_name_matchers_still_select_by_module_name() -> None:
    model = _mlp()
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    composite = Composite([(LayerName(names[0]), Gamma(0.5)), (Kind("dense"), Epsilon())])
    e = xaikit.explain(model, torch.rand(3, 6, dtype=DT), method="lrp", composite=composite)
    assert torch.isfinite(e.attribution).all()
