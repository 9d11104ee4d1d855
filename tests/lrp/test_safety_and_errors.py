"""The user's model and inputs are never changed; bad input and unsupported operations raise clearly."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from lrp_nets import DT, seeded
from torch import Tensor, nn

import xaikit
from xaikit.engine import UnsupportedOperationError
from xaikit.models import resnet_small
from xaikit.utils.errors import ModelError


def snapshot(model: nn.Module) -> dict[str, object]:
    return {
        "state": {k: v.clone() for k, v in model.state_dict(keep_vars=False).items()},
        "versions": {k: v._version for k, v in model.state_dict(keep_vars=True).items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
        "hooks": [
            (dict(m._forward_hooks), dict(m._forward_pre_hooks), dict(m._backward_hooks)) for m in model.modules()
        ],
    }


def assert_unchanged(model: nn.Module, before: dict[str, object]) -> None:
    after = snapshot(model)
    assert before["state"].keys() == after["state"].keys()  # type: ignore[attr-defined]
    for key, value in before["state"].items():  # type: ignore[attr-defined]
        assert torch.equal(value, after["state"][key]), key  # type: ignore[index]
    assert before["versions"] == after["versions"]
    assert before["training"] == after["training"]
    assert before["requires_grad"] == after["requires_grad"]
    assert all(a is b for a, b in zip(before["grads"], after["grads"]))  # type: ignore[call-overload]
    assert [tuple(map(list, h)) for h in before["hooks"]] == [tuple(map(list, h)) for h in after["hooks"]]  # type: ignore[attr-defined]


@pytest.fixture
def resnet() -> nn.Module:
    model = seeded(lambda: resnet_small(num_classes=5), 0).eval()
    user_hook = model.layer1.register_forward_hook(lambda m, i, o: None)  # the user's own hook survives
    model.fc.weight.requires_grad_(False)  # and so do the user's flags
    model.user_hook = user_hook  # type: ignore[assignment]
    return model


@pytest.mark.parametrize("preset", ["epsilon_plus", "epsilon_gamma_box", "epsilon_alpha2_beta1", "lrp_cmp"])
def test_model_unchanged_after_success(resnet: nn.Module, preset: str) -> None:
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    x_copy = x.clone()
    before = snapshot(resnet)
    xaikit.explain(resnet, x, composite=preset)
    assert_unchanged(resnet, before)
    assert torch.equal(x, x_copy) and x._version == 0


def test_model_unchanged_after_exception_in_forward(resnet: nn.Module) -> None:
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    before = snapshot(resnet)

    def explode(module: nn.Module, inputs: object, output: Tensor) -> None:
        raise RuntimeError("boom")

    handle = resnet.layer2.register_forward_hook(explode)
    before = snapshot(resnet)
    with pytest.raises(RuntimeError, match="boom"):
        xaikit.explain(resnet, x, composite="epsilon_gamma_box")
    assert_unchanged(resnet, before)
    handle.remove()


def test_model_unchanged_after_bad_target(resnet: nn.Module) -> None:
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    before = snapshot(resnet)
    with pytest.raises(ValueError, match="out of range for a model output with 5 classes"):
        xaikit.explain(resnet, x, target=7)
    assert_unchanged(resnet, before)


def test_training_mode_is_refused_with_the_fix() -> None:
    model = seeded(lambda: nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2)), 0)
    with pytest.raises(ValueError, match=r"call model\.eval\(\)"):
        xaikit.explain(model, torch.rand(3, 4))
    assert model.training  # not silently switched


class FunctionalDropout(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(F.dropout(x, 0.5, training=True))


def test_functional_dropout_in_training_mode_is_refused() -> None:
    model = FunctionalDropout().eval()
    with pytest.raises(ModelError, match=r"random.*dropout"):
        xaikit.explain(model, torch.rand(3, 4))


class Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 3), nn.Linear(4, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.a(x) * torch.sigmoid(self.b(x))


class LogGamma(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.lgamma(x + 1.0).sum(1, keepdim=True)


def test_unsupported_operations_name_the_op_and_the_fix() -> None:
    with pytest.raises(UnsupportedOperationError, match=r"lgamma.*register_operation"):
        xaikit.explain(LogGamma(), torch.rand(3, 4))


def test_a_sigmoid_gate_gets_no_relevance_and_the_signal_takes_all() -> None:
    """Signal-take-all (Arras et al.): ``a(x) * sigmoid(b(x))`` explains as ``a`` with the gate held constant."""
    model = Gated().double().eval()
    with torch.no_grad():
        model.a.bias.zero_()
    x = torch.rand(3, 4, dtype=torch.float64)
    e = xaikit.explain(model, x, target=1, method="lrp", composite="epsilon", composite_options={"epsilon": 0.0})
    gate = torch.sigmoid(model.b(x)).detach()[:, 1:2]
    expected = x * model.a.weight[1].detach() * gate  # LRP-0 of the linear signal, scaled by the constant gate
    # the product's stabilizer (1e-9, relative) is the only departure from the formula
    torch.testing.assert_close(e.attribution, expected, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(e.attribution.sum(1), e.output, rtol=1e-8, atol=1e-12)


def test_registering_an_operation_makes_it_work() -> None:
    class Hardshrink(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x: Tensor) -> Tensor:
            return self.fc(F.hardshrink(x, 0.1))

    model = seeded(Hardshrink, 0).eval()
    x = torch.rand(3, 4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(UnsupportedOperationError, match="hardshrink"):
        xaikit.explain(model, x)
    xaikit.engine.register_operation(F.hardshrink, "activation")
    try:
        e = xaikit.explain(model, x)
    finally:
        xaikit.engine.unregister_operation(F.hardshrink)
    # pass-through: the relevance of the shrunk input equals what LRP-epsilon gives the linear layer
    assert torch.isfinite(e.attribution).all()
    assert e.attribution.shape == x.shape


def test_softmax_output_is_refused_with_advice() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))
    with pytest.raises(UnsupportedOperationError, match="LogOdds"):
        xaikit.explain(model, torch.rand(2, 4))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_and_inf_inputs_are_refused(bad: float) -> None:
    x = torch.rand(2, 4)
    x[1, 2] = bad
    with pytest.raises(ValueError, match=r"NaN or inf.*index \(1, 2\)"):
        xaikit.explain(nn.Linear(4, 2), x)


def test_inputs_without_batch_dimension_are_refused() -> None:
    with pytest.raises(ValueError, match=r"x\[None\]"):
        xaikit.explain(nn.Linear(4, 2), torch.rand(4))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_attribution_keeps_dtype_shape_and_device(dtype: torch.dtype) -> None:
    model = seeded(lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3)), 0).to(dtype)
    x = torch.rand(2, 1, 4, 4, dtype=dtype)
    e = xaikit.explain(model, x, composite="epsilon_gamma_box")
    assert e.attribution.dtype == dtype and e.attribution.shape == x.shape and e.attribution.device == x.device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu() -> None:
    model = seeded(lambda: resnet_small(num_classes=4), 0).eval().to(DT)
    x = torch.rand(2, 3, 16, 16, dtype=DT)
    cpu = xaikit.explain(model, x, composite="epsilon_gamma_box")
    gpu = xaikit.explain(copy.deepcopy(model).cuda(), x.cuda(), composite="epsilon_gamma_box")
    assert gpu.attribution.device.type == "cuda"
    torch.testing.assert_close(gpu.attribution.cpu(), cpu.attribution, rtol=1e-6, atol=1e-9)
