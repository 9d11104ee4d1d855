"""Grad-CAM, Grad-CAM++ and guided Grad-CAM: explicit formulas, the CAM special case, shapes, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from gradients_testkit import TinyCNN, assert_close
from torch import Tensor, nn

import xaikit


class GapNet(nn.Module):
    """``conv -> ReLU -> global average pool -> linear``: the architecture of the original CAM."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 5, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(5, 3)
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.5 * torch.randn(p.shape, generator=generator))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.relu(self.conv(x)).mean((2, 3)))


def images(seed: int, shape: tuple[int, ...] = (3, 2, 8, 8)) -> Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_grad_cam_of_a_global_average_pooling_net_is_the_class_activation_map() -> None:
    """Selvaraju et al.: on conv -> GAP -> linear, Grad-CAM is CAM (Zhou et al.) divided by the map size."""
    model, x = GapNet().eval(), images(1)
    e = xaikit.explain(model, x, 2, method="grad_cam", layer="relu", relu=False)
    features = model.relu(model.conv(x)).detach()
    cam = torch.einsum("k,nkhw->nhw", model.fc.weight[2].detach(), features) / 64
    assert_close(e.extras["cam"], cam, rel=1e-6)
    assert_close(e.attribution, cam[:, None].expand(-1, 2, -1, -1), rel=1e-6)  # same size: no resampling


def test_grad_cam_against_a_hand_split_forward_pass() -> None:
    model, x = TinyCNN().eval(), images(2)
    e = xaikit.explain(model, x, 1, method="grad_cam", layer="conv2")
    a = model.conv2(model.relu1(model.conv1(x))).detach().requires_grad_(True)
    score = model.fc(model.pool(model.relu2(a)).flatten(1))[:, 1]
    (g,) = torch.autograd.grad(score.sum(), a)
    cam = (g.mean((2, 3), keepdim=True) * a.detach()).sum(1).clamp(min=0)
    assert_close(e.extras["cam"], cam, rel=1e-6)
    assert_close(e.output, score.detach(), rel=1e-6)


def test_grad_cam_plus_plus_against_its_closed_form() -> None:
    model, x = GapNet().eval(), images(3)
    e = xaikit.explain(model, x, 0, method="grad_cam_plus_plus", layer="relu")
    a = model.relu(model.conv(x)).detach()
    g = (model.fc.weight[0].detach() / 64)[None, :, None, None].expand_as(a)  # constant per channel
    alpha = g**2 / (2 * g**2 + a.sum((2, 3), keepdim=True) * g**3)
    weights = (alpha * g.clamp(min=0)).sum((2, 3), keepdim=True)
    assert_close(e.extras["cam"], (weights * a).sum(1).clamp(min=0), rel=1e-5)


def test_guided_grad_cam_is_guided_backprop_times_the_upsampled_map() -> None:
    model, x = TinyCNN().eval(), images(4)
    guided = xaikit.explain(model, x, 0, method="guided_backprop")
    cam = xaikit.explain(model, x, 0, method="grad_cam", layer="pool")
    both = xaikit.explain(model, x, 0, method="guided_grad_cam", layer="pool")
    assert_close(both.attribution, guided.attribution * cam.attribution, rel=1e-6)


def test_time_series_maps_are_linearly_interpolated_and_broadcast_over_channels() -> None:
    model = xaikit.models.CNN1d(in_channels=3, num_classes=2, length=16).eval()
    x = images(5, (2, 3, 16))
    e = xaikit.explain(model, x, 1, method="grad_cam", layer="features.4")
    assert e.extras["cam"].shape == (2, 8)
    expected = F.interpolate(e.extras["cam"][:, None], size=16, mode="linear", align_corners=False)
    assert_close(e.attribution, expected.expand(-1, 3, -1), rel=1e-6)


def test_default_layer_is_the_last_convolution() -> None:
    e = xaikit.explain(TinyCNN().eval(), images(6), 0, method="grad_cam")
    assert e.extras["layer"] == "conv2"
    vgg = xaikit.models.vgg16(num_classes=3, input_size=32, width=1 / 32).eval()
    assert xaikit.explain(vgg, images(7, (1, 3, 32, 32)), 0, method="grad_cam").extras["layer"] == "features.28"


def test_layer_errors_name_the_problem() -> None:
    model, x = TinyCNN().eval(), images(7)
    with pytest.raises(ValueError, match=r"no module named 'conv9'.*'conv2'"):
        xaikit.explain(model, x, method="grad_cam", layer="conv9")
    with pytest.raises(ValueError, match="Choose a convolutional layer"):
        xaikit.explain(model, x, method="grad_cam", layer="fc")

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)

        def forward(self, x: Tensor) -> Tensor:
            return self.conv(self.conv(x)).mean((1, 2, 3))[:, None]

    with pytest.raises(ValueError, match="ran 2 times"):
        xaikit.explain(Twice().eval(), x, 0, method="grad_cam", layer="conv")
    with pytest.raises(ValueError, match="spatial dimensions"):
        xaikit.explain(nn.Linear(4, 2).eval(), torch.randn(2, 4), method="grad_cam")
    with pytest.raises(ValueError, match="unknown interpolation"):
        xaikit.explain(model, x, method="grad_cam", interpolation="cubic-spline")
