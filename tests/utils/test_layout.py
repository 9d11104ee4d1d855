"""Channels-last batches for perturbation methods and metrics: same values, safe fallback, opt-out;
never for gradients (max-pool ties)."""

from __future__ import annotations

import warnings

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


class MirrorCNN(nn.Module):
    """``conv -> ReLU -> conv -> ReLU -> max-pool -> linear`` with left-right symmetric kernels.

    On a mirror-symmetric image the two middle columns of every feature map are equal in
    exact arithmetic, and they share a 2x2 max-pool window: each window of the middle
    columns is a tie that the convolutions' round-off breaks. The second convolution
    (32 input channels) sums in another order on a channels-last batch, so the round-off,
    the max-pool's choice and the input gradient differ between the layouts.
    """

    def __init__(self, channels: int = 32, size: int = 6) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.conv1 = nn.Conv2d(3, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(channels * (size // 2) ** 2, 3)
        with torch.no_grad():
            for conv in (self.conv1, self.conv2):
                w = torch.randn(conv.weight.shape, generator=generator) / conv.weight[0].numel() ** 0.5
                conv.weight.copy_(w + w.flip(-1))
                conv.bias.copy_(0.1 * torch.rand(conv.bias.shape, generator=generator))
            self.fc.weight.copy_(0.3 * torch.randn(self.fc.weight.shape, generator=generator))
            self.fc.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(torch.relu(self.conv2(torch.relu(self.conv1(x))))).flatten(1))


def mirrored_images(n: int = 4, size: int = 6) -> Tensor:
    half = torch.rand(n, 3, size, size // 2, generator=torch.Generator().manual_seed(1))
    return torch.cat([half, half.flip(-1)], dim=-1)


def test_the_tie_premise_gradients_differ_between_layouts() -> None:
    """Why gradients never go channels-last: the max-pool routes them by the layout's round-off.

    Skipped where this machine's convolutions happen to round alike in both layouts.
    """
    torch.manual_seed(0)
    model, x = MirrorCNN().eval(), mirrored_images()
    grads = []
    for memory_format in (torch.contiguous_format, torch.channels_last):
        leaf = x.contiguous(memory_format=memory_format).requires_grad_(True)
        (grad,) = torch.autograd.grad(model(leaf)[:, 0].sum(), leaf)
        grads.append(grad)
        with torch.no_grad():  # forward values agree to round-off in any case
            torch.testing.assert_close(model(leaf), model(x), rtol=1e-4, atol=1e-5)
    gap = float((grads[0] - grads[1]).abs().max() / grads[0].abs().max())
    if gap < 1e-4:
        pytest.skip(f"the layouts round alike here (relative gradient gap {gap:.1e})")
    assert gap > 1e-2


@pytest.mark.parametrize("rule", ["riemann_left", "riemann_right", "trapezoid", "gauss_legendre"])
def test_integrated_gradients_at_max_pool_ties_does_not_depend_on_the_layout(rule: str) -> None:
    torch.manual_seed(0)
    model, x = MirrorCNN().eval(), mirrored_images()
    options = {"method": "integrated_gradients", "steps": 16, "quadrature": rule, "batch_size": None}
    with_layout = xaikit.explain(model, x, target=0, **options).attribution  # type: ignore[arg-type]
    with channels_last_disabled():
        plain = xaikit.explain(model, x, target=0, **options).attribution  # type: ignore[arg-type]
    scale = float(plain.abs().max())
    assert float((with_layout - plain).abs().max()) <= 1e-6 * scale
    if rule == "trapezoid":
        return  # Captum's float32 linspace nodes differ from ours in the last bit, which moves ties
    import captum.attr as captum_attr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = captum_attr.IntegratedGradients(model).attribute(
            x, target=0, n_steps=16, method=rule.replace("gauss_legendre", "gausslegendre")
        )
    assert float((with_layout - theirs).abs().max()) <= 1e-5 * scale


def test_integrated_gradients_on_a_view_model() -> None:
    torch.manual_seed(0)
    model = ViewNet().eval()
    x = torch.rand(3, 3, 6, 6)
    options = {"method": "integrated_gradients", "steps": 8, "batch_size": 10}
    fast = xaikit.explain(model, x, target=1, **options)  # type: ignore[arg-type]
    with channels_last_disabled():
        plain = xaikit.explain(model, x, target=1, **options)  # type: ignore[arg-type]
    assert fast.attribution.is_contiguous()
    torch.testing.assert_close(fast.attribution, plain.attribution, rtol=0, atol=0)


def test_passes_that_record_a_graph_get_the_batch_as_given() -> None:
    model = LayoutSpy(SmallCNN(3, 10, input_size=8).eval())
    run = LayoutForward(model)
    x = torch.rand(2, 3, 8, 8)
    run(x)  # grad mode on: the output could be differentiated
    with torch.no_grad():
        run(x)
    assert model.seen == [False, True]
    assert run.enabled
