"""DeepLIFT (Rescale, RevealCancel), DeepSHAP and RAP: completeness, equivalences, explicit formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gradients_testkit import ReluMLP, TinyCNN, assert_close
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import xaikit
from xaikit.core.targets import logodds


@given(seed=st.integers(0, 10_000), rule=st.sampled_from(["rescale", "reveal_cancel"]), pool=st.sampled_from(["max", "avg"]))
@settings(max_examples=12, deadline=None)
def test_deeplift_sums_to_the_output_difference(seed: int, rule: str, pool: str) -> None:
    generator = torch.Generator().manual_seed(seed)
    model = TinyCNN(pool=pool, seed=seed).eval()
    x, baseline = torch.randn(3, 2, 8, 8, generator=generator), torch.randn(3, 2, 8, 8, generator=generator)
    e = xaikit.explain(model, x, 1, method="deeplift", baseline=baseline, multipliers=rule)
    f = model(torch.cat([x, baseline]))[:, 1].detach()
    assert_close(e.output, f[:3] - f[3:], rel=1e-6)
    assert float(e.delta.abs().max()) <= 1e-5 * float(e.attribution.abs().sum((1, 2, 3)).max())
    if rule == "reveal_cancel":
        assert e.extras["rescale_fallbacks"] == 0  # every ReLU follows a convolution


@given(seed=st.integers(0, 10_000))
@settings(max_examples=8, deadline=None)
def test_deeplift_rescale_from_zero_equals_lrp_epsilon_and_gradient_x_input_without_biases(seed: int) -> None:
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    for model, inputs in [
        (TinyCNN(bias=False, seed=seed).eval().double(), x),
        (ReluMLP([6, 10, 8, 3], bias=False, seed=seed).eval().double(), x[:, 0, 0, :6]),
    ]:
        deeplift = xaikit.explain(model, inputs, 2, method="deeplift")
        lrp = xaikit.explain(model, inputs, 2, method="lrp", composite="epsilon", composite_options={"epsilon": 1e-12})
        gxi = xaikit.explain(model, inputs, 2, method="gradient_x_input")
        assert_close(deeplift.attribution, gxi.attribution, rel=1e-9)
        # the stabilizer (1e-12 of the mean |z| per layer) only matters for outputs as tiny as itself
        assert_close(deeplift.attribution, lrp.attribution, rel=1e-7)


def reveal_cancel_reference(model: ReluMLP, x: np.ndarray, b: np.ndarray, target: int) -> np.ndarray:
    """RevealCancel for ``Linear -> ReLU -> Linear`` written out (Shrikumar et al., 2017, section 3.5.3)."""
    w1, b1 = model.layers[0].weight.detach().double().numpy(), model.layers[0].bias.detach().double().numpy()
    w2 = model.layers[1].weight.detach().double().numpy()
    relu = lambda t: np.maximum(t, 0.0)  # noqa: E731
    out = np.zeros_like(x)
    for n in range(len(x)):
        c = w1 * (x[n] - b[n])[None, :]  # contributions c_kj
        up, down = np.where(c > 0, c, 0).sum(1), np.where(c < 0, c, 0).sum(1)
        z0, z = w1 @ b[n] + b1, w1 @ x[n] + b1
        dy_up = 0.5 * (relu(z0 + up) - relu(z0)) + 0.5 * (relu(z) - relu(z0 + down))
        dy_down = 0.5 * (relu(z0 + down) - relu(z0)) + 0.5 * (relu(z) - relu(z0 + up))
        m_up = np.where(up != 0, dy_up / np.where(up != 0, up, 1), 1.0 * (z > 0))
        m_down = np.where(down != 0, dy_down / np.where(down != 0, down, 1), 1.0 * (z > 0))
        multiplier = np.where(c > 0, m_up[:, None], m_down[:, None])
        out[n] = (w2[target][:, None] * c * multiplier).sum(0)
    return out


def test_reveal_cancel_against_the_explicit_formula() -> None:
    model = ReluMLP([5, 7, 3], seed=9).eval().double()
    generator = torch.Generator().manual_seed(10)
    x = torch.randn(6, 5, generator=generator, dtype=torch.float64)
    b = torch.randn(6, 5, generator=generator, dtype=torch.float64)
    e = xaikit.explain(model, x, 2, method="deeplift", baseline=b, multipliers="reveal_cancel")
    expected = reveal_cancel_reference(model, x.numpy(), b.numpy(), 2)
    assert_close(e.attribution, torch.from_numpy(expected), rel=1e-12)
    rescale = xaikit.explain(model, x, 2, method="deeplift", baseline=b)
    assert not torch.allclose(e.attribution, rescale.attribution)


def test_reveal_cancel_falls_back_to_rescale_after_a_residual_sum() -> None:
    model = xaikit.models.resnet_small(num_classes=3, in_channels=2, width=0.125).eval()
    x = torch.randn(2, 2, 16, 16, generator=torch.Generator().manual_seed(11))
    e = xaikit.explain(model, x, 0, method="deeplift", multipliers="reveal_cancel")
    assert e.extras["rescale_fallbacks"] > 0
    assert float(e.delta.abs().max()) <= 1e-4 * float(e.attribution.abs().sum((1, 2, 3)).max())


def test_deeplift_log_odds_target_stays_complete() -> None:
    model = ReluMLP([4, 8, 3], seed=12).eval().double()
    generator = torch.Generator().manual_seed(13)
    x, b = torch.randn(5, 4, generator=generator, dtype=torch.float64), torch.randn(4, generator=generator, dtype=torch.float64)
    e = xaikit.explain(model, x, xaikit.LogOdds(1), method="deeplift", baseline=b)
    index = torch.ones(5, dtype=torch.long)
    expected = logodds(model(x), index) - logodds(model(b.expand(5, 4)), index)
    assert_close(e.output, expected.detach(), rel=1e-12)
    assert float(e.delta.abs().max()) < 1e-8 * float(e.output.abs().max())


def test_deepshap_is_the_mean_of_deeplift_over_the_background() -> None:
    model = TinyCNN(seed=14).eval()
    generator = torch.Generator().manual_seed(15)
    x, background = torch.randn(3, 2, 8, 8, generator=generator), torch.randn(4, 2, 8, 8, generator=generator)
    shap = xaikit.explain(model, x, 1, method="deepshap", baselines=background, batch_size=5)
    each = [xaikit.explain(model, x, 1, method="deeplift", baseline=b).attribution for b in background]
    assert_close(shap.attribution, torch.stack(each).mean(0), rel=1e-6)
    f_background = model(background)[:, 1].mean().detach()
    assert_close(shap.output, model(x)[:, 1].detach() - f_background, rel=1e-6)
    assert float(shap.delta.abs().max()) <= 1e-5 * float(shap.attribution.abs().sum((1, 2, 3)).max())


def rap_reference(model: ReluMLP, x: np.ndarray, target: int) -> np.ndarray:
    """RAP on ``Linear -> ReLU -> Linear -> ReLU -> Linear`` written out in NumPy."""
    ws = [layer.weight.detach().double().numpy() for layer in model.layers]
    bs = [layer.bias.detach().double().numpy() for layer in model.layers]
    result = np.zeros_like(x)
    for n in range(len(x)):
        acts = [x[n]]
        for w, b in zip(ws[:-1], bs[:-1]):
            acts.append(np.maximum(w @ acts[-1] + b, 0.0))
        f = ws[-1][target] @ acts[-1] + bs[-1][target]
        influence = np.abs(ws[-1][target] * acts[-1])  # step 1
        relevance = influence * f / influence.sum()
        for w, a in zip(reversed(ws[:-1]), reversed(acts[:-1])):
            z = w * a[None, :]  # z_ij for output i, input j
            p, neg = np.where(z > 0, z, 0).sum(1), np.where(z < 0, z, 0).sum(1)
            share = relevance[:, None] * (np.where(z > 0, z, 0) / np.where(p > 0, p, 1)[:, None]
                                          + np.abs(np.where(z < 0, z, 0)) / (p - neg)[:, None])
            spread = share.sum(0)
            receiving = spread != 0
            spread[receiving] -= (spread.sum() - relevance.sum()) / receiving.sum()  # step 3
            relevance = spread
        result[n] = relevance
    return result


def test_rap_against_the_explicit_three_steps() -> None:
    model = ReluMLP([5, 8, 6, 3], seed=16).eval().double()
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(17), dtype=torch.float64)
    e = xaikit.explain(model, x, 0, method="rap")
    assert_close(e.attribution, torch.from_numpy(rap_reference(model, x.numpy(), 0)), rel=1e-10)


def test_rap_on_a_single_linear_layer_is_the_absolute_influence() -> None:
    model = nn.Linear(4, 2).double().eval()
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(18), dtype=torch.float64)
    e = xaikit.explain(model, x, 1, method="rap")
    influence = (x * model.weight[1]).abs().detach()
    assert_close(e.attribution, influence * (e.output / influence.sum(1))[:, None], rel=1e-12)


@given(seed=st.integers(0, 10_000))
@settings(max_examples=8, deadline=None)
def test_rap_conserves_the_output(seed: int) -> None:
    model = TinyCNN(seed=seed, bias=False).eval()
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(seed))
    e = xaikit.explain(model, x, 2, method="rap")
    assert float(e.delta.abs().max()) <= 1e-5 * float(e.attribution.abs().sum((1, 2, 3)).max()) + 1e-7


def test_rap_refuses_what_it_cannot_start_from() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU()).eval()
    with pytest.raises(ValueError, match="does not come straight from a dense"):
        xaikit.explain(model, torch.randn(2, 4), method="rap")
    with pytest.raises(ValueError, match="not log-odds"):
        xaikit.explain(nn.Linear(4, 3).eval(), torch.randn(2, 4), xaikit.LogOdds(0), method="rap")


def test_deeplift_rejects_unknown_rules() -> None:
    with pytest.raises(ValueError, match="choose one of rescale, reveal_cancel"):
        xaikit.explain(nn.Linear(4, 3).eval(), torch.randn(2, 4), method="deeplift", multipliers="linear")


def test_deeplift_through_batch_normalization() -> None:
    """Eval-mode batch norm is affine: Rescale stays complete; RevealCancel sees conv + BN as one layer."""
    model = xaikit.models.vgg16(num_classes=4, input_size=32, width=1 / 32, batch_norm=True)
    generator = torch.Generator().manual_seed(19)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=generator))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator) + 0.5)
    model = model.eval()
    x = torch.randn(2, 3, 32, 32, generator=generator)
    for rule in ("rescale", "reveal_cancel"):
        e = xaikit.explain(model, x, 1, method="deeplift", baseline=0.1, multipliers=rule)
        assert float(e.delta.abs().max()) <= 1e-5 * float(e.attribution.abs().sum((1, 2, 3)).max())
    assert e.extras["rescale_fallbacks"] == 0


def test_deeplift_refuses_a_model_that_moves_the_batch_dimension() -> None:
    class TimeFirst(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.step = nn.Linear(3, 5)
            self.head = nn.Linear(4 * 5, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (N, T=4, C=3)
            h = torch.relu(self.step(x.transpose(0, 1)))  # (T, N, 5): the batch is not first
            return self.head(h.transpose(0, 1).flatten(1))

    with pytest.raises(ValueError, match="keep the batch dimension first"):
        xaikit.explain(TimeFirst().eval(), torch.randn(3, 4, 3), 0, method="deeplift")
