"""RISE (issue 16, item 1): the estimator written out mask by mask, and its expectation on a
linear model."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import xaikit
from xaikit.perturbation import RISE, Blur, Inpaint, MaskSampler
from xaikit.utils.errors import InputError

DT = torch.float64


def image_model(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 5, 4)).to(DT).eval()


def rise_by_hand(model: nn.Module, x: torch.Tensor, target: int, masks: torch.Tensor, p: float,
                 fill: torch.Tensor | None = None) -> torch.Tensor:
    """``1 / (K p) sum_k f(M_k x + (1 - M_k) b) M_k``, one mask and one sample at a time."""
    fill = torch.zeros_like(x) if fill is None else fill
    total = torch.zeros_like(x)
    for n in range(len(x)):
        for mask in masks:
            value = model((mask * x[n] + (1 - mask) * fill[n])[None])[0, target]
            total[n] += value.detach() * mask
    return total / (len(masks) * p)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 5), st.sampled_from([0.3, 0.5, 0.8]))
def test_rise_is_the_papers_estimator_mask_by_mask(seed: int, cells: int, p: float) -> None:
    model = image_model(seed % 3)
    x = torch.rand(2, 2, 6, 5, dtype=DT, generator=torch.Generator().manual_seed(seed))
    e = xaikit.explain(model, x, 1, method="rise", masks=40, cells=cells, probability=p, seed=seed, batch_size=13)
    masks = MaskSampler(40, x.shape[1:], cells, p, seed).render(torch.arange(40))
    assert masks.shape == (40, 1, 6, 5) and bool((masks >= 0).all() and (masks <= 1).all())
    torch.testing.assert_close(e.attribution, rise_by_hand(model, x, 1, masks, p), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(e.output, model(x)[:, 1].detach())


def test_on_a_linear_model_the_saliency_converges_to_its_expectation() -> None:
    """Independent masks (tabular): E[S_i] = (1/p) E[(w . (M x) + b) M_i] = (1 - p) w_i x_i + p (w . x) + b,
    so the saliency ranks the features by w_i x_i; the error falls as 1 / sqrt(masks)."""
    torch.manual_seed(0)
    model = nn.Linear(6, 2).to(DT)
    x = torch.rand(4, 6, dtype=DT, generator=torch.Generator().manual_seed(1)) + 0.5
    w, b, p = model.weight[0].detach(), model.bias[0].detach(), 0.4
    expected = (1 - p) * w * x + p * (x @ w)[:, None] + b
    errors = []
    for masks in (1_000, 64_000):
        e = xaikit.explain(model, x, 0, method="rise", masks=masks, probability=p, seed=3)
        errors.append(float((e.attribution - expected).abs().max()))
    assert errors[1] < errors[0] / 3  # sqrt(64) = 8 times smaller in expectation
    assert errors[1] < 0.02 * float(expected.abs().max())
    assert torch.equal(e.attribution.argsort(1), expected.argsort(1))


def test_masks_are_deterministic_given_the_seed_and_blur_mixes_in() -> None:
    model, x = image_model(1), torch.rand(3, 2, 6, 5, dtype=DT, generator=torch.Generator().manual_seed(2))
    first = xaikit.explain(model, x, method="rise", masks=30, cells=3, seed=7)
    again = xaikit.explain(model, x, method="rise", masks=30, cells=3, seed=7, batch_size=4)
    torch.testing.assert_close(again.attribution, first.attribution, rtol=1e-12, atol=1e-14)
    other = xaikit.explain(model, x, method="rise", masks=30, cells=3, seed=8)
    assert not torch.allclose(other.attribution, first.attribution)
    state = torch.random.get_rng_state()
    blurred = xaikit.explain(model, x, first.target, method="rise", masks=30, cells=3, seed=7, baseline=Blur(1.0))
    assert torch.equal(torch.random.get_rng_state(), state)  # no global random state touched
    masks = MaskSampler(30, x.shape[1:], 3, 0.5, 7).render(torch.arange(30))
    by_hand = [rise_by_hand(model, x[n:n + 1], int(first.target[n]), masks, 0.5,
                            Blur(1.0).apply(x[n:n + 1], torch.ones_like(x[n:n + 1], dtype=torch.bool)))
               for n in range(3)]
    torch.testing.assert_close(blurred.attribution, torch.cat(by_hand), rtol=1e-10, atol=1e-12)


def test_series_masks_and_bad_options() -> None:
    series = nn.Sequential(nn.Conv1d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 10, 2)).to(DT)
    e = xaikit.explain(series, torch.rand(2, 1, 10, dtype=DT), 0, method="rise", masks=16, cells=3)
    assert e.attribution.shape == (2, 1, 10)
    with pytest.raises(InputError, match="probability"):
        RISE(probability=1.0)
    with pytest.raises(InputError, match="masks"):
        RISE(masks=0)
    with pytest.raises(InputError, match="inpainting"):
        xaikit.explain(image_model(0), torch.rand(1, 2, 6, 5, dtype=DT), 0, method="rise", masks=4, baseline=Inpaint())
