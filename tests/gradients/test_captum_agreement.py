"""Agreement with Captum 0.9 on the same models and inputs (1e-5 of the attribution scale).

The models use ``nn.ReLU`` modules, which Captum's hook-based methods need. Where Captum
goes wrong (functional activations, ReLU next to max-pooling in DeepLIFT, its trapezoid
weights), the tests document the difference instead.
"""

from __future__ import annotations

import captum.attr as captum_attr  # a dev requirement: missing, the suite fails instead of skipping
import pytest
import torch
from gradients_testkit import ReluMLP, TinyCNN, assert_close
from torch import Tensor, nn

import xaikit

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TARGET = torch.tensor([0, 2, 1, 2])


class ConvPool(nn.Module):
    """``conv -> ReLU -> conv -> max-pool -> flatten -> linear`` (no ReLU module next to the pool)."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(11)
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 3)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.4 * torch.randn(p.shape, generator=generator))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.conv2(self.relu(self.conv1(x)))).flatten(1))


def images(seed: int = 0) -> Tensor:
    return torch.randn(4, 2, 8, 8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("absolute", [False, True])
def test_saliency(absolute: bool) -> None:
    model, x = TinyCNN().eval(), images()
    ours = xaikit.explain(model, x, TARGET, method="saliency", absolute=absolute)
    theirs = captum_attr.Saliency(model).attribute(x, target=TARGET, abs=absolute)
    assert_close(ours.attribution, theirs)


def test_input_x_gradient() -> None:
    model, x = TinyCNN().eval(), images(1)
    ours = xaikit.explain(model, x, TARGET, method="gradient_x_input")
    theirs = captum_attr.InputXGradient(model).attribute(x, target=TARGET)
    assert_close(ours.attribution, theirs)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [("riemann_left", "riemann_left"), ("riemann_right", "riemann_right"),
     ("riemann_middle", "riemann_middle"), ("gauss_legendre", "gausslegendre")],
)
def test_integrated_gradients_same_steps_and_method(ours: str, theirs: str) -> None:
    model, x = TinyCNN().eval(), images(2)
    baseline = 0.3 * images(3)
    mine = xaikit.explain(model, x, TARGET, method="integrated_gradients", baseline=baseline, steps=12, quadrature=ours)
    captum, delta = captum_attr.IntegratedGradients(model).attribute(
        x, baselines=baseline, target=TARGET, n_steps=12, method=theirs, return_convergence_delta=True
    )
    assert_close(mine.attribution, captum)
    assert_close(mine.delta, -delta, rel=1e-4)  # Captum's delta is sum - (f(x) - f(b))


def test_captum_trapezoid_weights_sum_to_n_minus_1_over_n() -> None:
    """Captum's trapezoid uses weights 1/n (not 1/(n-1)): its integral is short by (n-1)/n."""
    model, x, n = TinyCNN().eval(), images(4), 10
    mine = xaikit.explain(model, x, TARGET, method="integrated_gradients", steps=n, quadrature="trapezoid")
    captum = captum_attr.IntegratedGradients(model).attribute(x, target=TARGET, n_steps=n, method="riemann_trapezoid")
    assert_close(mine.attribution * (n - 1) / n, captum)


@pytest.mark.parametrize("model", [ReluMLP([6, 12, 8, 3], seed=1), TinyCNN(pool="avg"), ConvPool()], ids=["mlp", "cnn-avgpool", "cnn-maxpool"])
def test_deeplift_rescale(model: nn.Module) -> None:
    model = model.eval()
    shape = (4, 6) if isinstance(model, ReluMLP) else (4, 2, 8, 8)
    generator = torch.Generator().manual_seed(5)
    x, baseline = torch.randn(shape, generator=generator), 0.5 * torch.randn(shape, generator=generator)
    mine = xaikit.explain(model, x, TARGET, method="deeplift", baseline=baseline)
    captum = captum_attr.DeepLift(model).attribute(x, baselines=baseline, target=TARGET)
    assert_close(mine.attribution, captum)
    assert float(mine.delta.abs().max()) < 1e-5 * float(mine.output.abs().max())


