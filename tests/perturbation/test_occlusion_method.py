"""Occlusion: the linear known answer, the patch grid, and agreement with Captum."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import xaikit
from xaikit.perturbation import Background, Patches
from xaikit.perturbation.occlusion import PatchGrid


def _captum(model: nn.Module, x: torch.Tensor, **kwargs: object) -> torch.Tensor:
    from captum.attr import Occlusion

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Occlusion(model).attribute(x, **kwargs)


def _assert_relative(ours: torch.Tensor, ref: torch.Tensor, rtol: float = 1e-5) -> None:
    scale = ref.abs().max().item()
    assert (ours - ref).abs().max().item() <= rtol * scale + 1e-12


def test_linear_model_patch_one_baseline_zero_is_weight_times_input() -> None:
    torch.manual_seed(0)
    model = nn.Linear(6, 3).double().eval()
    x = torch.randn(4, 6, dtype=torch.float64)
    e = xaikit.explain(model, x, target=2, method="occlusion", patch=1, baseline=0.0, progress=False)
    torch.testing.assert_close(e.attribution, (model.weight[2] * x).detach(), rtol=1e-12, atol=1e-12)
    # the attribution sums to f(x) - f(0) for a linear model
    torch.testing.assert_close(e.relevance_sum, e.output, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("patch", "stride", "captum_window", "captum_stride"),
    [
        (3, 2, (2, 3, 3), (2, 2, 2)),
        ((4, 3), (2, 3), (2, 4, 3), (2, 2, 3)),
        ((1, 4, 4), (1, 2, 3), (1, 4, 4), (1, 2, 3)),
        (5, None, (2, 5, 5), (2, 5, 5)),
    ],
)
def test_images_match_captum(patch: object, stride: object, captum_window: tuple, captum_stride: tuple) -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 9 * 9, 5)).eval()
    x = torch.randn(3, 2, 9, 9)
    target = torch.tensor([0, 3, 4])
    e = xaikit.explain(
        model, x, target=target, method="occlusion", patch=patch, stride=stride, baseline=0.3, batch_size=7, progress=False
    )
    ref = _captum(model, x, sliding_window_shapes=captum_window, strides=captum_stride, target=target, baselines=0.3)
    _assert_relative(e.attribution, ref)
    assert e.attribution.dtype == x.dtype and e.attribution.shape == x.shape


def test_time_series_and_tabular_match_captum() -> None:
    torch.manual_seed(2)
    series_model = xaikit.models.CNN1d(in_channels=3, num_classes=4, length=32).eval()
    x = torch.randn(2, 3, 32)
    target = 1
    e = xaikit.explain(series_model, x, target=target, method="occlusion", patch=5, stride=2, progress=False)
    ref = _captum(series_model, x, sliding_window_shapes=(3, 5), strides=(3, 2), target=target)
    _assert_relative(e.attribution, ref)

    tabular = xaikit.models.MLP(7, (8,), 2).eval()
    xt = torch.randn(3, 7)
    baseline = torch.randn(7)
    e = xaikit.explain(tabular, xt, target=0, method="occlusion", patch=2, stride=1, baseline=baseline, progress=False)
    ref = _captum(tabular, xt, sliding_window_shapes=(2,), strides=1, target=0, baselines=baseline[None])
    _assert_relative(e.attribution, ref)


def test_groups_match_captum_feature_ablation() -> None:
    from captum.attr import FeatureAblation

    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 6 * 6, 3), nn.Tanh()).eval()
    x = torch.randn(2, 2, 6, 6)
    mask = Patches((2, 3))(x)
    e = xaikit.explain(model, x, target=2, method="occlusion", groups=mask, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = FeatureAblation(model).attribute(x, target=2, feature_mask=mask[None, None].expand(1, 2, 6, 6))
    _assert_relative(e.attribution, ref)


@settings(max_examples=20, deadline=None)
@given(
    length=st.integers(1, 12), window=st.integers(1, 12), stride=st.integers(1, 12), channels=st.integers(1, 3)
)
def test_patch_grid_coverage_counts_windows(length: int, window: int, stride: int, channels: int) -> None:
    if window > length or (stride > window and window < length):
        with pytest.raises(ValueError):
            PatchGrid.build((channels, length), window, stride)
        return
    grid = PatchGrid.build((channels, length), window, stride)
    inside = grid.inside(torch.arange(grid.size))
    coverage = grid.coverage(torch.device("cpu"))
    torch.testing.assert_close(inside.double().sum(0), coverage)
    assert (coverage >= 1).all()  # every element is occluded at least once
    starts = [k * stride for k in range(grid.size)]
    assert starts[-1] < length and starts[-1] + window >= length


def test_batch_size_and_background_mean_mode() -> None:
    torch.manual_seed(4)
    model = xaikit.models.MLP(5, (8,), 2).double().eval()
    x = torch.randn(3, 5, dtype=torch.float64)
    background = torch.randn(6, 5, dtype=torch.float64)
    a = xaikit.explain(model, x, target=1, method="occlusion", patch=2, stride=1, batch_size=1, progress=False,
                       baseline=Background(background, mode="mean"))
    b = xaikit.explain(model, x, target=1, method="occlusion", patch=2, stride=1, progress=False,
                       baseline=background.mean(0))
    torch.testing.assert_close(a.attribution, b.attribution, rtol=1e-12, atol=1e-12)
    # expectation mode: each drop averaged over the background rows
    c = xaikit.explain(model, x, target=1, method="occlusion", progress=False, baseline=Background(background))
    expected = torch.zeros_like(x)
    with torch.no_grad():
        fx = model(x)[:, 1]
        for i in range(5):
            rows = x[:, None].repeat(1, 6, 1)
            rows[:, :, i] = background[:, i]
            expected[:, i] = fx - model(rows.reshape(-1, 5))[:, 1].view(3, 6).mean(1)
    torch.testing.assert_close(c.attribution, expected, rtol=1e-10, atol=1e-12)


def test_errors_name_the_problem() -> None:
    model = nn.Linear(4, 1).eval()
    with pytest.raises(ValueError, match="stride"):
        xaikit.explain(model, torch.randn(1, 4), target=0, method="occlusion", patch=1, stride=2)
    with pytest.raises(ValueError, match="smaller patch"):
        xaikit.explain(model, torch.randn(1, 4), target=0, method="occlusion", patch=5)
    with pytest.raises(ValueError, match="not both"):
        xaikit.explain(model, torch.randn(1, 4), target=0, method="occlusion", patch=2, groups=torch.arange(4))
    with pytest.raises(ValueError, match="Background"):
        xaikit.explain(model, torch.randn(2, 4), target=0, method="occlusion", baseline=torch.zeros(5, 4))
