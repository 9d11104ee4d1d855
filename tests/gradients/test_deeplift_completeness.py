"""DeepLIFT and DeepSHAP check summation-to-delta after every call (issue 11, finding 4).

Operations without a DeepLIFT multiplier (normalizations over features, data-dependent
``torch.where``, sort/topk, masks multiplying their own input) pass their gradient at the
input and break completeness; the gap is reported by a :class:`CompletenessWarning` (or a
``ModelError`` with ``completeness="raise"``), while ordinary ReLU networks, in float32 as
well as float64, stay silent.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from gradients_testkit import ReluMLP, TinyCNN
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

import xaikit
from xaikit.gradients.completeness import (
    COMPLETENESS_MODES,
    CompletenessWarning,
    completeness_tolerance,
    round_off_eps,
)
from xaikit.gradients.deeplift import DeepLift, DeepShap
from xaikit.utils.errors import ModelError

DT = torch.float64


class Broken(nn.Module):
    """``Linear(6, 8) -> op -> Linear(., 3)`` with an operation that has no DeepLIFT multiplier."""

    def __init__(self, op: Callable[[Tensor], Tensor], width: int = 8) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.fc1, self.fc2 = nn.Linear(6, 8), nn.Linear(width, 3)
        self.op = op
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.7)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.op(self.fc1(x)))


class LayerNormed(Broken):
    def __init__(self) -> None:
        super().__init__(lambda h: h)
        self.norm = nn.LayerNorm(8)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.relu(self.norm(self.fc1(x))))


class GroupNormed(nn.Module):
    """``conv -> GroupNorm -> ReLU -> linear`` on ``(N, 1, 6, 6)``."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(1)
        self.conv, self.norm, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.Linear(4 * 36, 3)
        with torch.no_grad():
            for p in (self.conv.weight, self.conv.bias, self.fc.weight, self.fc.bias):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(F.relu(self.norm(self.conv(x))).flatten(1))


def _threshold_mask(h: Tensor) -> Tensor:
    return h * (h > 0.5)  # a mask multiplying its own input (a hard threshold, not a ReLU)


def _data_dependent_where(h: Tensor) -> Tensor:
    return torch.where(h > 0.3, h, 0.2 * h)


def _sort(h: Tensor) -> Tensor:
    return torch.sort(h, dim=1).values


def _topk(h: Tensor) -> Tensor:
    return torch.topk(h, 3, dim=1).values


BROKEN: dict[str, Callable[[], nn.Module]] = {
    "layer_norm": LayerNormed,
    "group_norm": GroupNormed,
    "threshold_mask": lambda: Broken(_threshold_mask),
    "data_dependent_where": lambda: Broken(_data_dependent_where),
    "sort": lambda: Broken(_sort),
    "topk": lambda: Broken(_topk, width=3),
}


def _inputs(model: nn.Module, n: int = 4, seed: int = 2) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    shape = (n, 1, 6, 6) if isinstance(model, GroupNormed) else (n, 6)
    return torch.rand(shape, generator=gen, dtype=DT) * 2 - 1


def _background(x: Tensor) -> Tensor:
    gen = torch.Generator().manual_seed(3)
    return (torch.rand((5, *x.shape[1:]), generator=gen, dtype=x.dtype) * 2 - 1).to(x.device)


def _options(method: str, x: Tensor, **extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"baseline": 0.1} if method == "deeplift" else {"baselines": _background(x)}
    return {**options, **extra}


def _completeness_warnings(caught: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [w for w in caught if issubclass(w.category, CompletenessWarning)]


def _silent(model: nn.Module, x: Tensor, method: str, **options: Any) -> xaikit.Explanation:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompletenessWarning)
        return xaikit.explain(model, x, 1, method=method, **_options(method, x, **options))


@pytest.mark.parametrize("method", ["deeplift", "deepshap"])
@pytest.mark.parametrize("name", list(BROKEN))
def test_a_model_breaking_summation_to_delta_warns_with_the_gap(name: str, method: str) -> None:
    model = BROKEN[name]().to(DT).eval()
    x = _inputs(model)
    with pytest.warns(CompletenessWarning) as caught:
        e = xaikit.explain(model, x, 1, method=method, **_options(method, x))
    (warning,) = _completeness_warnings(list(caught))
    message = str(warning.message)
    gap = e.extras["completeness_gap"].abs()
    worst = int(gap.argmax())
    assert float(gap[worst]) > 1e-3 * float(e.output.abs().max())  # a real gap, far beyond round-off
    assert "summation-to-delta does not hold" in message
    assert f"{float(gap.max()):.3g}" in message  # the absolute gap
    relative = float(gap[worst] / e.output[worst].abs())
    assert f"{relative:.3g} times |f(x) - " in message  # and relative to the explained difference
    for words in ("LayerNorm", "torch.where", "sort or topk", "x * (x > t)", "integrated_gradients", "shapley", "torch.relu"):
        assert words in message
    assert warning.filename == __file__  # points at the caller's line


