"""Known answers of the gradient family, and the contract every method keeps (no mutation, clear errors)."""

from __future__ import annotations

import pytest
import torch
from gradients_testkit import ReluMLP, TinyCNN, assert_close, state_of
from torch import Tensor, nn

import xaikit

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def linear_model() -> nn.Linear:
    model = nn.Linear(4, 3)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0, 0.5, 3.0], [0.0, 1.0, -1.0, 2.0], [4.0, 0.0, 0.0, -1.0]]))
        model.bias.copy_(torch.tensor([0.3, -0.2, 0.1]))
    return model.eval()


class Kinked(nn.Module):
    """``f(x) = sum_i x_i - max(0, x_i - 1)`` (Samek et al., 2021, the saturation example)."""

    def forward(self, x: Tensor) -> Tensor:
        return (x - torch.relu(x - 1.0)).sum(1)


def test_saliency_of_a_linear_model_is_the_weight_row() -> None:
    model, x = linear_model(), torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([0, 1, 2, 0, 2])
    e = xaikit.explain(model, x, target, method="saliency")
    assert_close(e.attribution, model.weight[target].detach(), rel=0)
    assert_close(e.output, (x @ model.weight.T + model.bias).gather(1, target[:, None]).squeeze(1), rel=1e-6)
    absolute = xaikit.explain(model, x, target, method="saliency", absolute=True)
    assert_close(absolute.attribution, model.weight[target].detach().abs(), rel=0)


def test_gradient_x_input_of_a_linear_model_is_w_times_x() -> None:
    model, x = linear_model(), torch.randn(5, 4, generator=torch.Generator().manual_seed(2))
    e = xaikit.explain(model, x, 1, method="gradient_x_input")
    assert_close(e.attribution, model.weight[1].detach() * x, rel=1e-7)
    assert torch.equal(e.target, torch.ones(5, dtype=torch.long))


def test_gradient_is_zero_at_saturation_while_integrated_gradients_recovers_the_output() -> None:
    model, x = Kinked(), torch.tensor([[2.0, 2.0]])
    saliency = xaikit.explain(model, x, 0, method="saliency")
    assert torch.equal(saliency.attribution, torch.zeros(1, 2))
    # midpoints of 10 steps: 5 below the kink at t = 1/2 (gradient 1), 5 above (gradient 0)
    ig = xaikit.explain(model, x, 0, method="integrated_gradients", steps=10, quadrature="riemann_middle")
    assert_close(ig.attribution, torch.tensor([[1.0, 1.0]]), rel=1e-7)
    assert_close(ig.output, torch.tensor([2.0]), rel=0)  # f(x) - f(0) = 2 - 0
    refined = xaikit.explain(model, x, 0, method="integrated_gradients", steps=3, quadrature="gauss_legendre", tolerance=1e-3)
    assert float(refined.relative_delta.max()) <= 1e-3
    assert_close(refined.attribution.sum(1), torch.tensor([2.0]), rel=1e-3)


def test_batching_does_not_change_the_gradient() -> None:
    model, x = ReluMLP([6, 8, 3]).eval(), torch.randn(7, 6, generator=torch.Generator().manual_seed(3))
    whole = xaikit.explain(model, x, method="saliency")
    parts = xaikit.explain(model, x, method="saliency", batch_size=3)
    assert_close(parts.attribution, whole.attribution, rel=1e-6)
    assert torch.equal(parts.target, whole.target)


def test_log_odds_target_differentiates_the_log_odds() -> None:
    model, x = linear_model(), torch.randn(4, 4, generator=torch.Generator().manual_seed(4))
    e = xaikit.explain(model, x, xaikit.LogOdds(2), method="saliency")
    logits = x @ model.weight.T + model.bias
    p = torch.softmax(logits, 1)
    others = torch.tensor([0, 1])
    weights = p[:, others] / p[:, others].sum(1, keepdim=True)  # d/dx logsumexp over k != 2
    expected = model.weight[2] - weights @ model.weight[others]
    assert_close(e.attribution, expected.detach(), rel=1e-5)


