"""Grad-CAM as users call it: the layer by name or module, the default read after a functional
activation (as after an nn.ReLU module), and a warning for a map that is zero everywhere."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import xaikit


class Functional(nn.Module):
    def __init__(self, sign: float = 1.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)
        self.sign = sign

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.conv(x))
        return self.head(a.mean((2, 3))) * self.sign


class Modules(nn.Module):
    def __init__(self, twin: Functional) -> None:
        super().__init__()
        self.conv, self.relu, self.head = twin.conv, nn.ReLU(), twin.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.relu(self.conv(x)).mean((2, 3)))


@pytest.fixture
def models() -> tuple[Functional, Modules, torch.Tensor]:
    torch.manual_seed(3)
    functional = Functional().eval()
    return functional, Modules(functional).eval(), torch.randn(5, 2, 6, 6)


def by_hand(model: Functional, x: torch.Tensor, target: int) -> torch.Tensor:
    a = F.relu(model.conv(x)).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(model.head(a.mean((2, 3)))[:, target].sum(), a)
    return (g.mean((2, 3), keepdim=True) * a).sum(1).clamp(min=0).detach()


def test_default_layer_is_read_after_a_functional_activation(models) -> None:  # type: ignore[no-untyped-def]
    functional, modules, x = models
    e = xaikit.explain(functional, x, 1, method="grad_cam")
    torch.testing.assert_close(e.extras["cam"], by_hand(functional, x, 1), rtol=1e-5, atol=1e-6)
    same = xaikit.explain(modules, x, 1, method="grad_cam", layer="relu")
    torch.testing.assert_close(e.extras["cam"], same.extras["cam"], rtol=1e-6, atol=1e-7)


def test_the_layer_as_a_module_or_its_name(models) -> None:  # type: ignore[no-untyped-def]
    _, modules, x = models
    by_module = xaikit.explain(modules, x, 0, method="grad_cam", layer=modules.conv, relu=False)
    by_name = xaikit.explain(modules, x, 0, method="grad_cam", layer="conv", relu=False)
    assert by_module.extras["layer"] == "conv"
    assert torch.equal(by_module.attribution, by_name.attribution)
    with pytest.raises(ValueError, match="not a module of the model"):
        xaikit.explain(modules, x, 0, method="grad_cam", layer=nn.Conv2d(2, 4, 3))
    with pytest.raises(TypeError, match="module name, a module"):
        xaikit.make_method("grad_cam", layer=3)


def test_a_map_zero_everywhere_warns_and_says_why() -> None:
    torch.manual_seed(0)
    model = Functional().eval()
    with torch.no_grad():
        model.head.weight.copy_(-model.head.weight.abs())  # every feature map counts against class 0
    x = torch.randn(4, 2, 6, 6)
    with pytest.warns(UserWarning, match=r"zero everywhere.*nowhere positive.*relu=False"):
        e = xaikit.explain(model, x, 0, method="grad_cam")
    assert not e.attribution.any()