@pytest.mark.parametrize("method", ["deeplift", "deepshap"])
@pytest.mark.parametrize("name", list(BROKEN))
def test_raise_mode_raises_a_model_error(name: str, method: str) -> None:
    model = BROKEN[name]().to(DT).eval()
    x = _inputs(model)
    with pytest.raises(ModelError, match=r"summation-to-delta does not hold.*Use integrated_gradients"):
        xaikit.explain(model, x, 1, method=method, **_options(method, x, completeness="raise"))


@pytest.mark.parametrize("method", ["deeplift", "deepshap"])
@pytest.mark.parametrize("name", list(BROKEN))
def test_ignore_mode_is_silent_and_keeps_the_gap_in_the_extras(name: str, method: str) -> None:
    model = BROKEN[name]().to(DT).eval()
    x = _inputs(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompletenessWarning)
        e = xaikit.explain(model, x, 1, method=method, **_options(method, x, completeness="ignore"))
    assert float(e.extras["completeness_gap"].abs().max()) > 1e-3 * float(e.output.abs().max())
    assert e.options["completeness"] == "ignore"


def test_float32_broken_model_warns_too() -> None:
    model = LayerNormed().eval()
    x = _inputs(model).float()
    with pytest.warns(CompletenessWarning, match="in float32"):
        xaikit.explain(model, x, 1, method="deeplift")


def test_a_relu_written_as_a_mask_is_complete_or_reported() -> None:
    """``h * (h > 0)``: the engine may treat it as a ReLU (then complete); it must never miss silently."""
    model = Broken(lambda h: h * (h > 0)).to(DT).eval()
    x = _inputs(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        e = xaikit.explain(model, x, 1, method="deeplift", baseline=0.1)
    complete = float(e.extras["completeness_gap"].abs().max()) <= 1e-9 * float(e.output.abs().max())
    assert complete != bool(_completeness_warnings(caught))


ORDINARY: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mlp": (lambda: ReluMLP([6, 16, 12, 4], seed=4), (5, 6)),
    "mlp_functional": (lambda: ReluMLP([10, 32, 32, 32, 3], functional=True, seed=5), (5, 10)),
    "cnn_max_pool": (lambda: TinyCNN(pool="max", seed=6), (3, 2, 8, 8)),
    "cnn_avg_pool": (lambda: TinyCNN(pool="avg", seed=7), (3, 2, 8, 8)),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("deeplift", {}),
        ("deeplift", {"baseline": 0.3}),
        ("deeplift", {"multipliers": "reveal_cancel"}),
        ("deepshap", {}),
        ("deepshap", {"multipliers": "reveal_cancel", "batch_size": 3}),
    ],
    ids=str,
)
@pytest.mark.parametrize("name", list(ORDINARY))
def test_ordinary_relu_networks_stay_silent(name: str, method: str, options: dict[str, Any], dtype: torch.dtype) -> None:
    factory, shape = ORDINARY[name]
    model = factory().to(dtype).eval()
    for seed in range(3):
        gen = torch.Generator().manual_seed(seed)
        x = (torch.randn(shape, generator=gen) * 2).to(dtype)
        given = dict(options)
        if method == "deepshap":
            given["baselines"] = torch.randn((4, *shape[1:]), generator=gen).to(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompletenessWarning)
            e = xaikit.explain(model, x, 1, method=method, **given)
        assert e.options["completeness"] == "warn"


@given(seed=st.integers(0, 10_000), width=st.sampled_from([8, 64, 256]))
@settings(max_examples=15, deadline=None)
def test_float32_round_off_stays_well_inside_the_tolerance(seed: int, width: int) -> None:
    """On ReLU networks the float32 gap is far below the tolerance (measured: under 1 % of it)."""
    model = ReluMLP([20, width, width, width, 5], seed=seed).eval()
    gen = torch.Generator().manual_seed(seed)
    x, b = torch.randn(6, 20, generator=gen) * 3, torch.randn(6, 20, generator=gen)
    e = _silent(model, x, "deeplift", baseline=b)
    scale = (e.extras["f_input"].abs() + e.extras["f_baseline"].abs() + e.attribution.abs().sum(1)).double()
    tolerance = completeness_tolerance(torch.float32, scale)
    assert float((e.extras["completeness_gap"].double().abs() / tolerance).max()) < 0.05


