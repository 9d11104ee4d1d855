"""Models and explanation callables shared by the xaikit.evaluate tests."""

from __future__ import annotations

import torch
from torch import nn

import xaikit


def gradient(model: nn.Module, inputs: torch.Tensor, target: xaikit.ClassTarget) -> torch.Tensor:
    """The gradient of the target logits with respect to the inputs (an explanation callable)."""
    x = inputs.detach().requires_grad_(True)
    model(x).gather(1, torch.as_tensor(target.index)[:, None]).sum().backward()
    assert x.grad is not None
    return x.grad


def gradient_x_input(model: nn.Module, inputs: torch.Tensor, target: xaikit.ClassTarget) -> torch.Tensor:
    """Gradient times input (an explanation callable)."""
    return gradient(model, inputs, target) * inputs


def seeded_digits_cnn(seed: int = 0) -> nn.Module:
    """An untrained :class:`xaikit.models.DigitsCNN` in eval mode, initialized under ``seed``."""
    torch.manual_seed(seed)
    return xaikit.models.DigitsCNN().eval()
