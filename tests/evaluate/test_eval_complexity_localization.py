"""Complexity (JPEG size, Gini, entropy) and localization metrics: known answers."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from xaikit.evaluate import (
    entropy,
    gini,
    heatmap_image,
    jpeg_size,
    outside_inside_ratio,
    pointing_game,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
    segmentation_scores,
)


def test_jpeg_size_is_pillows_quality_75_file_size() -> None:
    a = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    sizes = jpeg_size(a)
    for i in range(2):
        buffer = io.BytesIO()
        Image.fromarray(heatmap_image(a[i].sum(0).double().numpy())).save(buffer, format="JPEG", quality=75)
        assert sizes[i] == buffer.tell()


def test_jpeg_size_ranks_smooth_below_noisy_maps() -> None:
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    smooth = torch.exp(-((yy - 16) ** 2 + (xx - 12) ** 2) / 60)[None, None]
    noisy = torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    assert jpeg_size(smooth)[0] < jpeg_size(noisy)[0]
    assert jpeg_size(torch.zeros(1, 1, 32, 32))[0] < jpeg_size(smooth)[0]
    # all shapes are encoded: a row of pixels for tabular data, C x T for series
    assert jpeg_size(torch.randn(3, 10)).shape == (3,)
    assert jpeg_size(torch.randn(2, 3, 40), size=(30, 80), cmap="bwr").shape == (2,)
    with pytest.raises(ValueError, match="quality"):
        jpeg_size(noisy, quality=0)


def test_gini_and_entropy_known_answers() -> None:
    one_hot = torch.zeros(1, 10)
    one_hot[0, 3] = -2.0
    uniform = torch.ones(1, 10)
    assert gini(one_hot)[0] == pytest.approx(0.9)  # (n - 1) / n
    assert gini(uniform)[0] == pytest.approx(0.0)
    assert gini(torch.zeros(1, 10))[0] == 0.0
    assert entropy(one_hot)[0] == pytest.approx(0.0)
    assert entropy(uniform)[0] == pytest.approx(math.log(10))
    assert entropy(uniform, normalize=True)[0] == pytest.approx(1.0)
    two = torch.tensor([[1.0, 3.0, 0.0, 0.0]])
    # sorted |a| = (0, 0, 1, 3): sum (2i - n - 1) a_i = 1 * 1 + 3 * 3 = 10; n * sum = 16
    assert gini(two)[0] == pytest.approx(10 / 16)
    assert entropy(two)[0] == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100.0))
def test_gini_and_entropy_are_scale_and_sign_invariant(seed: int, scale: float) -> None:
    a = torch.randn(3, 1, 6, 6, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    np.testing.assert_allclose(gini(a * scale), gini(a), atol=1e-10)
    np.testing.assert_allclose(entropy(-a * scale), entropy(a), atol=1e-10)
    g = gini(a)
    assert ((g >= 0) & (g <= 1)).all()


def _scene() -> tuple[torch.Tensor, torch.Tensor]:
    mask = torch.zeros(2, 6, 6, dtype=torch.bool)
    mask[:, 1:3, 1:3] = True  # 4 positions inside
    a = torch.zeros(2, 3, 6, 6)
    a[0, 0, 1, 1] = 3.0  # everything on the object
    a[0, 1, 2, 2] = 1.0
    a[1, 0, 5, 5] = 2.0  # peak outside
    a[1, 0, 1, 2] = 1.0
    a[1, 0, 0, 0] = -5.0  # negative evidence is ignored by the mass metrics
    return a, mask


def test_localization_known_answers() -> None:
    a, mask = _scene()
    np.testing.assert_array_equal(pointing_game(a, mask), [1.0, 0.0])
    np.testing.assert_allclose(relevance_mass_accuracy(a, mask), [1.0, 1 / 3])
    np.testing.assert_allclose(relevance_rank_accuracy(a, mask), [0.5, 0.25])
    # mean positive relevance outside (32 positions) over inside (4 positions)
    np.testing.assert_allclose(outside_inside_ratio(a, mask), [0.0, (2 / 32) / (1 / 4)])
    scores = segmentation_scores(a, mask, threshold=0.5)
    # sample 0 predicts only (1,1); sample 1 predicts (1,2) and (5,5)
    np.testing.assert_allclose(scores["iou"], [1 / 4, 1 / 5])
    np.testing.assert_allclose(scores["pixel_accuracy"], [33 / 36, 32 / 36])
    np.testing.assert_allclose(scores["miou"], [(1 / 4 + 32 / 35) / 2, (1 / 5 + 31 / 35) / 2])
    area = segmentation_scores(a, mask, threshold="area")
    assert area["iou"][0] == pytest.approx(2 / 6)


def test_masks_in_every_accepted_shape_agree() -> None:
    a, mask = _scene()
    for m in (mask, mask[:, None], mask[:, None].expand(2, 3, 6, 6), mask.numpy().astype(float)):
        np.testing.assert_allclose(relevance_mass_accuracy(a, m), [1.0, 1 / 3])
    tabular = torch.tensor([[0.1, 0.9, 0.0]])
    assert pointing_game(tabular, torch.tensor([[False, True, False]]))[0] == 1.0


def test_localization_errors() -> None:
    a, mask = _scene()
    with pytest.raises(ValueError, match="samples \\[1\\] are empty"):
        pointing_game(a, torch.stack([mask[0], torch.zeros_like(mask[1])]))
    with pytest.raises(ValueError, match="does not fit"):
        pointing_game(a, mask[:, :5])
    with pytest.raises(ValueError, match="boolean"):
        pointing_game(a, mask.float() * 0.5)
    with pytest.raises(ValueError, match="cover everything"):
        outside_inside_ratio(a, torch.ones_like(mask))
    with pytest.raises(ValueError, match="threshold"):
        segmentation_scores(a, mask, threshold="otsu")