METHODS = [
    ("saliency", {}),
    ("gradient_x_input", {}),
    ("integrated_gradients", {"steps": 4}),
    ("smooth_integrated_gradients", {"samples": 2, "steps": 2}),
    ("expected_gradients", {"baselines": torch.zeros(3, 2, 8, 8), "samples": 2}),
    ("noise_tunnel", {"samples": 2}),
    ("guided_backprop", {}),
    ("deconvnet", {}),
    ("rectgrad", {}),
    ("deeplift", {}),
    ("deeplift", {"multipliers": "reveal_cancel"}),
    ("deepshap", {"baselines": torch.zeros(2, 2, 8, 8)}),
    ("rap", {}),
    ("grad_cam", {"layer": "conv2"}),
    ("grad_cam_plus_plus", {"layer": "conv2"}),
    ("guided_grad_cam", {"layer": "conv2"}),
]


@pytest.mark.parametrize(("method", "options"), METHODS, ids=[f"{m}-{i}" for i, (m, _) in enumerate(METHODS)])
def test_model_and_inputs_are_left_untouched(method: str, options: dict[str, object]) -> None:
    model = TinyCNN(bias=False).eval()
    model.conv1.weight.requires_grad_(False)
    before = state_of(model)
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(5))
    x_copy = x.clone()
    e = xaikit.explain(model, x, 1, method=method, **options)
    assert e.attribution.shape == x.shape and e.attribution.dtype == x.dtype
    assert e.output.shape == (3,)
    assert not e.attribution.requires_grad
    assert torch.equal(x, x_copy)
    after = state_of(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not model.conv1.weight.requires_grad and model.conv2.weight.requires_grad
    assert all(p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks for m in model.modules())
    assert e.method == xaikit.get_method(method).name


def test_bad_baselines_and_options_raise_clear_errors() -> None:
    model, x = ReluMLP([4, 5, 2]).eval(), torch.randn(3, 4)
    with pytest.raises(ValueError, match=r"baseline has shape \(5,\)"):
        xaikit.explain(model, x, method="integrated_gradients", baseline=torch.zeros(5))
    with pytest.raises(ValueError, match="unknown quadrature rule"):
        xaikit.explain(model, x, method="integrated_gradients", quadrature="simpson")
    with pytest.raises(ValueError, match="steps must be an integer >= 2"):
        xaikit.explain(model, x, method="integrated_gradients", quadrature="trapezoid", steps=1)
    with pytest.raises(ValueError, match="tolerance must be a positive number"):
        xaikit.explain(model, x, method="integrated_gradients", tolerance=-1.0)
    with pytest.raises(ValueError, match="pass baselines=tensor of shape"):
        xaikit.explain(model, x, method="expected_gradients")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        xaikit.explain(model, x, method="saliency", batch_size=0)
    with pytest.raises(ValueError, match="NaN"):
        xaikit.explain(model, x, method="integrated_gradients", baseline=torch.full((4,), float("nan")))
    with pytest.raises(TypeError, match="unknown option"):
        xaikit.explain(model, x, method="saliency", steps=3)


def test_a_model_returning_a_dict_is_refused_with_a_fix() -> None:
    class Dict(nn.Module):
        def forward(self, x: Tensor) -> dict[str, Tensor]:
            return {"logits": x}

    with pytest.raises(TypeError, match="lambda x: model"):
        xaikit.explain(Dict().eval(), torch.randn(2, 3), method="saliency")


@pytest.mark.parametrize(
    ("method", "options"),
    [("integrated_gradients", {"steps": 6, "batch_size": 4}), ("noise_tunnel", {"samples": 4, "batch_size": 2}),
     ("deepshap", {"baselines": torch.zeros(3, 4), "batch_size": 2})],
)
def test_the_progress_bar_can_be_shown_or_hidden_without_changing_the_result(
    method: str, options: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    model, x = ReluMLP([4, 6, 2]).eval(), torch.randn(3, 4, generator=torch.Generator().manual_seed(9))
    shown = xaikit.explain(model, x, 0, method=method, progress=True, **options)
    assert capsys.readouterr().err  # tqdm wrote its bar
    hidden = xaikit.explain(model, x, 0, method=method, progress=False, **options)
    assert capsys.readouterr().err == ""
    assert torch.equal(shown.attribution, hidden.attribution)
