"""Similarity measures: known answers and agreement with SciPy and scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr, rankdata, spearmanr
from skimage.metrics import structural_similarity

from xaikit.evaluate import SIMILARITIES, hog_similarity, pearson, rank, scale_unit, spearman, ssim
from xaikit.evaluate.similarity import get_similarity, ssim_abs


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(st.integers(-3, 3), min_size=2, max_size=30),
    rows=st.integers(1, 3),
)
def test_rank_matches_scipy_with_ties(values: list[int], rows: int) -> None:
    a = torch.tensor([values[i:] + values[:i] for i in range(rows)], dtype=torch.float64)
    np.testing.assert_array_equal(rank(a).numpy(), rankdata(a.numpy(), axis=1))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), ties=st.booleans())
def test_spearman_and_pearson_match_scipy(seed: int, ties: bool) -> None:
    a, b = _rand(3, 40, seed=seed), _rand(3, 40, seed=seed + 1)
    if ties:
        a, b = a.round(), b.clamp(min=0)
    ours = spearman(a, b).numpy()
    ours_abs = spearman(a, b, absolute=True).numpy()
    for i in range(3):
        assert ours[i] == pytest.approx(spearmanr(a[i], b[i])[0], abs=1e-12)
        assert ours_abs[i] == pytest.approx(spearmanr(a[i].abs(), b[i].abs())[0], abs=1e-12)
        assert pearson(a, b)[i].item() == pytest.approx(pearsonr(a[i], b[i])[0], abs=1e-12)


def test_known_answers() -> None:
    a = _rand(4, 1, 9, 9)
    np.testing.assert_allclose(ssim(a, a).numpy(), 1.0)
    np.testing.assert_allclose(spearman(a, -a).numpy(), -1.0)
    np.testing.assert_allclose(spearman(a, 3 * a + 1).numpy(), 1.0)
    np.testing.assert_allclose(pearson(a, -2 * a).numpy(), -1.0)
    np.testing.assert_allclose(hog_similarity(a, a).numpy(), 1.0)
    # the absolute-value variants ignore a flip of the sign of the whole map
    np.testing.assert_allclose(ssim_abs(a, -a).numpy(), 1.0)
    np.testing.assert_allclose(spearman(a, -a, absolute=True).numpy(), 1.0)
    assert (ssim(a, -a) < 0.5).all()
    assert torch.isnan(pearson(a, torch.zeros_like(a))).all()


@pytest.mark.parametrize("shape", [(3, 1, 12, 10), (3, 1, 7, 7), (3, 1, 16, 9)])
def test_ssim_matches_skimage_2d(shape: tuple[int, ...]) -> None:
    a, b = _rand(*shape, seed=1), _rand(*shape, seed=2)
    ours = ssim(a, b).numpy()
    su, sv = scale_unit(a).numpy(), scale_unit(b).numpy()
    for i in range(shape[0]):
        ref = structural_similarity(su[i, 0], sv[i, 0], data_range=1.0)
        assert ours[i] == pytest.approx(ref, abs=1e-10)


def test_ssim_matches_skimage_time_series_channels() -> None:
    a, b = _rand(2, 3, 25, seed=3), _rand(2, 3, 25, seed=4)
    ours = ssim(a, b, scale=False, data_range=4.0).numpy()
    for i in range(2):
        ref = structural_similarity(a[i].numpy(), b[i].numpy(), data_range=4.0, channel_axis=0)
        assert ours[i] == pytest.approx(ref, abs=1e-10)


def test_ssim_tabular_is_global_formula() -> None:
    a, b = _rand(2, 30, seed=5), _rand(2, 30, seed=6)
    x, y = scale_unit(a).numpy(), scale_unit(b).numpy()
    c1, c2 = 0.01**2, 0.03**2
    for i in range(2):
        cov = np.cov(x[i], y[i])
        ux, uy = x[i].mean(), y[i].mean()
        ref = ((2 * ux * uy + c1) * (2 * cov[0, 1] + c2)) / ((ux**2 + uy**2 + c1) * (cov[0, 0] + cov[1, 1] + c2))
        assert ssim(a, b)[i].item() == pytest.approx(ref, abs=1e-12)


def test_scale_unit_range_and_constant_maps() -> None:
    a = _rand(3, 10)
    s = scale_unit(a)
    np.testing.assert_allclose(s.amin(1).numpy(), 0.0)
    np.testing.assert_allclose(s.amax(1).numpy(), 1.0)
    assert (scale_unit(torch.ones(2, 5)) == 0).all()


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        ssim(torch.zeros(2, 5), torch.zeros(2, 6))
    with pytest.raises(ValueError, match="HOG similarity needs 2-D image heatmaps"):
        hog_similarity(torch.zeros(2, 3, 20), torch.zeros(2, 3, 20))
    with pytest.raises(ValueError, match="too small for HOG"):
        hog_similarity(torch.rand(1, 1, 3, 3), torch.rand(1, 1, 3, 3))
    with pytest.raises(ValueError, match="unknown similarity"):
        get_similarity("cosine")
    assert set(SIMILARITIES) >= {"ssim", "ssim_abs", "spearman", "spearman_abs", "pearson", "hog"}


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), ties=st.booleans())
def test_bound_reference_gives_the_same_scores(seed: int, ties: bool) -> None:
    from xaikit.evaluate.similarity import against, mse, spearman_abs

    a, b = _rand(3, 2, 5, 5, seed=seed), _rand(3, 2, 5, 5, seed=seed + 1)
    if ties:  # rounded maps: many tied ranks
        a, b = a.round(), b.round()
    for fn in (spearman, spearman_abs, mse):
        torch.testing.assert_close(against(fn, a)(b), fn(a, b))
    with pytest.raises(ValueError, match="differ in shape"):
        against(spearman, a)(b[:, :1])
