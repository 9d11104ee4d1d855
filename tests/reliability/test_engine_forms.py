"""The same model written differently is explained the same, and branches the engine cannot see raise.

Issue 11, findings 3, 9 and 10: a dense or convolution layer whose bias is added after the
linear op (``x @ W.T + b``, ``F.linear(x, W) + b``, ``F.conv2d(x, W) + b[:, None, None]``)
is the layer ``nn.Linear``/``nn.Conv2d`` is, for every rule that treats the bias; a ReLU
written as ``where(t > 0, t, 0)``, ``t * (t > 0)`` or ``masked_fill`` is a ReLU for the
methods with ReLU-specific rules; and a residual computed under ``torch.no_grad()`` or in a
custom ``autograd.Function`` raises instead of losing its relevance.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import xaikit
from xaikit.utils.errors import ModelError

DT = torch.float64
Linear = Callable[[Tensor, Tensor, Tensor], Tensor]

DENSE_FORMS: dict[str, Linear] = {
    "F.linear(x, W) + b": lambda x, w, b: F.linear(x, w) + b,
    "x @ W.T + b": lambda x, w, b: x @ w.T + b,
    "b + x @ W.T": lambda x, w, b: b + x @ w.T,
    "x @ W.T - (-b)": lambda x, w, b: x @ w.T - (-b),
    "torch.add(matmul, b)": lambda x, w, b: torch.add(torch.matmul(x, w.T), b),
}
RELU_FORMS: dict[str, Callable[[Tensor], Tensor]] = {
    "where(t > 0, t, 0)": lambda t: torch.where(t > 0, t, 0.0),
    "where(t <= 0, 0, t)": lambda t: torch.where(t <= 0, 0.0, t),
    "t * (t > 0)": lambda t: t * (t > 0),
    "(t > 0).float() * t": lambda t: (t > 0).to(t.dtype) * t,
    "masked_fill(t <= 0, 0)": lambda t: t.masked_fill(t <= 0, 0.0),
    "masked_fill(~(t > 0), 0)": lambda t: t.masked_fill(~(t > 0), 0.0),
}
BIAS_RULES = [("lrp", {"composite": c}) for c in ("zplus", "gamma", "alpha1_beta0", "epsilon")] + [("rap", {})]
RELU_RULES = [("guided_backprop", {}), ("deconvnet", {}), ("deeplift", {}), ("rectgrad", {"percentile": 50.0})]


class TwoLayers(nn.Module):
    def __init__(self, linear: Linear, relu: Callable[[Tensor], Tensor] = torch.relu) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.w1, self.b1 = torch.randn(5, 4, generator=gen, dtype=DT), torch.randn(5, generator=gen, dtype=DT)
        self.w2, self.b2 = torch.randn(3, 5, generator=gen, dtype=DT), torch.randn(3, generator=gen, dtype=DT)
        self.linear, self.relu = linear, relu

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.relu(self.linear(x, self.w1, self.b1)), self.w2, self.b2)


class ConvNet(nn.Module):
    def __init__(self, separate_bias: bool) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(1)
        self.w = torch.randn(3, 1, 3, 3, generator=gen, dtype=DT)
        self.b = torch.randn(3, generator=gen, dtype=DT)
        self.fc = nn.Linear(3 * 16, 2).to(DT)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(self.fc.weight.shape, generator=gen, dtype=DT))
            self.fc.bias.copy_(torch.randn(2, generator=gen, dtype=DT))
        self.separate_bias = separate_bias

    def forward(self, x: Tensor) -> Tensor:
        h = F.conv2d(x, self.w) + self.b.view(1, -1, 1, 1) if self.separate_bias else F.conv2d(x, self.w, self.b)
        return self.fc(torch.relu(h).flatten(1))


def _inputs(shape: tuple[int, ...] = (4, 4)) -> Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(2), dtype=DT)


def _attribution(model: nn.Module, x: Tensor, method: str, options: dict[str, object]) -> Tensor:
    return xaikit.explain(model, x, 1, method=method, **options).attribution


@pytest.mark.parametrize(("method", "options"), BIAS_RULES, ids=lambda v: str(v))
@pytest.mark.parametrize("form", list(DENSE_FORMS))
def test_a_bias_added_after_the_linear_op_is_the_layer_bias(form: str, method: str, options: dict[str, object]) -> None:
    x = _inputs()
    reference = _attribution(TwoLayers(lambda x, w, b: F.linear(x, w, b)), x, method, options)
    got = _attribution(TwoLayers(DENSE_FORMS[form]), x, method, options)
    torch.testing.assert_close(got, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("composite", ["zplus", "gamma", "epsilon_gamma_box"])
def test_a_bias_added_after_a_convolution_is_the_layer_bias(composite: str) -> None:
    x = _inputs((3, 1, 6, 6))
    options = {"composite": composite}
    if composite == "epsilon_gamma_box":
        options["composite_options"] = {"low": 0.0, "high": 1.0}  # type: ignore[assignment]
    reference = _attribution(ConvNet(separate_bias=False), x, "lrp", options)
    torch.testing.assert_close(_attribution(ConvNet(separate_bias=True), x, "lrp", options), reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "folded"),
    [((3,), False), ((1, 3, 1, 1), True), ((3, 1, 1), True), ((), True), ((1, 3, 4, 4), False), ((3, 4), False)],
)
def test_only_a_constant_per_channel_is_taken_for_a_convolution_bias(shape: tuple[int, ...], folded: bool) -> None:
    from xaikit.engine.kinds import OpKind
    from xaikit.engine.layer import LayerInfo, LinearOp, bias_of

    op = LinearOp(func=F.conv2d, weight=torch.zeros(3, 1, 3, 3, dtype=DT), bias=None, info=LayerInfo(OpKind.CONV, F.conv2d, None, ""))
    output = torch.zeros(2, 3, 4, 4, dtype=DT)
    constant = torch.arange(float(torch.Size(shape).numel()), dtype=DT).reshape(shape)
    bias = bias_of(op, constant, output)
    assert (bias is not None) is folded
    if bias is not None:
        torch.testing.assert_close(output + bias.view(1, 3, 1, 1), output + constant)


@pytest.mark.parametrize(("method", "options"), RELU_RULES, ids=lambda v: str(v))
@pytest.mark.parametrize("form", list(RELU_FORMS))
def test_a_relu_written_with_a_mask_is_a_relu(form: str, method: str, options: dict[str, object]) -> None:
    x = _inputs()
    linear: Linear = lambda x, w, b: F.linear(x, w, b)  # noqa: E731
    reference = _attribution(TwoLayers(linear), x, method, options)
    got = _attribution(TwoLayers(linear, RELU_FORMS[form]), x, method, options)
    torch.testing.assert_close(got, reference, rtol=1e-12, atol=1e-12)


class _Double(torch.autograd.Function):
    @staticmethod
    def forward(ctx: object, h: Tensor) -> Tensor:  # type: ignore[override]
        return 2 * h

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> Tensor:  # type: ignore[override]
        return 2 * grad


class Residual(nn.Module):
    """``fc2(h + branch(h))`` with ``h = relu(fc1(x))`` and the branch where the engine may not see it."""

    def __init__(self, branch: str) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(3)
        self.fc1, self.fc2 = nn.Linear(4, 5).to(DT), nn.Linear(5, 2).to(DT)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=DT))
        self.branch = branch

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.fc1(x))
        if self.branch == "no_grad":
            with torch.no_grad():
                side = h * 0.5
            return self.fc2(h + side)
        if self.branch == "function":
            return self.fc2(h + _Double.apply(h))
        if self.branch == "function_output":
            return _Double.apply(self.fc2(h))
        if self.branch == "detached_gate":
            return self.fc2(h * torch.sigmoid(h).detach())
        with torch.no_grad():
            gate = torch.sigmoid(h)
        return self.fc2(h * gate)


@pytest.mark.parametrize("method", ["lrp", "rap", "deeplift", "guided_backprop"])
@pytest.mark.parametrize("branch", ["no_grad", "function", "function_output"])
def test_a_branch_the_engine_cannot_see_raises(branch: str, method: str) -> None:
    with pytest.raises(ModelError, match=r"no_grad|autograd\.Function"):
        xaikit.explain(Residual(branch).eval(), _inputs(), 1, method=method)


@pytest.mark.parametrize("branch", ["detached_gate", "no_grad_gate"])
def test_a_constant_gate_is_still_explained_and_conserves(branch: str) -> None:
    model = Residual(branch).eval()
    x = _inputs()
    e = xaikit.explain(model, x, 1, method="lrp", composite="epsilon", composite_options={"epsilon": 1e-12})
    # with a constant gate the model is linear-times-ReLU with biases: LRP-0 conserves up to the biases
    bias_free = Residual(branch).eval()
    with torch.no_grad():
        bias_free.fc1.bias.zero_()
        bias_free.fc2.bias.zero_()
    e0 = xaikit.explain(bias_free, x, 1, method="lrp", composite="epsilon", composite_options={"epsilon": 1e-12})
    torch.testing.assert_close(e0.attribution.sum(1), e0.output, rtol=1e-9, atol=1e-12)
    assert torch.isfinite(e.attribution).all()