def test_the_tolerance_follows_the_dtype() -> None:
    one = torch.ones(1, dtype=DT)
    assert float(completeness_tolerance(torch.float64, one)) == pytest.approx(1e-9)  # floor
    assert float(completeness_tolerance(torch.float32, one)) == pytest.approx(1e3 * torch.finfo(torch.float32).eps)
    for low in (torch.float16, torch.bfloat16):
        assert float(completeness_tolerance(low, one)) == pytest.approx(0.1, rel=1e-3)  # cap


def test_a_non_smooth_target_function_names_the_target() -> None:
    model = ReluMLP([6, 16, 3], seed=8).double().eval()
    x = _inputs(model)
    with pytest.warns(CompletenessWarning, match="comes from the target"):
        xaikit.explain(model, x, lambda out: out[:, 1].abs(), method="deeplift", baseline=0.5)


def test_a_log_odds_target_with_moderate_logits_stays_silent() -> None:
    model = ReluMLP([6, 16, 12, 4], seed=9).double().eval()
    x = _inputs(model) * 3
    _silent(model, x, "deeplift")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompletenessWarning)
        xaikit.explain(model, x, xaikit.LogOdds(1), method="deeplift", baseline=0.2)


@pytest.mark.parametrize("cls", [DeepLift, DeepShap])
def test_unknown_completeness_mode_is_refused(cls: type) -> None:
    with pytest.raises(ValueError, match=r"completeness check 'strict'.*warn, raise, ignore"):
        cls(completeness="strict")
    assert COMPLETENESS_MODES == ("warn", "raise", "ignore")


def test_the_option_goes_with_the_old_names() -> None:
    model = LayerNormed().to(DT).eval()
    x = _inputs(model)
    with pytest.warns(DeprecationWarning, match="is now called"):
        explainer = DeepLift(eps=1e-8, rule="reveal_cancel", completeness="raise")
    assert (explainer.epsilon, explainer.multipliers, explainer.completeness) == (1e-8, "reveal_cancel", "raise")
    with pytest.raises(ModelError):
        explainer(model, x, 1)
    with pytest.warns(DeprecationWarning):
        shap = xaikit.explain(model, x, 1, method="deepshap", baselines=_background(x), eps=1e-8, completeness="ignore")
    assert shap.options["completeness"] == "ignore"


def test_a_direct_explainer_call_points_the_warning_at_the_caller() -> None:
    model = LayerNormed().to(DT).eval()
    x = _inputs(model)
    with pytest.warns(CompletenessWarning) as caught:
        DeepShap(baselines=_background(x))(model, x, 1)
    assert _completeness_warnings(list(caught))[0].filename == __file__


@pytest.mark.parametrize(("precision", "eps"), [("high", 2.0**-10), ("medium", 2.0**-7)])
def test_reduced_float32_matmul_precision_widens_the_tolerance(precision: str, eps: float) -> None:
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        assert round_off_eps(torch.float32) == eps
        assert round_off_eps(torch.float64) == torch.finfo(torch.float64).eps
        assert float(completeness_tolerance(torch.float32, torch.ones(1, dtype=DT))) == pytest.approx(0.1)
        model = BROKEN["sort"]().eval()  # a gap of 0.24 of the scale: beyond even this tolerance
        with pytest.warns(CompletenessWarning, match="float32 with (TensorFloat-32|bfloat16) matmuls"):
            xaikit.explain(model, _inputs(model).float(), 1, method="deeplift", baseline=0.5)
    finally:
        torch.set_float32_matmul_precision(before)
    assert round_off_eps(torch.float32) == torch.finfo(torch.float32).eps


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", ["deeplift", "deepshap"])
def test_on_cuda_float32_ordinary_networks_stay_silent_and_broken_ones_warn(method: str) -> None:
    for factory, shape in ORDINARY.values():
        model = factory().cuda().eval()
        x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).cuda()
        _silent(model, x, method)
    model = LayerNormed().to(DT).cuda().eval()
    with pytest.warns(CompletenessWarning):
        xaikit.explain(model, _inputs(model).cuda(), 1, method=method, **_options(method, _inputs(model).cuda()))
