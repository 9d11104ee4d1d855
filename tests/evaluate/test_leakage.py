"""Mask leakage (ROAD's analysis, Rong et al., 2022): the class read from removal masks alone.

- On a model that reads one region per class, filling a region's mask into an empty canvas
  makes the model predict that region's class: exactly the share of samples whose mask
  covers their region.
- A fill equal to the canvas leaves the canvas as it is: the accuracy is the model's on
  the canvas, for every fraction and attribution.
- ROAD's finding on the digits drawn on textures: a fixed fill lets the model read the
  class from the mask alone (far above chance); noisy linear imputation hides the mask
  (at most chance).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xaikit
from xaikit.datasets import smooth_noise
from xaikit.evaluate import mask_leakage
from xaikit.models import digits_cnn, load_digits_split


class RegionSums(nn.Module):
    """Logit of class c: the sum of the inputs in the c-th quarter of a 16-feature vector."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), 4, 4).sum(2)


def test_a_mask_filled_with_ones_is_read_as_its_region() -> None:
    model = RegionSums()
    y = torch.tensor([0, 1, 2, 3, 1, 2])
    x = torch.zeros(6, 16)
    for row, cls in enumerate(y.tolist()):
        x[row, 4 * cls : 4 * cls + 4] = 1.0
    attribution = x.clone()
    attribution[4] = torch.arange(16.0)  # this sample's top features lie in region 3, not its class 1
    result = mask_leakage(model, x, attribution, y, canvas=torch.zeros(1, 16), removal=1.0,
                          fractions=[0.25, 0.5])
    assert result.chance == 0.25
    # 25%: four features, the whole class region for five samples, region 3 for sample 4
    assert result.accuracy[0] == pytest.approx(5 / 6)
    np.testing.assert_allclose(result.excess, result.accuracy - 0.25)


def test_a_fill_equal_to_the_canvas_leaks_nothing() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    x = torch.randn(20, 1, 4, 4)
    canvas = torch.zeros(20, 1, 4, 4)
    on_canvas = float((model(canvas).argmax(1) == model(x).argmax(1)).double().mean())
    for attribution in (x, -x, torch.randn(20, 1, 4, 4)):
        result = mask_leakage(model, x, attribution, canvas=canvas, removal=0.0, fractions=[0.1, 0.5, 1.0])
        np.testing.assert_allclose(result.accuracy, on_canvas)


def test_bad_arguments_name_the_fix() -> None:
    model = RegionSums()
    x = torch.rand(3, 16)
    with pytest.raises(ValueError, match="one row"):
        mask_leakage(model, x, x, canvas=torch.zeros(2, 16))
    with pytest.raises(ValueError, match="'morf' or 'lerf'"):
        mask_leakage(model, x, x, canvas=torch.zeros(1, 16), order="random")
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        mask_leakage(model, x, x, canvas=torch.zeros(1, 16), fractions=[0.0])
    with pytest.raises(TypeError, match="canvas must be a tensor"):
        mask_leakage(model, x, x, canvas=np.zeros((1, 16)))  # type: ignore[arg-type]


def test_the_textured_digits_keep_split_and_labels() -> None:
    _, y_black, x_black, _ = load_digits_split()
    _, y_texture, x_texture, _ = load_digits_split(background="texture")
    texture = smooth_noise(1797, (8, 8))
    assert torch.equal(y_black, y_texture)
    assert float(x_texture.min()) >= 0.15 - 1e-6 and float(x_texture.max()) <= 1.0
    stroke = x_black == 1.0
    assert torch.equal(x_texture[stroke], x_black[stroke])  # full strokes stay white
    background = x_black == 0.0
    assert bool(((x_texture[background] >= 0.15 - 1e-6) & (x_texture[background] <= 0.65 + 1e-6)).all())
    assert texture.dtype == np.float32
    with pytest.raises(ValueError, match="background must be one of"):
        load_digits_split(background="white")


@pytest.mark.literature
def test_a_fixed_fill_leaks_the_class_and_noisy_linear_imputation_hides_it() -> None:
    model = digits_cnn(background="texture")
    x_train, _, x, y = load_digits_split(background="texture")
    x, y = x[:200], y[:200]
    assert float((model(x).argmax(1) == y).float().mean()) > 0.93
    canvas = torch.from_numpy(smooth_noise(len(x), (8, 8), seed=7))[:, None]
    explanation = xaikit.explain(model, x, y, method="lrp")
    fixed = mask_leakage(model, x, explanation, canvas=canvas, removal=float(x_train.mean()), fractions=[0.3])
    imputed = mask_leakage(model, x, explanation, canvas=canvas, removal="noisy_linear", fractions=[0.3])
    assert fixed.accuracy[0] > 0.5  # measured 0.70: five times chance
    assert imputed.accuracy[0] <= 0.15  # measured 0.08
