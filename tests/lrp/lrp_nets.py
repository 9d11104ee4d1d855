"""Small models and helpers for the LRP tests (float64, fixed seeds, never the global RNG)."""

from __future__ import annotations

import torch
from torch import nn

DT = torch.float64


def seeded(builder, seed: int) -> nn.Module:  # type: ignore[no-untyped-def]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return builder()


def zero_biases(model: nn.Module, seed: int = 0) -> nn.Module:
    """Zero all biases and batch-norm shifts (random positive BN scales), in place on a fresh model."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.zero_()
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=gen, dtype=module.running_var.dtype) + 0.5)
                module.weight.copy_(torch.rand(module.weight.shape, generator=gen, dtype=module.weight.dtype) + 0.5)
    return model


