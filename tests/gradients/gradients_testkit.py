"""Tiny models and comparison helpers shared by the tests of xaikit.gradients."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ReluMLP(nn.Module):
    """``Linear -> ReLU -> ... -> Linear`` with module or functional ReLUs (same weights for a seed)."""

    def __init__(self, sizes: Sequence[int], *, bias: bool = True, functional: bool = False, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in itertools.pairwise(sizes))
        with torch.no_grad():
            for layer in self.layers:
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) / layer.in_features**0.5)
                if layer.bias is not None:
                    layer.bias.copy_(0.1 * torch.randn(layer.bias.shape, generator=generator))
        self.functional = functional
        self.acts = nn.ModuleList(nn.ReLU() for _ in self.layers[:-1])

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x) if self.functional else self.acts[i](x)
        return x


class TinyCNN(nn.Module):
    """``conv -> ReLU -> conv -> ReLU -> [max-pool] -> flatten -> linear`` on ``(N, 2, 8, 8)``."""

    def __init__(self, *, functional: bool = False, pool: str = "max", bias: bool = True, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1, bias=bias)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 5, 3, padding=1, bias=bias)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(5 * 4 * 4, 3, bias=bias)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.4 * torch.randn(p.shape, generator=generator))
        self.functional = functional

    def forward(self, x: Tensor) -> Tensor:
        act1 = F.relu if self.functional else self.relu1
        act2 = F.relu if self.functional else self.relu2
        x = act2(self.conv2(act1(self.conv1(x))))
        return self.fc(self.flatten(self.pool(x)))


def assert_close(actual: Tensor, expected: Tensor, rel: float = 1e-5) -> None:
    """``max |actual - expected| <= rel * max |expected|`` (relative to the attribution scale)."""
    actual = torch.as_tensor(actual).detach().double()
    expected = torch.as_tensor(expected).detach().double()
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = float(expected.abs().max()) or 1.0
    error = float((actual - expected).abs().max())
    assert error <= rel * scale, f"max abs error {error:.3g} > {rel:g} * scale {scale:.3g}"


def state_of(model: nn.Module) -> dict[str, Tensor]:
    """A copy of the model's parameters and buffers."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
