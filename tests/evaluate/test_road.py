"""ROAD and its noisy linear imputation (issue 16, item 5).

The imputation is checked against the linear system written out element by element with
NumPy (a dense solve, independent of the sparse vectorized one), and on functions it must
reproduce: a linear ramp is its own neighbour mean away from the border.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from xaikit.evaluate import pixel_flipping, road
from xaikit.perturbation import NoisyLinear, linear_imputation
from xaikit.utils.errors import InputError

DT = torch.float64


def dense_reference(values: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """One plane: for each removed pixel, ``sum_j w_j (x_i - x_j) = 0`` over its in-bounds neighbours."""
    height, width = values.shape
    unknown = [(r, c) for r in range(height) for c in range(width) if removed[r, c]]
    where = {p: k for k, p in enumerate(unknown)}
    a, b = np.zeros((len(unknown), len(unknown))), np.zeros(len(unknown))
    for k, (r, c) in enumerate(unknown):
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                rr, cc = r + dr, c + dc
                if (dr, dc) == (0, 0) or not (0 <= rr < height and 0 <= cc < width):
                    continue
                w = 1 / 12 if dr and dc else 1 / 6
                a[k, k] += w
                if (rr, cc) in where:
                    a[k, where[(rr, cc)]] -= w
                else:
                    b[k] += w * values[rr, cc]
    out = values.copy()
    if unknown:
        solved = np.linalg.solve(a, b)
        for k, p in enumerate(unknown):
            out[p] = solved[k]
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.05, 0.95))
def test_linear_imputation_solves_the_neighbour_mean_equations(seed: int, share: float) -> None:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((3, 5, 6))
    removed = rng.random((3, 5, 6)) < share
    removed[0, 0, 0] = False  # at least one pixel known in every plane
    removed[1:, 2, 3] = False
    imputed = linear_imputation(values, removed)
    for plane in range(3):
        np.testing.assert_allclose(imputed[plane], dense_reference(values[plane], removed[plane]), rtol=1e-10,
                                   atol=1e-12)
    assert np.array_equal(imputed[~removed], values[~removed])


def test_a_linear_ramp_is_reproduced_inside_and_a_fully_removed_plane_is_zero() -> None:
    rows, columns = np.meshgrid(np.arange(7.0), np.arange(8.0), indexing="ij")
    ramp = 0.3 * rows - 0.7 * columns + 2.0
    removed = np.zeros((7, 8), dtype=bool)
    removed[2:5, 3:6] = True  # an interior hole: every stencil is symmetric
    np.testing.assert_allclose(linear_imputation(ramp[None], removed[None])[0], ramp, rtol=0, atol=1e-12)
    series = np.linspace(-1, 3, 12)[None]
    gap = np.zeros((1, 12), dtype=bool)
    gap[0, 3:9] = True
    np.testing.assert_allclose(linear_imputation(series, gap), series, rtol=0, atol=1e-12)
    everything = np.ones((1, 4, 4), dtype=bool)
    assert np.array_equal(linear_imputation(np.ones((1, 4, 4)), everything), np.zeros((1, 4, 4)))


def test_the_noise_is_local_seeded_and_of_the_given_size() -> None:
    x = torch.zeros(2, 1, 30, 30, dtype=DT)
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, :, 5:25, 5:25] = True
    state = torch.random.get_rng_state()
    first = NoisyLinear(noise=0.1).fill(x, mask, torch.Generator().manual_seed(3))
    again = NoisyLinear(noise=0.1).fill(x, mask, torch.Generator().manual_seed(3))
    assert torch.equal(first, again) and torch.equal(torch.random.get_rng_state(), state)
    assert float(first[mask].std()) == pytest.approx(0.1, rel=0.05)  # the imputed zeros plus the noise
    with pytest.raises(InputError, match="neighbouring elements"):
        NoisyLinear().fill(torch.zeros(2, 5), torch.ones(2, 5, dtype=torch.bool), torch.Generator())
    with pytest.raises(InputError, match="noise"):
        NoisyLinear(noise=-1.0)


def test_road_separates_the_exact_attribution_from_a_random_one() -> None:
    """On a linear model ``w . x`` the exact attribution ``w * x`` gives the largest LeRF-MoRF gap."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 1, bias=False)).to(DT).eval()
    x = torch.rand(6, 1, 8, 8, dtype=DT, generator=torch.Generator().manual_seed(1))
    exact = model[1].weight.detach().view(1, 1, 8, 8) * x
    noise = torch.randn(x.shape, dtype=DT, generator=torch.Generator().manual_seed(2))
    faithful = road(model, x, exact, 0, noise=0.0)
    random = road(model, x, noise, 0, noise=0.0)
    assert faithful.morf.curves.shape == (6, 10)
    np.testing.assert_allclose(faithful.morf.curves[:, 0], model(x)[:, 0].detach().numpy(), rtol=1e-12)
    assert (faithful.gap > random.gap).all()
    assert np.allclose(faithful.morf.fractions[1:], np.arange(1, 10) / 10, atol=1 / 64)
    # the same curves as pixel-flipping with the imputation as its removal, at the same fractions
    flipped = pixel_flipping(model, x, exact, 0, order="morf", fractions=[0.5], removal=NoisyLinear(0.0))
    np.testing.assert_allclose(flipped.curves[:, 1], faithful.morf.curves[:, 5], rtol=1e-10)


def test_bad_fractions_are_refused() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 1)).to(DT)
    x = torch.rand(2, 1, 4, 4, dtype=DT)
    with pytest.raises(ValueError, match="fractions"):
        road(model, x, x, 0, fractions=[0.5, 0.2])
