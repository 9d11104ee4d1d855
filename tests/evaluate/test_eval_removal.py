"""Feature groups and removal strategies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage.restoration import inpaint_biharmonic

from xaikit.evaluate import (
    Blur,
    Constant,
    Inpaint,
    Uniform,
    as_removal,
    feature_groups,
    gaussian_blur,
)
from xaikit.evaluate.features import as_groups, group_mask, group_sums
from xaikit.perturbation import Patches, patch_labels


def test_feature_groups_images_channels_joint_and_patches() -> None:
    labels = feature_groups((3, 4, 6))
    assert labels.shape == (3, 4, 6)
    assert (labels[0] == labels[1]).all() and (labels[0] == labels[2]).all()
    assert labels.unique().numel() == 24
    patches = feature_groups((3, 4, 6), patch=2)
    assert patches.unique().numel() == 6
    assert (patches[0, :2, :2] == patches[0, 0, 0]).all()
    ragged = feature_groups((1, 5, 5), patch=2)  # 3 x 3 patches, the last ones smaller
    assert ragged.unique().numel() == 9


def test_feature_groups_time_series_and_tabular() -> None:
    series = feature_groups((2, 10))
    assert series.unique().numel() == 20  # each variable of the series separately
    assert feature_groups((2, 10), channels="joint").unique().numel() == 10
    assert feature_groups((2, 10), patch=5).unique().numel() == 4
    assert feature_groups((7,)).tolist() == list(range(7))
    assert feature_groups((7,), patch=3).tolist() == [0, 0, 0, 1, 1, 1, 2]


@pytest.mark.parametrize(
    ("shape", "patch"),
    [((7,), 3), ((2, 10), 4), ((3, 4, 6), 2), ((3, 5, 7), (2, 3)), ((1, 5, 5), 2), ((2, 3, 4, 5), (2, 1, 3))],
)
def test_feature_groups_use_the_patch_grid_of_perturbation_methods(shape: tuple[int, ...], patch: object) -> None:
    """The metrics' patches are the perturbation methods' ``Patches``: one grid, same labels."""
    channels = "separate" if len(shape) == 2 else "auto"  # separate for series: one grid per channel
    labels = feature_groups(shape, patch=patch, channels=channels)  # type: ignore[arg-type]
    grid = Patches(patch)(torch.zeros(1, *shape))  # type: ignore[arg-type]
    assert torch.equal(grid, patch_labels(shape[1:] if len(shape) > 1 else shape, patch))  # type: ignore[arg-type]
    if len(shape) == 1:
        assert torch.equal(labels, grid)
    elif channels == "separate":
        assert torch.equal(labels, grid + torch.arange(shape[0]).view(-1, 1) * (int(grid.max()) + 1))
    else:
        assert torch.equal(labels, grid.expand(shape))
    # the sizes are validated in one place, with one message
    with pytest.raises(ValueError, match="entries"):
        feature_groups(shape, patch=(2,) * (len(shape) + 1))
    with pytest.raises(ValueError, match="entries"):
        Patches((2,) * (len(shape) + 1))(torch.zeros(1, *shape))


def test_patch_sizes_may_be_numpy_integers() -> None:
    assert torch.equal(Patches(np.int64(2))(torch.zeros(1, 3, 4, 4)), feature_groups((1, 4, 4), patch=np.int64(2))[0])


def test_user_groups_are_validated_and_renumbered() -> None:
    x = torch.zeros(2, 3, 4, 4)
    seg = torch.tensor([[5, 5, 9, 9]] * 4)[None]
    labels, count = as_groups(seg, x)
    assert count == 2 and labels.shape == (3, 4, 4)
    with pytest.raises(ValueError, match="label the elements of one input"):
        as_groups(torch.zeros(5, 5, dtype=torch.long), x)
    with pytest.raises(TypeError, match="integer labels"):
        as_groups(torch.zeros(4, 4), x)
    with pytest.raises(ValueError, match="either groups"):
        as_groups(seg, x, patch=2)


def test_group_sums_and_masks_round_trip() -> None:
    labels = feature_groups((2, 4, 4), patch=2)
    values = torch.arange(2 * 32, dtype=torch.float64).reshape(2, 2, 4, 4)
    sums = group_sums(values, labels, 4)
    assert sums.sum().item() == values.sum().item()
    mask = group_mask(torch.tensor([[True, False, False, False]]), labels)
    assert mask.sum().item() == 8 and mask[0, :, :2, :2].all()


@pytest.mark.parametrize("sigma", [0.7, 1.5, 4.0])
def test_blur_matches_scipy_nearest(sigma: float) -> None:
    x = torch.randn(2, 3, 7, 11, dtype=torch.float64)
    ref = gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="nearest")
    np.testing.assert_allclose(gaussian_blur(x, sigma).numpy(), ref, atol=1e-12)
    series = torch.randn(2, 2, 30, dtype=torch.float64)
    ref1 = gaussian_filter(series.numpy(), sigma=(0, 0, sigma), mode="nearest")
    np.testing.assert_allclose(Blur(sigma).fill(series, series > 0, torch.Generator()).numpy(), ref1, atol=1e-12)


def test_inpaint_matches_skimage_and_keeps_other_elements() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 2, 8, 8, generator=g, dtype=torch.float64)
    spatial = torch.rand(2, 8, 8, generator=g) < 0.3
    mask = spatial.unsqueeze(1).expand_as(x)
    out = Inpaint().apply(x, mask)
    for i in range(2):
        ref = inpaint_biharmonic(x[i].numpy(), spatial[i].numpy(), channel_axis=0)
        np.testing.assert_allclose(out[i].numpy(), ref, atol=1e-12)
    assert torch.equal(out[~mask], x[~mask])
    everything = Inpaint(fallback=0.5).apply(x, torch.ones_like(mask))
    assert (everything == 0.5).all()


def test_constant_and_uniform() -> None:
    x = torch.randn(3, 4)
    reference = torch.arange(4.0)
    out = as_removal(reference).apply(x, torch.ones_like(x, dtype=torch.bool))
    assert torch.equal(out, reference.expand(3, 4))
    with pytest.raises(ValueError, match="must broadcast to one input"):
        Constant(torch.zeros(5)).apply(x, x > 0)
    a = Uniform().apply(x, torch.ones_like(x, dtype=torch.bool), torch.Generator().manual_seed(1))
    b = Uniform().apply(x, torch.ones_like(x, dtype=torch.bool), torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert (a >= x.min(1, keepdim=True).values).all() and (a <= x.max(1, keepdim=True).values).all()


def test_removal_errors_name_the_fix() -> None:
    tabular = torch.randn(3, 4)
    for removal in ("blur", "inpaint"):
        with pytest.raises(ValueError, match=r"x_train\.mean"):
            as_removal(removal).apply(tabular, tabular > 0)
    with pytest.raises(ValueError, match="unknown removal"):
        as_removal("smudge")
    with pytest.raises(TypeError, match="not a bool"):
        as_removal(True)
    assert isinstance(as_removal(0.5), Constant)
