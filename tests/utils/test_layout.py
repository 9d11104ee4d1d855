"""Channels-last batches for perturbation methods: same values, safe fallback, opt-out."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import xaikit
from xaikit.models import SmallCNN
from xaikit.perturbation import Background
from xaikit.utils.layout import (
    LayoutForward,
    channels_last_disabled,
    set_channels_last,
    wants_channels_last,
)


class ViewNet(nn.Module):
    """A CNN that flattens with ``view``, which a channels-last activation rejects."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.relu(self.conv(x)).view(len(x), -1))


class LayoutSpy(nn.Module):
    """Records whether each batch it receives is channels-last."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.seen: list[bool] = []

    def forward(self, x: Tensor) -> Tensor:
        self.seen.append(x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())
        return self.inner(x)


def test_channels_last_gives_the_same_values() -> None:
    torch.manual_seed(0)
    model = LayoutSpy(SmallCNN(3, 10, input_size=16).eval())
    x = torch.rand(6, 3, 16, 16)
    run = LayoutForward(model)
    with torch.no_grad():
        fast, plain = run(x), model(x)
    assert model.seen == [True, False]
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-6)
    assert x.is_contiguous()  # the caller's batch is not touched


def test_a_model_that_rejects_channels_last_falls_back_for_good() -> None:
    torch.manual_seed(0)
    model = LayoutSpy(ViewNet().eval())
    x = torch.rand(4, 3, 6, 6)
    with pytest.raises(RuntimeError):  # the premise: view fails on a channels-last activation
        model.inner(x.contiguous(memory_format=torch.channels_last))
    model.seen.clear()
    run = LayoutForward(model)
    with torch.no_grad():
        first, second = run(x), run(x)
    assert model.seen == [True, False, False]
    torch.testing.assert_close(first, model.inner(x).detach())
    torch.testing.assert_close(second, first)


def test_a_model_failing_in_both_layouts_raises_its_contiguous_error() -> None:
    def broken(x: Tensor) -> Tensor:
        raise RuntimeError(f"contiguous={x.is_contiguous()}")

    with pytest.raises(RuntimeError, match="contiguous=True"):
        LayoutForward(broken)(torch.rand(2, 3, 4, 4))


def test_opt_out_and_which_batches_qualify() -> None:
    model = LayoutSpy(SmallCNN(3, 10, input_size=8).eval())
    with channels_last_disabled():
        LayoutForward(model)(torch.rand(2, 3, 8, 8))
    set_channels_last(False)
    try:
        LayoutForward(model)(torch.rand(2, 3, 8, 8))
    finally:
        set_channels_last(True)
    assert model.seen == [False, False]
    assert wants_channels_last(torch.rand(2, 3, 8, 8))
    assert not wants_channels_last(torch.rand(2, 1, 8, 8))  # one channel: nothing to gain
    assert not wants_channels_last(torch.rand(2, 3, 8))  # not an image batch
    assert not wants_channels_last(torch.rand(2, 3, 8, 8).to(torch.int64))


def test_occlusion_on_a_view_model_matches_the_contiguous_run() -> None:
    torch.manual_seed(0)
    model = ViewNet().eval()
    x = torch.rand(2, 3, 6, 6)
    fast = xaikit.explain(model, x, target=1, method="occlusion", patch=2, progress=False).attribution
    with channels_last_disabled():
        plain = xaikit.explain(model, x, target=1, method="occlusion", patch=2, progress=False).attribution
    torch.testing.assert_close(fast, plain)


def test_kernel_shap_on_images_agrees_across_layouts() -> None:
    torch.manual_seed(0)
    model = SmallCNN(3, 4, input_size=8).eval()
    x, background = torch.rand(2, 3, 8, 8), Background(torch.rand(3, 3, 8, 8))
    options = {"method": "kernel_shap", "samples": 64, "seed": 0, "baseline": background, "progress": False}
    fast = xaikit.explain(model, x, target=0, **options).attribution  # type: ignore[arg-type]
    with channels_last_disabled():
        plain = xaikit.explain(model, x, target=0, **options).attribution  # type: ignore[arg-type]
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-6)


def test_integrated_gradients_falls_back_on_a_view_model_and_agrees_across_layouts() -> None:
    torch.manual_seed(0)
    for model in (ViewNet().eval(), SmallCNN(3, 5, input_size=6).eval()):
        x = torch.rand(3, 3, 6, 6)
        options = {"method": "integrated_gradients", "steps": 8, "batch_size": 10}
        fast = xaikit.explain(model, x, target=1, **options)  # type: ignore[arg-type]
        with channels_last_disabled():
            plain = xaikit.explain(model, x, target=1, **options)  # type: ignore[arg-type]
        assert fast.attribution.is_contiguous()
        torch.testing.assert_close(fast.attribution, plain.attribution, rtol=1e-4, atol=1e-6)
