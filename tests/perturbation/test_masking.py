"""One masking engine and one removal API for the perturbation explainers and the metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import xaikit
from xaikit.core.targets import ClassTarget, OutputSelection
from xaikit.evaluate import pixel_flipping
from xaikit.perturbation import Background, Blur, Constant, Inpaint, Removal, Uniform
from xaikit.perturbation.baseline import resolve_baseline
from xaikit.perturbation.masking import MaskedForward
from xaikit.perturbation.removal import Reference, as_removal, gaussian_blur


class Counting(nn.Module):
    """A float64 linear model that records the rows of every forward pass."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.linear = nn.Linear(d, 2).double()
        self.passes: list[int] = []

    def forward(self, x: Tensor) -> Tensor:
        self.passes.append(len(x))
        return self.linear(x.flatten(1))


def test_every_replacement_is_one_kind_of_removal() -> None:
    x = torch.randn(4, 6)
    bg = torch.randn(3, 6)
    for option in (None, 0.5, torch.ones(6), torch.randn(4, 6), Background(bg), Background(bg, mode="mean"), Blur()):
        assert isinstance(resolve_baseline(option, x), Removal)
    for option in ("constant", 0.5, torch.ones(6), "blur", "inpaint", "uniform", Background(bg)):
        assert isinstance(as_removal(option), Removal)
    assert Background(bg).expectation and Background(bg).rows == 3
    assert not Background(bg, mode="mean").expectation and Background(bg, mode="mean").rows == 1
    assert resolve_baseline(Background(bg), x).rows == 3
    # an expectation fills with its rows; apply completes every input with each of them
    mixed = Background(bg).apply(x, torch.ones_like(x, dtype=torch.bool))
    assert mixed.shape == (4, 3, 6) and torch.equal(mixed[2], bg)


def test_a_per_sample_reference_must_fit_the_batch() -> None:
    ref = Reference(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="3 per-sample values but the batch has 4"):
        ref.prepare(torch.zeros(4, 5))


def test_explainers_take_any_removal_as_baseline() -> None:
    torch.manual_seed(0)
    model = xaikit.models.SmallCNN(3, 4, input_size=8).eval()
    x = torch.rand(3, 3, 8, 8)
    plain = xaikit.explain(model, x, target=1, method="occlusion", patch=2, baseline=0.3, progress=False)
    constant = xaikit.explain(model, x, target=1, method="occlusion", patch=2, baseline=Constant(0.3), progress=False)
    assert torch.equal(plain.attribution, constant.attribution)
    blurred = xaikit.explain(model, x, target=1, method="occlusion", patch=2, baseline=Blur(1.0), progress=False)
    per_sample = gaussian_blur(x, 1.0)
    expected = xaikit.explain(model, x, target=1, method="occlusion", patch=2, baseline=per_sample, progress=False)
    assert torch.equal(blurred.attribution, expected.attribution)


def test_random_baselines_are_deterministic_and_leave_the_global_state_alone() -> None:
    model = xaikit.models.MLP(6, (8,), 2).eval()
    x = torch.randn(5, 6)
    state = torch.get_rng_state()
    first = xaikit.explain(model, x, target=0, method="shapley", baseline=Uniform(), progress=False)
    second = xaikit.explain(model, x, target=0, method="shapley", baseline=Uniform(), progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first.attribution, second.attribution)
    assert torch.allclose(first.attribution.sum(1), first.output, atol=1e-5)


def test_metrics_take_a_background_set() -> None:
    model = Counting(6).eval()
    x = torch.randn(4, 6, dtype=torch.float64)
    attribution = torch.randn(4, 6, dtype=torch.float64)
    bg = torch.randn(3, 6, dtype=torch.float64)
    mean = pixel_flipping(model, x, attribution, 0, removal=Background(bg, mode="mean"), progress=False)
    assert np.array_equal(mean.curves, pixel_flipping(model, x, attribution, 0, removal=bg.mean(0), progress=False).curves)
    expectation = pixel_flipping(model, x, attribution, 0, removal=Background(bg), progress=False)
    rows = [pixel_flipping(model, x, attribution, 0, removal=row, progress=False).curves for row in bg]
    np.testing.assert_allclose(expectation.curves, np.mean(rows, axis=0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch_size", [None, 1, 5, 8, 64])
def test_the_engine_bounds_its_passes_and_its_values_do_not_depend_on_them(batch_size: int | None) -> None:
    model = Counting(6).eval()
    x = torch.randn(4, 6, dtype=torch.float64)
    bg = torch.randn(3, 6, dtype=torch.float64)
    target = ClassTarget(1).resolve(model(x))
    engine = MaskedForward(model, x, Background(bg), target, batch_size)
    masks = torch.rand(11, 6, generator=torch.Generator().manual_seed(0)) < 0.5
    ids = torch.arange(11) % 4
    engine.model_batch()  # the automatic size runs the model on one row
    model.passes.clear()
    values = engine.values(ids, lambda rows: masks[rows])
    assert engine.rows == 3 and sum(model.passes) == 33
    if batch_size is not None:
        assert max(model.passes) <= max(batch_size, 3)
    completed = torch.where(masks[:, None], bg[None], x[ids][:, None])
    expected = model.linear(completed)[..., 1].mean(1)
    torch.testing.assert_close(values, expected, rtol=0, atol=1e-12)


def test_copies_of_the_whole_batch_and_mask_dependent_removals() -> None:
    model = Counting(2 * 6 * 6).eval()
    x = torch.rand(3, 2, 6, 6, dtype=torch.float64)
    target = OutputSelection(lambda out: out[:, 0] - out[:, 1]).resolve(model(x))
    engine = MaskedForward(model, x, Inpaint(), target, batch_size=4, desc="test")
    masks = torch.rand(5, 3, 1, 6, 6, generator=torch.Generator().manual_seed(1)) < 0.3
    values = engine.copies(5, lambda points: masks[points].expand(-1, -1, 2, -1, -1).flatten(0, 1))
    assert values.shape == (5, 3) and max(model.passes[1:]) <= 4
    for p in range(5):
        out = model(Inpaint().apply(x, masks[p].expand_as(x)))
        torch.testing.assert_close(values[p], out[:, 0] - out[:, 1], rtol=0, atol=1e-12)