def test_captum_deeplift_loses_completeness_when_relu_meets_max_pooling() -> None:
    """conv -> ReLU -> max-pool: Captum's hooks break summation-to-delta, the engine keeps it."""
    model, x = TinyCNN(pool="max").eval(), images(6)
    baseline = 0.5 * images(7)
    mine = xaikit.explain(model, x, TARGET, method="deeplift", baseline=baseline)
    _, captum_delta = captum_attr.DeepLift(model).attribute(
        x, baselines=baseline, target=TARGET, return_convergence_delta=True
    )
    scale = float(mine.output.abs().max())
    assert float(mine.delta.abs().max()) < 1e-5 * scale
    assert float(captum_delta.abs().max()) > 1e-3 * scale


def test_deepshap_matches_deeplift_shap() -> None:
    model = ReluMLP([6, 12, 3], seed=2).eval()
    generator = torch.Generator().manual_seed(8)
    x, background = torch.randn(4, 6, generator=generator), torch.randn(5, 6, generator=generator)
    mine = xaikit.explain(model, x, TARGET, method="deepshap", baselines=background, batch_size=7)
    captum = captum_attr.DeepLiftShap(model).attribute(x, baselines=background, target=TARGET)
    assert_close(mine.attribution, captum)


@pytest.mark.parametrize(("name", "peer"), [("guided_backprop", "GuidedBackprop"), ("deconvnet", "Deconvolution")])
def test_modified_backprop_with_relu_modules(name: str, peer: str) -> None:
    model, x = TinyCNN().eval(), images(9)
    mine = xaikit.explain(model, x, TARGET, method=name)
    captum = getattr(captum_attr, peer)(model).attribute(x, target=TARGET)
    assert_close(mine.attribution, captum)


@pytest.mark.parametrize(("name", "peer"), [("guided_backprop", "GuidedBackprop"), ("deconvnet", "Deconvolution")])
def test_functional_relu_keeps_the_method_while_captum_falls_back_to_the_gradient(name: str, peer: str) -> None:
    x = images(10)
    modules, functional = TinyCNN().eval(), TinyCNN(functional=True).eval()
    mine_modules = xaikit.explain(modules, x, TARGET, method=name)
    mine_functional = xaikit.explain(functional, x, TARGET, method=name)
    assert_close(mine_functional.attribution, mine_modules.attribution, rel=1e-6)
    captum_functional = getattr(captum_attr, peer)(functional).attribute(x, target=TARGET)
    gradient = captum_attr.Saliency(functional).attribute(x, target=TARGET, abs=False)
    assert_close(captum_functional, gradient, rel=1e-6)  # Captum's hooks never fire on F.relu
    assert float((captum_functional - mine_modules.attribution).abs().max()) > 1e-2 * float(
        mine_modules.attribution.abs().max()
    )


def test_layer_grad_cam() -> None:
    model, x = TinyCNN().eval(), images(12)
    mine = xaikit.explain(model, x, TARGET, method="grad_cam", layer="conv2")
    captum = captum_attr.LayerGradCam(model, model.conv2).attribute(x, target=TARGET, relu_attributions=True)
    assert_close(mine.extras["cam"], captum[:, 0])
    upsampled = captum_attr.LayerAttribution.interpolate(captum, (8, 8), "bilinear")
    assert_close(mine.attribution, upsampled.expand(-1, 2, -1, -1))


def test_guided_grad_cam() -> None:
    model, x = TinyCNN().eval(), images(13)
    mine = xaikit.explain(model, x, TARGET, method="guided_grad_cam", layer="pool")
    captum = captum_attr.GuidedGradCam(model, model.pool).attribute(x, target=TARGET, interpolate_mode="bilinear")
    assert_close(mine.attribution, captum)
