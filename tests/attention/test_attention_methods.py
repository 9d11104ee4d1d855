"""Attention rollout and gradient-weighted attention against their formulas (issue 12, item 7)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import xaikit
from xaikit.utils.errors import InputError, ModelError

DT = torch.float64


class TinyEncoder(nn.Module):
    """Two attention layers on ``(N, T, D)``; keeps its attention weights in :attr:`seen`."""

    def __init__(self, attention: str = "hand", d: int = 6, heads: int = 2) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.qkv = nn.ParameterList([nn.Parameter(torch.randn(3 * d, d, generator=gen, dtype=DT) / math.sqrt(d)) for _ in range(2)])
        self.head = nn.Parameter(torch.randn(3, d, generator=gen, dtype=DT))
        self.heads, self.attention, self.seen = heads, attention, []

    def forward(self, x: Tensor) -> Tensor:
        n, t, d = x.shape
        self.seen = []
        for w in self.qkv:
            q, k, v = F.linear(x, w).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
            if self.attention == "sdpa":
                a = F.scaled_dot_product_attention(q, k, v)
            else:
                weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)
                self.seen.append(weights)
                a = weights @ v
            x = x + torch.tanh(a.transpose(1, 2).reshape(n, t, d))
        return F.linear(x[:, 0], self.head)


def _x() -> Tensor:
    return torch.randn(3, 5, 6, generator=torch.Generator().manual_seed(1), dtype=DT)


def test_rollout_is_the_product_of_the_mixed_attention_matrices() -> None:
    model, x = TinyEncoder().eval(), _x()
    e = xaikit.explain(model, x, 1, method="attention_rollout", position=0)
    with torch.no_grad():
        model(x)
    eye = torch.eye(5, dtype=DT)
    expected = None
    for a in model.seen:
        step = 0.5 * eye + 0.5 * a.mean(1)
        step = step / step.sum(-1, keepdim=True)
        expected = step if expected is None else step @ expected
    assert expected is not None
    torch.testing.assert_close(e.extras["token_scores"], expected[:, 0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(e.attribution.sum(-1), expected[:, 0], rtol=1e-12, atol=1e-12)


def test_gradient_weighted_attention_is_chefers_rule() -> None:
    model, x = TinyEncoder().eval(), _x()
    e = xaikit.explain(model, x, 2, method="gradient_weighted_attention", position=0)
    out = model(x)
    grads = torch.autograd.grad(out[:, 2].sum(), model.seen)
    r = torch.eye(5, dtype=DT).expand(3, 5, 5)
    for a, g in zip(model.seen, grads):
        r = r + (g * a).clamp(min=0).mean(1) @ r
    torch.testing.assert_close(e.extras["token_scores"], r[:, 0].detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["attention_rollout", "gradient_weighted_attention"])
def test_fused_attention_gives_the_same_maps(method: str) -> None:
    x = _x()
    by_hand = xaikit.explain(TinyEncoder().eval(), x, 1, method=method)
    fused = xaikit.explain(TinyEncoder("sdpa").eval(), x, 1, method=method)
    torch.testing.assert_close(fused.attribution, by_hand.attribution, rtol=1e-10, atol=1e-12)


def test_a_model_without_attention_is_refused() -> None:
    with pytest.raises(ModelError, match="attnlrp"):
        xaikit.explain(nn.Linear(4, 2).double().eval(), torch.rand(2, 4, dtype=DT), method="attention_rollout")


def test_a_position_outside_the_sequence_is_refused() -> None:
    with pytest.raises(InputError, match="position"):
        xaikit.explain(TinyEncoder().eval(), _x(), 1, method="attention_rollout", position=9)
