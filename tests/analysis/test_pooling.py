"""Relevance pooling: equal to the explicit double sum, and conserving for LRP and IG stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import xaikit
from xaikit.analysis import channel_groups, grid_groups, pool_relevance, window_groups

pytest.importorskip("zarr")


@settings(max_examples=30, deadline=None)
@given(
    samples=st.integers(1, 40),
    features=st.integers(1, 12),
    feature_groups=st.integers(1, 4),
    sample_groups=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_pooled_equals_the_explicit_double_sum(samples, features, feature_groups, sample_groups, seed) -> None:
    rng = np.random.default_rng(seed)
    relevance = rng.standard_normal((samples, features))
    feature_label = rng.integers(-1, feature_groups, features)  # -1: in no group -> "other"
    sample_label = rng.integers(0, sample_groups, samples)
    pooled = pool_relevance(relevance, feature_label, sample_label)
    groups = sorted(set(feature_label[feature_label >= 0].tolist()))
    columns = [feature_label == g for g in groups] + ([feature_label < 0] if (feature_label < 0).any() else [])
    for row, s in enumerate(sorted(set(sample_label.tolist()))):
        for col, mask in enumerate(columns):
            expected = sum(relevance[n, i] for n in range(samples) for i in range(features) if sample_label[n] == s and mask[i])
            assert pooled.relevance[row, col] == pytest.approx(expected, abs=1e-12)
    assert pooled.conservation_error <= 1e-12 * max(1.0, np.abs(relevance).sum())
    assert pooled.counts.sum() == samples


def _digits_model() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    model = xaikit.models.DigitsCNN().eval()
    inputs = torch.rand(90, 1, 8, 8, generator=generator)
    labels = torch.randint(0, 10, (90,), generator=generator)
    return model, inputs, labels


@pytest.mark.parametrize("method", ["lrp", "integrated_gradients"])
def test_pooling_a_store_conserves(tmp_path: Path, method: str) -> None:
    model, inputs, labels = _digits_model()
    store = xaikit.explain_dataset(model, inputs, method, store=tmp_path / "s.zarr", labels=labels, chunk_size=32,
                                   progress=False)
    attribution = store.read(f"methods/{method}/attribution").astype(np.float64)
    for features in (None, "channels", grid_groups((1, 8, 8), (2, 2)), np.arange(64).reshape(1, 8, 8) % 3):
        pooled = pool_relevance(store, features, "label")
        assert pooled.relevance.sum() == pytest.approx(attribution.sum(), rel=1e-12, abs=1e-12)
        assert pooled.relevance_total == pytest.approx(attribution.sum(), rel=1e-12, abs=1e-12)
        # relevance + what biases absorbed (or IG's completeness gap) = the explained outputs
        assert pooled.relevance_total + pooled.delta_total == pytest.approx(pooled.output_total, rel=1e-4, abs=1e-4)
        for row, label in enumerate(pooled.sample_groups):
            assert pooled.relevance[row].sum() == pytest.approx(attribution[labels.numpy() == label].sum(), abs=1e-9)
    in_memory = pool_relevance(store.explanation(method), grid_groups((1, 8, 8), (2, 2)), labels.numpy())
    from_store = pool_relevance(store, grid_groups((1, 8, 8), (2, 2)), "label")
    np.testing.assert_allclose(in_memory.relevance, from_store.relevance, rtol=1e-12, atol=1e-12)
    assert in_memory.output_total == pytest.approx(from_store.output_total, rel=1e-6)


def test_feature_groups_by_name_channel_window_and_grid() -> None:
    relevance = np.arange(24, dtype=float).reshape(2, 3, 4)  # two samples, 3 channels, 4 steps
    by_channel = pool_relevance(relevance, channel_groups((3, 4), ["r", "g", "b"]))
    assert by_channel.feature_groups == ("r", "g", "b")
    np.testing.assert_array_equal(by_channel.relevance[0], relevance.sum(axis=(0, 2)))
    windows = pool_relevance(relevance, window_groups((3, 4), 3))
    assert windows.feature_groups == ("t 0-2", "t 3-3")
    np.testing.assert_array_equal(windows.relevance[0], [relevance[..., :3].sum(), relevance[..., 3:].sum()])
    assert len(grid_groups((8, 8), (2, 4))) == 8
    table = np.ones((5, 4))
    named = pool_relevance(table, {"age": ["age"], "mix": ["cement", "water"]}, feature_names=["age", "cement", "water", "ash"])
    assert named.feature_groups == ("age", "mix", "other")
    np.testing.assert_array_equal(named.relevance, [[5.0, 10.0, 5.0]])
    assert named.to_frame().loc["all samples", "mix"] == 10.0
    with pytest.raises(ValueError, match="overlaps"):
        pool_relevance(table, {"a": [0, 1], "b": [1]})
    with pytest.raises(ValueError, match="unknown features"):
        pool_relevance(table, {"a": ["slag"]}, feature_names=["age", "cement", "water", "ash"])
    with pytest.raises(ValueError, match="one label per sample"):
        pool_relevance(table, None, "label")
    with pytest.raises(ValueError, match="one entry per sample"):
        pool_relevance(table, None, np.zeros(3))
