"""The library's one Pearson and Spearman correlation: agreement with SciPy, constant rows."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import pearsonr, spearmanr

from xaikit.evaluate import pearson, spearman
from xaikit.evaluate.correlation import (
    CONSTANT_RTOL,
    constant_rows,
    pearson_rows,
    rank_rows,
    spearman_rows,
)
from xaikit.evaluate.faithfulness import SubsetResult


def _scipy(fn: Callable[..., Any], x: np.ndarray, y: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SciPy warns on (near-)constant input
        return float(fn(x, y)[0])


def _spread(x: np.ndarray) -> float:
    """``||x - mean(x)|| / ||x||`` (0 for a zero row)."""
    norm = float(np.linalg.norm(x))
    return float(np.linalg.norm(x - x.mean())) / norm if norm > 0 else 0.0


# zero or 1e-6 <= |value| <= 1e6: rows scaled by 1e-200 or 1e200 stay normal floats
_values = st.one_of(st.just(0.0), st.floats(1e-6, 1e6), st.floats(-1e6, -1e-6))
_matrices = st.tuples(st.integers(1, 4), st.integers(2, 25)).flatmap(
    lambda shape: st.tuples(arrays(np.float64, shape, elements=_values), arrays(np.float64, shape, elements=_values))
)


@settings(max_examples=200, deadline=None)
@given(pair=_matrices, scale=st.sampled_from([1e-200, 1e-6, 1.0, 1e6, 1e200]))
def test_pearson_matches_scipy_on_random_rows(pair: tuple[np.ndarray, np.ndarray], scale: float) -> None:
    x, y = pair
    ours = pearson_rows(torch.from_numpy(x * scale), torch.from_numpy(y)).numpy()  # scale-free
    for i in range(len(x)):
        spreads = (_spread(x[i]), _spread(y[i]))
        if min(spreads) <= CONSTANT_RTOL / 2:
            assert np.isnan(ours[i])
        elif min(spreads) > 2 * CONSTANT_RTOL:
            # both computations lose about eps / spread of the coefficient
            tolerance = 1e-12 + 1e-14 * sum(1 / s for s in spreads)
            assert ours[i] == pytest.approx(_scipy(pearsonr, x[i], y[i]), abs=tolerance)


@settings(max_examples=100, deadline=None)
@given(
    pair=st.tuples(st.integers(1, 4), st.integers(2, 25)).flatmap(
        lambda shape: st.tuples(
            arrays(np.float64, shape, elements=st.integers(-3, 3).map(float)),
            arrays(np.float64, shape, elements=_values),
        )
    )
)
def test_spearman_matches_scipy_with_ties(pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = pair
    ours = spearman_rows(x, y).numpy()
    for i in range(len(x)):
        theirs = _scipy(spearmanr, x[i], y[i])
        if np.isnan(theirs):  # all values of a row equal: NaN in both
            assert np.isnan(ours[i])
        else:
            assert ours[i] == pytest.approx(theirs, abs=1e-12)


def test_constant_rows_give_nan_like_scipy() -> None:
    x = torch.tensor([[2.0, 2.0, 2.0, 2.0], [0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 5.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 2.0, 3.0, 4.0]] * 3, dtype=torch.float64)
    for ours in (pearson_rows(x, y), pearson_rows(y, x), spearman_rows(x, y), spearman_rows(y, x)):
        assert torch.isnan(ours[:2]).all() and not torch.isnan(ours[2])
    assert np.isnan(_scipy(pearsonr, x[0].numpy(), y[0].numpy()))
    assert np.isnan(_scipy(spearmanr, x[0].numpy(), y[0].numpy()))
    assert torch.isnan(pearson_rows(torch.ones(2, 1), torch.ones(2, 1))).all()  # one value: no correlation
    assert pearson_rows(torch.ones(2, 0), torch.ones(2, 0)).isnan().all()
    assert pearson_rows(torch.ones(0, 3), torch.ones(0, 3)).shape == (0,)


def test_near_constant_rows_give_nan_instead_of_round_off() -> None:
    """A spread lost in round-off: SciPy warns and returns a wrong value; xaikit returns NaN."""
    near = torch.tensor([[1.0, 1.0 + 2e-16, 1.0, 1.0], [0.3, 0.1 + 0.2, 0.3, 0.3]], dtype=torch.float64)
    y = torch.tensor([[1.0, 2.0, 3.0, 4.0]] * 2, dtype=torch.float64)
    assert constant_rows(near).all()
    assert torch.isnan(pearson_rows(near, y)).all()
    assert np.isfinite(_scipy(pearsonr, near[0].numpy(), y[0].numpy()))  # SciPy's round-off value
    # just above the threshold the coefficient is a number again, and the right one
    spread = torch.tensor([[1.0, 1.0 + 1e-8, 1.0, 1.0]], dtype=torch.float64)
    exact = -0.5 / (np.sqrt(0.75) * np.sqrt(5.0))
    assert pearson_rows(spread, y[:1]).item() == pytest.approx(exact, abs=1e-6)
    # ranks are exact: Spearman correlates the near-constant rows as SciPy does
    assert spearman_rows(near, y)[0].item() == pytest.approx(_scipy(spearmanr, near[0].numpy(), y[0].numpy()))


def test_non_finite_rows_give_nan() -> None:
    x = torch.tensor([[1.0, float("nan"), 2.0], [1.0, float("inf"), 2.0], [1.0, 3.0, 2.0]], dtype=torch.float64)
    out = pearson_rows(x, torch.tensor([[1.0, 2.0, 3.0]] * 3, dtype=torch.float64))
    assert out[:2].isnan().all() and out[2].item() == pytest.approx(0.5)


def test_every_correlation_of_the_library_is_this_one() -> None:
    """The similarity measures and faithfulness correlation agree, also on a near-constant row.

    (Before they were one implementation each: NaN from faithfulness, -0.22 from ``pearson``.)
    """
    sums = np.array([[1.0, 1.0 + 2e-16, 1.0, 1.0], [0.5, -1.0, 2.0, 0.0]])
    drops = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, -2.0, 3.0, 1.0]])
    faithfulness = SubsetResult(relevance_sums=sums, output_drops=drops).correlation
    similarity = pearson(torch.from_numpy(sums), torch.from_numpy(drops)).numpy()
    np.testing.assert_array_equal(faithfulness, similarity)
    assert np.isnan(faithfulness[0]) and np.isfinite(faithfulness[1])
    a, b = torch.from_numpy(sums).view(2, 1, 2, 2), torch.from_numpy(drops).view(2, 1, 2, 2)
    np.testing.assert_array_equal(spearman(a, b).numpy(), spearman_rows(sums, drops).numpy())
    np.testing.assert_array_equal(rank_rows(sums).numpy(), rank_rows(torch.from_numpy(sums)).numpy())


def test_inputs_must_be_matching_matrices() -> None:
    with pytest.raises(ValueError, match="2-D"):
        pearson_rows(torch.ones(3), torch.ones(3))
    with pytest.raises(ValueError, match="differ in shape"):
        pearson_rows(torch.ones(2, 3), torch.ones(2, 4))
