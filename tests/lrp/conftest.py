"""Fixtures for the LRP tests."""

from __future__ import annotations

import pytest
import torch
from lrp_nets import DT, seeded
from torch import nn

from xaikit.models import MLP, resnet_small, vgg16


@pytest.fixture(scope="module")
def nets() -> dict[str, tuple[nn.Module, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    mlp = seeded(lambda: MLP(10, (32, 32), 5), 0).to(DT).eval()
    vgg = seeded(lambda: vgg16(num_classes=7, width=0.125, input_size=32), 0).to(DT).eval()
    res = seeded(lambda: resnet_small(num_classes=7), 0).to(DT).eval()
    return {
        "mlp": (mlp, torch.randn(4, 10, generator=gen, dtype=DT)),
        "vgg": (vgg, torch.rand(3, 3, 32, 32, generator=gen, dtype=DT)),
        "resnet": (res, torch.rand(3, 3, 32, 32, generator=gen, dtype=DT)),
    }
