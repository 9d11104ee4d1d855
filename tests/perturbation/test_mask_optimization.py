"""Meaningful and extremal perturbation (issue 16, item 1): on an image where one region alone
decides the class, the deletion mask deletes that region and the preservation mask keeps it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import xaikit
from xaikit.perturbation import ExtremalPerturbation, MeaningfulPerturbation
from xaikit.utils.errors import InputError

DT = torch.float64


def region_model() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """Class 1's logit is half the sum of a 4x4 region; class 0's is a constant 2."""
    region = torch.zeros(16, 16, dtype=torch.bool)
    region[2:6, 9:13] = True
    model = nn.Sequential(nn.Flatten(), nn.Linear(256, 2)).to(DT).eval()
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[1] = 0.5 * region.flatten().to(DT)
        model[1].bias.copy_(torch.tensor([2.0, 0.0]))
    return model, torch.ones(2, 1, 16, 16, dtype=DT), region


def test_meaningful_perturbation_deletes_the_deciding_region() -> None:
    model, x, region = region_model()
    e = xaikit.explain(model, x, 1, method="meaningful_perturbation", removal=0.0, cells=16, iterations=150)
    deleted = e.attribution[:, 0]
    assert float(deleted[:, region].min()) > 0.95 and float(deleted[:, ~region].mean()) < 0.1
    assert bool((e.extras["masked_score"] < 0.2).all()) and bool((e.extras["original_score"] > 0.99).all())
    torch.testing.assert_close(e.output, torch.full((2,), 8.0, dtype=DT))  # the explained logit


def test_extremal_perturbation_keeps_the_deciding_region_at_its_area() -> None:
    model, x, region = region_model()
    e = xaikit.explain(model, x, 1, method="extremal_perturbation", removal=0.0, cells=16, area=16 / 256,
                       iterations=150)
    kept = e.extras["mask"][:, 0]
    assert float(kept[:, region].min()) > 0.99
    assert float(kept[:, ~region].mean()) < 0.05
    assert float((kept.flatten(1).sum(1) - 16).abs().max()) <= 4  # the (soft) area constraint, within 25%


def test_the_optimization_is_deterministic_and_leaves_the_global_state() -> None:
    model, x, _ = region_model()
    state = torch.random.get_rng_state()
    first = xaikit.explain(model, x, 1, method="extremal_perturbation", cells=8, iterations=20, seed=3)
    again = xaikit.explain(model, x, 1, method="extremal_perturbation", cells=8, iterations=20, seed=3)
    assert torch.equal(first.attribution, again.attribution)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_bad_options_are_refused() -> None:
    with pytest.raises(InputError, match="area"):
        ExtremalPerturbation(area=1.5)
    with pytest.raises(InputError, match="score"):
        MeaningfulPerturbation(score="logit")
    with pytest.raises(InputError, match="background set or inpainting"):
        MeaningfulPerturbation(removal="inpaint")
    with pytest.raises(InputError, match="series"):
        xaikit.explain(nn.Linear(4, 2).to(DT), torch.rand(3, 4, dtype=DT), 0, method="meaningful_perturbation")
