"""Baselines and feature groups: resolution rules and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xaikit.perturbation import Background, ColumnGroups, Patches, Superpixels, resolve_groups
from xaikit.perturbation.baseline import resolve_baseline


def test_baseline_forms() -> None:
    x = torch.randn(4, 3, 5, 5)
    assert torch.equal(resolve_baseline(None, x).values, torch.zeros(1, 3, 5, 5))
    assert torch.equal(resolve_baseline(0.5, x).values, torch.full((1, 3, 5, 5), 0.5))
    per_channel = torch.tensor([1.0, 2.0, 3.0])[:, None, None]
    shared = resolve_baseline(per_channel, x).values
    assert shared.shape == (1, 3, 5, 5) and torch.equal(shared[0, 2], torch.full((5, 5), 3.0))
    per_sample = torch.randn(4, 3, 5, 5)
    ref = resolve_baseline(per_sample, x)
    assert torch.equal(ref.for_samples(torch.tensor([2, 0])), per_sample[[2, 0]])
    bg = resolve_baseline(Background(np.ones((7, 3, 5, 5))), x)
    assert bg.expectation and bg.rows == 7 and bg.values.dtype == x.dtype
    mean = resolve_baseline(Background(torch.arange(2.0)[:, None, None, None].expand(2, 3, 5, 5), mode="mean"), x)
    assert not mean.expectation and torch.allclose(mean.values, torch.full((1, 3, 5, 5), 0.5))


def test_baseline_errors() -> None:
    x = torch.randn(4, 6)
    with pytest.raises(ValueError, match="Background"):
        resolve_baseline(torch.zeros(3, 6), x)
    with pytest.raises(ValueError, match=r"shape \(M, 6\)"):
        resolve_baseline(Background(torch.zeros(3, 5)), x)
    with pytest.raises(ValueError, match="NaN"):
        resolve_baseline(torch.full((6,), float("nan")), x)
    with pytest.raises(TypeError, match="bool"):
        resolve_baseline(True, x)
    with pytest.raises(ValueError, match="mode"):
        Background(torch.zeros(2, 6), mode="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        Background(torch.zeros(0, 6))


def test_groups_default_mask_broadcast_and_relabel() -> None:
    x = torch.randn(2, 3, 4, 4)
    default = resolve_groups(None, x)
    assert default.counts == (48, 48) and torch.equal(default.labels[0], torch.arange(48))
    pixels = torch.tensor([[7, 7, 3, 3]] * 4)  # (H, W), any integers
    groups = resolve_groups(pixels, x)
    assert groups.counts == (2, 2)
    assert groups.labels.shape == (2, 48)
    assert set(groups.labels[0].tolist()) == {0, 1}
    assert groups.sizes()[0].tolist() == [24, 24]
    per_sample = torch.stack([torch.zeros(1, 4, 4), torch.arange(16).view(1, 4, 4) % 3]).long()
    groups = resolve_groups(per_sample, x)
    assert groups.counts == (1, 3)


def test_group_errors() -> None:
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(TypeError, match="integer"):
        resolve_groups(torch.zeros(4, 4), x)
    with pytest.raises(ValueError, match="does not fit"):
        resolve_groups(torch.zeros(5, 5, dtype=torch.long), x)
    with pytest.raises(TypeError, match="cannot use"):
        resolve_groups(3.5, x)  # type: ignore[arg-type]
    tab = torch.randn(2, 4)
    with pytest.raises(ValueError, match="overlap"):
        resolve_groups({"a": [0, 1], "b": [1]}, tab)
    with pytest.raises(ValueError, match="feature_names"):
        resolve_groups({"a": ["age"]}, tab)
    with pytest.raises(ValueError, match="tabular"):
        resolve_groups({"a": [0]}, x)


def test_column_groups_names_and_leftovers() -> None:
    tab = torch.randn(3, 5)
    groups = resolve_groups(ColumnGroups({"pair": [1, 3]}, feature_names=list("abcde")), tab)
    assert groups.names == ["pair", "a", "c", "e"]
    assert groups.labels[0].tolist() == [1, 0, 2, 0, 3]
    unnamed = resolve_groups({"pair": [1, 3]}, tab)
    assert unnamed.names == ["pair", "x0", "x2", "x4"]


def test_spread_divide_keeps_sums_and_repeat_copies() -> None:
    tab = torch.randn(1, 5)
    groups = resolve_groups(torch.tensor([0, 0, 1, 1, 1]), tab)
    values = torch.tensor([[2.0, 3.0]], dtype=torch.float64)
    assert groups.spread(values, "divide").tolist() == [[1.0, 1.0, 1.0, 1.0, 1.0]]
    assert groups.spread(values, "repeat").tolist() == [[2.0, 2.0, 3.0, 3.0, 3.0]]


def test_patches_grid_labels() -> None:
    labels = Patches((2, 3))(torch.zeros(1, 3, 4, 7))
    assert labels.shape == (4, 7)
    assert labels.unique().numel() == 2 * 3  # 2 rows x ceil(7 / 3) columns of patches
    assert labels[0, 0] == labels[1, 2] and labels[0, 0] != labels[2, 0] and labels[0, 2] != labels[0, 3]
    series = Patches(4)(torch.zeros(2, 2, 10))
    assert series.tolist() == [0] * 4 + [1] * 4 + [2] * 2
    with pytest.raises(ValueError, match="entries"):
        Patches((2, 2, 2))(torch.zeros(1, 3, 4, 4))


def test_superpixels_follow_image_content() -> None:
    image = torch.zeros(1, 3, 16, 16)
    image[:, :, :, 8:] = 1.0  # two flat halves
    mask = Superpixels(4, compactness=0.1)(image)
    assert mask.shape == (1, 1, 16, 16)
    left, right = set(mask[0, 0, :, :8].unique().tolist()), set(mask[0, 0, :, 8:].unique().tolist())
    assert left and right and not left & right  # no segment crosses the edge
    with pytest.raises(ValueError, match="images"):
        Superpixels(2)(torch.zeros(2, 5))
    noise = torch.from_numpy(np.random.default_rng(0).random((1, 3, 16, 16)))
    with pytest.warns(UserWarning, match="single segment"):
        Superpixels(12)(noise)
