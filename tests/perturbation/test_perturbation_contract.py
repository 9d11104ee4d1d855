"""What every perturbation method promises: registry, result type, targets, safety."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import xaikit
from xaikit.core.targets import logodds

METHODS = {
    "occlusion": {},
    "shapley": {},
    "shapley_sampling": {"samples": 4},
    "kernel_shap": {"samples": 30},
    "lime": {"samples": 40},
}


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.2), nn.ReLU(), nn.Linear(8, 3)).double().eval()


def test_methods_are_registered() -> None:
    names = xaikit.methods()
    for name in [*METHODS, "approshapley", "kernelshap", "feature_ablation"]:
        assert xaikit.get_method(name).name in names


@pytest.mark.parametrize("method", list(METHODS))
def test_result_type_and_no_side_effects(method: str, model: nn.Module) -> None:
    x = torch.randn(3, 5, dtype=torch.float64)
    x_before = x.clone()
    state = copy.deepcopy(model.state_dict())
    e = xaikit.explain(model, x, method=method, progress=False, **METHODS[method])
    assert isinstance(e, xaikit.Explanation)
    assert e.attribution.shape == x.shape and e.attribution.dtype == x.dtype
    assert e.output.shape == (3,) and e.method == xaikit.get_method(method).name
    assert torch.equal(e.target, model(x).argmax(1))
    assert not e.attribution.requires_grad
    assert torch.equal(x, x_before)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert not model.training


@pytest.mark.parametrize("method", list(METHODS))
def test_batch_size_does_not_change_results(method: str, model: nn.Module) -> None:
    x = torch.randn(2, 5, dtype=torch.float64)
    a = xaikit.explain(model, x, target=1, method=method, progress=False, batch_size=3, **METHODS[method])
    b = xaikit.explain(model, x, target=1, method=method, progress=False, **METHODS[method])
    torch.testing.assert_close(a.attribution, b.attribution, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", list(METHODS))
def test_logodds_target_equals_the_explicit_selection(method: str, model: nn.Module) -> None:
    x = torch.randn(2, 5, dtype=torch.float64)
    classes = torch.tensor([2, 0])
    a = xaikit.explain(model, x, target=xaikit.LogOdds(classes), method=method, progress=False, **METHODS[method])

    ref = torch.zeros_like(x)
    for n in range(2):
        fixed = xaikit.explain(
            model, x[n : n + 1], target=lambda out, c=int(classes[n]): logodds(out, torch.full((len(out),), c)),
            method=method, progress=False, **METHODS[method],
        )
        ref[n] = fixed.attribution[0]
    torch.testing.assert_close(a.attribution, ref, rtol=1e-10, atol=1e-12)
    assert torch.equal(a.target, classes)


def test_training_mode_and_bad_inputs_raise(model: nn.Module) -> None:
    model.train()
    with pytest.raises(ValueError, match="eval"):
        xaikit.explain(model, torch.randn(2, 5, dtype=torch.float64), method="shapley")
    model.eval()
    with pytest.raises(ValueError, match="NaN"):
        xaikit.explain(model, torch.full((1, 5), float("nan"), dtype=torch.float64), method="kernel_shap")
    with pytest.raises(ValueError, match="batch_size"):
        xaikit.make_method("occlusion", batch_size=0)
    with pytest.raises(TypeError, match="unknown option"):
        xaikit.make_method("shapley", samples=3)


def test_works_with_plain_callables_and_vector_outputs() -> None:
    def score(x: torch.Tensor) -> torch.Tensor:
        return (x**2).sum(1)

    x = torch.tensor([[1.0, 2.0, 3.0]])
    e = xaikit.explain(score, x, target=lambda out: out, method="shapley", progress=False)
    torch.testing.assert_close(e.attribution, x**2)
    occ = xaikit.explain(score, x, target=0, method="occlusion", progress=False)
    torch.testing.assert_close(occ.attribution, x**2)


def test_progress_bar_can_be_shown_and_turned_off(capsys: pytest.CaptureFixture[str], model: nn.Module) -> None:
    x = torch.randn(2, 5, dtype=torch.float64)
    xaikit.explain(model, x, target=0, method="shapley", batch_size=4, progress=True)
    assert "shapley" in capsys.readouterr().err
    xaikit.explain(model, x, target=0, method="shapley", batch_size=4, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("method", ["shapley", "kernel_shap", "lime"])
def test_evaluating_in_rounds_gives_the_same_result(
    method: str, model: nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xaikit.perturbation.base as base

    x = torch.randn(3, 5, dtype=torch.float64)
    whole = xaikit.explain(model, x, target=0, method=method, progress=False, **METHODS[method])
    monkeypatch.setattr(base, "ROUND_ROWS", 1)  # one sample per round
    rounds = xaikit.explain(model, x, target=0, method=method, progress=False, **METHODS[method])
    torch.testing.assert_close(rounds.attribution, whole.attribution, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rounds.output, whole.output, rtol=1e-12, atol=1e-12)
