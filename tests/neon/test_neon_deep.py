"""NEON heads on CNN features (appendix A): exactness, activated-neuron relevance, demos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xaikit
from xaikit.neon import (
    DeepClusterHead,
    DeepOutlierHead,
    KDEOutlierness,
    NeuralizedKMeans,
    on_features,
)
from xaikit.neon.images import cluster_demo, feature_extractor, paste_scratch, scratch_demo


def _activations(seed: int = 0) -> torch.Tensor:
    """Non-negative activations (N=2, C=6, 5x4) with about a third of them exactly zero."""
    rng = np.random.default_rng(seed)
    a = np.maximum(rng.normal(size=(2, 6, 5, 4)) + 0.3, 0.0)
    return torch.as_tensor(a)


def _points(a: torch.Tensor) -> torch.Tensor:
    return a.permute(0, 2, 3, 1).reshape(-1, a.shape[1])


def test_cluster_head_equals_kmeans_and_propagates_only_the_dot_part() -> None:
    a = _activations()
    rng = np.random.default_rng(1)
    kmeans = NeuralizedKMeans(np.abs(rng.normal(size=(3, 6))), beta=0.5)
    head = DeepClusterHead(kmeans)
    maps = head(a)
    assert maps.shape == (2, 3, 5, 4)
    torch.testing.assert_close(maps.permute(0, 2, 3, 1).reshape(-1, 3), kmeans(_points(a)))
    model = on_features(nn.Identity(), kmeans)
    for c in range(3):
        e = xaikit.explain(model, a, target=c, method="lrp", composite=model.composite())
        assert torch.all(e.attribution[a == 0] == 0)
        # Independent reference: dot part sum_k p_k a^T w_ck at the locations assigned to c.
        p = _points(a)
        w = kmeans.differences.weight.view(3, 2, 6)[c]
        b = kmeans.differences.bias.view(3, 2)[c]
        h = p @ w.T + b
        weights = torch.softmax(-0.5 * h, 1)
        dot = (weights * (p @ w.T)).sum(1)
        assigned = h.min(1).values > 0
        per_image = (dot * assigned).view(2, -1).sum(1)
        torch.testing.assert_close(e.relevance_sum, per_image)
        torch.testing.assert_close(e.output, torch.relu(h.min(1).values).view(2, -1).sum(1))
        d, residual = head.decompose(a)
        torch.testing.assert_close(d[:, c], dot)
        torch.testing.assert_close(d[:, c] + residual[:, c], h.min(1).values)


def test_outlier_head_equals_kde_and_propagates_only_the_dot_part() -> None:
    a = _activations(2)
    support = _points(_activations(3))
    kde = KDEOutlierness(support, 0.4)
    head = DeepOutlierHead(kde)
    torch.testing.assert_close(head(a).reshape(-1), kde(_points(a)))
    model = on_features(nn.Identity(), kde)
    e = xaikit.explain(model, a, method="lrp", composite=model.composite())
    assert torch.all(e.attribution[a == 0] == 0)
    p = _points(a)
    h = torch.cdist(p, support).pow(2)
    weights = torch.softmax(-0.4 * h, 1)
    dot = (weights * (p[:, None, :] * (p[:, None, :] - support)).sum(-1)).sum(1)
    torch.testing.assert_close(e.relevance_sum, dot.view(2, -1).sum(1))
    d, residual = head.decompose(a)
    torch.testing.assert_close(d, dot)
    torch.testing.assert_close(d + residual, kde(p))


def test_feature_extractor_is_seeded_without_global_side_effects() -> None:
    state = torch.get_rng_state()
    f1, f2 = feature_extractor(3, seed=4), feature_extractor(3, seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    for p1, p2 in zip(f1.parameters(), f2.parameters()):
        assert torch.equal(p1, p2)
    assert not any(m.training for m in f1.modules())


def test_paste_scratch_copies() -> None:
    image = np.zeros((40, 40), dtype=np.float32)
    scratched, mask = paste_scratch(image, seed=1)
    assert image.sum() == 0
    assert mask.any() and np.all(scratched[mask] == 1.0) and np.all(scratched[~mask] == 0.0)


@pytest.mark.parametrize("texture", ["brick", "grass"])
def test_scratch_is_highlighted(texture: str) -> None:
    demo = scratch_demo(texture, size=96)
    assert demo.heatmap.shape == demo.image.shape
    from scipy.ndimage import binary_dilation

    band = binary_dilation(demo.mask, iterations=3)
    # The band covers a few percent of the picture but holds a large share of the evidence.
    assert demo.scratch_share() > 5.0 * band.mean()
    assert np.abs(demo.heatmap[band]).mean() > 5.0 * np.abs(demo.heatmap[~band]).mean()


def test_cluster_heatmaps_fall_on_their_clusters() -> None:
    demo = cluster_demo("astronaut", n_clusters=4, size=64)
    assert demo.heatmaps.shape == (4, 64, 64)
    for c in range(4):
        area = float((demo.assignments == c).mean())
        assert demo.cluster_share(c) > 1.5 * area


def test_unsupported_head() -> None:
    with pytest.raises(TypeError, match="NeuralizedKMeans"):
        on_features(nn.Identity(), nn.Linear(2, 2))  # type: ignore[arg-type]
