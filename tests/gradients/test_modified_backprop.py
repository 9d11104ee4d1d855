"""DeconvNet, guided backprop and RectGrad against explicit backward passes; module vs functional ReLU."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from gradients_testkit import ReluMLP, TinyCNN, assert_close
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor
from torch.nn import functional as F

import xaikit
from xaikit.gradients.backprop_rules import percentile_threshold


def explicit_backward(model: ReluMLP, x: np.ndarray, target: int, method: str, q: float = 98.0) -> np.ndarray:
    """The modified backward pass written out layer by layer in NumPy (float64)."""
    weights = [layer.weight.detach().double().numpy() for layer in model.layers]
    biases = [layer.bias.detach().double().numpy() for layer in model.layers]
    pre, post = [], [x]
    for w, b in zip(weights[:-1], biases[:-1]):
        pre.append(post[-1] @ w.T + b)
        post.append(np.maximum(pre[-1], 0.0))
    g = np.tile(weights[-1][target], (len(x), 1))
    for i in reversed(range(len(pre))):
        z, a = pre[i], post[i + 1]
        if method == "guided":
            g = (z > 0) * np.maximum(g, 0.0)
        elif method == "deconvnet":
            g = np.maximum(g, 0.0)
        else:  # rectgrad: per sample, nearest-rank percentile of a * g
            scores = a * g
            k = min(scores.shape[1], max(1, math.ceil(q / 100 * scores.shape[1])))
            tau = np.sort(scores, axis=1)[:, k - 1 : k]
            g = (z > 0) * g * (scores > tau)
        g = g @ weights[i]
    return g


@pytest.mark.parametrize(("method", "name"), [("guided", "guided_backprop"), ("deconvnet", "deconvnet")])
def test_against_an_explicit_backward_pass(method: str, name: str) -> None:
    model = ReluMLP([5, 9, 7, 3], seed=4).eval().double()
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    e = xaikit.explain(model, x, 2, method=name)
    assert_close(e.attribution, torch.from_numpy(explicit_backward(model, x.numpy(), 2, method)), rel=1e-12)


@pytest.mark.parametrize("q", [50.0, 80.0, 98.0])
def test_rectgrad_against_an_explicit_backward_pass(q: float) -> None:
    model = ReluMLP([5, 12, 10, 3], seed=5).eval().double()
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    raw = xaikit.explain(model, x, 1, method="rectgrad", percentile=q, multiply_by_inputs=False)
    expected = torch.from_numpy(explicit_backward(model, x.numpy(), 1, "rectgrad", q))
    assert_close(raw.attribution, expected, rel=1e-12)
    final = xaikit.explain(model, x, 1, method="rectgrad", percentile=q)
    assert_close(final.attribution, (x * expected).clamp(min=0), rel=1e-12)
    assert bool((final.attribution >= 0).all())


def test_rectgrad_at_the_zeroth_percentile_of_a_positive_layer_drops_only_its_minimum() -> None:
    scores = torch.tensor([[3.0, 1.0, 2.0, 5.0], [0.5, 0.2, 0.9, 0.1]])
    tau = percentile_threshold(scores, 0.0)
    assert torch.equal(tau.squeeze(1), torch.tensor([1.0, 0.1]))
    assert torch.equal(percentile_threshold(scores, 100.0).squeeze(1), torch.tensor([5.0, 0.9]))
    assert torch.equal(percentile_threshold(scores, 50.0).squeeze(1), torch.tensor([2.0, 0.2]))


METHODS = [
    ("guided_backprop", {}),
    ("deconvnet", {}),
    ("rectgrad", {"percentile": 90.0}),
    ("deeplift", {"baseline": 0.1}),
    ("deeplift", {"baseline": 0.1, "multipliers": "reveal_cancel"}),
    ("rap", {}),
]


@given(seed=st.integers(0, 10_000), which=st.sampled_from(range(len(METHODS))))
@settings(max_examples=12, deadline=None)
def test_module_and_functional_relu_give_the_same_explanation(seed: int, which: int) -> None:
    method, options = METHODS[which]
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(seed))
    modules = xaikit.explain(TinyCNN(seed=seed).eval(), x, 0, method=method, **options)
    functional = xaikit.explain(TinyCNN(seed=seed, functional=True).eval(), x, 0, method=method, **options)
    assert_close(functional.attribution, modules.attribution, rel=1e-6)
    mlp_modules = xaikit.explain(ReluMLP([4, 8, 6, 2], seed=seed).eval(), x[:, 0, 0, :4], 1, method=method, **options)
    mlp_functional = xaikit.explain(
        ReluMLP([4, 8, 6, 2], seed=seed, functional=True).eval(), x[:, 0, 0, :4], 1, method=method, **options
    )
    assert_close(mlp_functional.attribution, mlp_modules.attribution, rel=1e-6)


class _GuidedRelu(torch.autograd.Function):
    """Reference guided ReLU written as a custom autograd function."""

    @staticmethod
    def forward(ctx: Any, z: Tensor) -> Tensor:
        ctx.save_for_backward(z)
        return z.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (z,) = ctx.saved_tensors
        return (z > 0) * g.clamp(min=0)


def test_guided_backprop_through_a_resnet_with_functional_relus_matches_a_patched_relu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reference: the plain gradient of the same ResNet with ``F.relu`` replaced by a guided ReLU."""
    model = xaikit.models.resnet_small(num_classes=4, in_channels=2, width=0.125).eval()
    x = torch.randn(2, 2, 16, 16, generator=torch.Generator().manual_seed(3))
    guided = xaikit.explain(model, x, 1, method="guided_backprop")
    with monkeypatch.context() as patch:
        patch.setattr(F, "relu", lambda z, inplace=False: _GuidedRelu.apply(z))
        leaf = x.clone().requires_grad_(True)
        (reference,) = torch.autograd.grad(model(leaf)[:, 1].sum(), leaf)
    assert_close(guided.attribution, reference, rel=1e-5)
    plain = xaikit.explain(model, x, 1, method="saliency")
    assert float((plain.attribution - reference).abs().max()) > 1e-2 * float(reference.abs().max())
