"""Prediction difference analysis (issue 16, item 1): the limiting case it shares with occlusion,
the weight of evidence written out window by window, and what conditional sampling sees."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import xaikit
from xaikit.utils.errors import InputError

DT = torch.float64


def linear_image_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(25, 3)).to(DT).eval()


def test_marginal_pda_of_the_output_is_occlusion_with_the_marginal_mean_on_a_linear_model() -> None:
    model = linear_image_model(0)
    data = torch.rand(12, 1, 5, 5, dtype=DT, generator=torch.Generator().manual_seed(1))
    x = torch.rand(3, 1, 5, 5, dtype=DT, generator=torch.Generator().manual_seed(2))
    pda = xaikit.explain(model, x, 1, method="prediction_difference", data=data, sampling="marginal", window=2,
                         samples=12, evidence="output")
    occlusion = xaikit.explain(model, x, 1, method="occlusion", patch=2, stride=1, baseline=data.mean(0))
    torch.testing.assert_close(pda.attribution, occlusion.attribution, rtol=1e-10, atol=1e-12)


def test_weight_of_evidence_written_out_window_by_window() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 6), nn.Tanh(), nn.Linear(6, 3)).to(DT).eval()
    data = torch.rand(5, 1, 4, 4, dtype=DT, generator=torch.Generator().manual_seed(4))
    x = torch.rand(1, 1, 4, 4, dtype=DT, generator=torch.Generator().manual_seed(5))
    e = xaikit.explain(model, x, 2, method="prediction_difference", data=data, sampling="marginal", window=2,
                       samples=5)

    def log2_odds(p: torch.Tensor) -> torch.Tensor:
        return torch.log2(p / (1 - p))

    with torch.no_grad():
        p_x = model(x).softmax(1)[0, 2]
        total, covered = torch.zeros(4, 4, dtype=DT), torch.zeros(4, 4, dtype=DT)
        for r in range(3):
            for c in range(3):
                copies = x.repeat(5, 1, 1, 1)
                copies[:, 0, r:r + 2, c:c + 2] = data[:, 0, r:r + 2, c:c + 2]
                p_without = model(copies).softmax(1)[:, 2].mean()
                total[r:r + 2, c:c + 2] += log2_odds(p_x) - log2_odds(p_without)
                covered[r:r + 2, c:c + 2] += 1
    torch.testing.assert_close(e.attribution[0, 0], total / covered, rtol=1e-9, atol=1e-12)


def test_conditional_sampling_finds_no_evidence_in_a_pixel_its_neighbours_predict() -> None:
    """Training images are flat (every pixel the same random grey): a window is fully predicted by
    its frame, so CPDA puts (almost) nothing on it, while marginal sampling replaces it by other
    greys and finds evidence."""
    model = linear_image_model(6)
    levels = torch.rand(40, 1, 1, 1, dtype=DT, generator=torch.Generator().manual_seed(7))
    data = levels.expand(40, 1, 5, 5).clone()
    x = torch.full((2, 1, 5, 5), 0.8, dtype=DT)
    conditional = xaikit.explain(model, x, 0, method="cpda", data=data, window=2, samples=8, padding=1)
    marginal = xaikit.explain(model, x, 0, method="pda", data=data, sampling="marginal", window=2, samples=8)
    assert float(conditional.attribution.abs().max()) < 1e-3 * float(marginal.attribution.abs().max())
    again = xaikit.explain(model, x, 0, method="cpda", data=data, window=2, samples=8, padding=1)
    assert torch.equal(again.attribution, conditional.attribution)  # seeded draws


def test_bad_options_are_refused() -> None:
    data = torch.rand(4, 1, 5, 5, dtype=DT)
    with pytest.raises(InputError, match="sampling"):
        xaikit.explain(linear_image_model(0), data, 0, method="pda", data=data, sampling="joint")
    with pytest.raises(InputError, match="series or images"):
        xaikit.explain(nn.Linear(4, 2).to(DT), torch.rand(2, 4, dtype=DT), 0, method="pda",
                       data=torch.rand(5, 4, dtype=DT), sampling="marginal")
    with pytest.raises(InputError, match="conditional sampling needs training data"):
        xaikit.explain(nn.Linear(4, 2).to(DT), torch.rand(2, 4, dtype=DT), 0, method="pda",
                       data=torch.rand(5, 4, dtype=DT))
    with pytest.raises(InputError, match="training samples"):
        xaikit.explain(linear_image_model(0), data, 0, method="pda", data=data[:1])


def test_occlusion_with_an_inpainting_fill_sees_no_change_where_the_image_is_predictable() -> None:
    """Occlusion with biharmonic inpainting (issue 16, item 1): on a linear ramp the inpainted patch is
    the ramp itself, so a linear model's output does not move, while a zero fill does move it."""
    from xaikit.perturbation import Inpaint

    rows, columns = torch.meshgrid(torch.arange(8.0, dtype=DT), torch.arange(8.0, dtype=DT), indexing="ij")
    ramp = (0.1 * rows + 0.05 * columns + 0.2)[None, None]
    torch.manual_seed(8)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2)).to(DT).eval()
    inpainted = xaikit.explain(model, ramp, 0, method="occlusion", patch=2, stride=2, baseline=Inpaint())
    zeros = xaikit.explain(model, ramp, 0, method="occlusion", patch=2, stride=2)
    interior = (slice(None), slice(None), slice(2, 6), slice(2, 6))  # patches away from the border
    assert float(inpainted.attribution[interior].abs().max()) < 1e-6 * float(zeros.attribution[interior].abs().max())
