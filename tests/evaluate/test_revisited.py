"""eMPRT and sMPRT (issue 16, item 5): what must hold whatever the model.

Agreement with Quantus's ``EfficientMPRT`` and its entropy is in ``test_eval_quantus.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _models import seeded_digits_cnn
from torch import nn

from xaikit.evaluate import (
    efficient_model_randomization,
    histogram_entropy,
    smooth_model_randomization,
)
from xaikit.gradients import NoiseTunnel


def the_input(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """An 'explanation' that ignores the model (an edge detector would too)."""
    return inputs.clone()


def setup() -> tuple[nn.Module, torch.Tensor]:
    return seeded_digits_cnn(1), torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(2))


def test_a_model_independent_explanation_scores_zero_and_stays_identical() -> None:
    model, x = setup()
    result = efficient_model_randomization(model, x, the_input, 0)
    np.testing.assert_array_equal(result.scores, np.zeros(6))
    assert result.layers == [name for name, m in model.named_modules() if hasattr(m, "reset_parameters")]
    assert not np.allclose(result.original_output_entropy, result.random_output_entropy)  # the model did change
    smooth = smooth_model_randomization(model, x, "saliency", 0, samples=4)
    assert smooth.order == "bottom_up" and list(smooth.scores) == ["spearman_abs"]


def test_entropy_counts_distinct_levels() -> None:
    two_levels = np.zeros((1, 64))
    two_levels[0, :32] = 1.0
    assert histogram_entropy(two_levels, bins=10)[0] == pytest.approx(np.log(2))
    spread = np.arange(64.0)[None]
    assert histogram_entropy(spread, bins=64)[0] == pytest.approx(np.log(64))
    assert histogram_entropy(np.full((1, 5), 3.0))[0] == 0.0  # one level: no uncertainty
    with pytest.raises(ValueError, match="bins"):
        histogram_entropy(spread, bins=0)


def test_smooth_randomization_is_the_test_on_noise_tunnel_explanations() -> None:
    from xaikit.evaluate import model_randomization

    model, x = setup()
    smooth = smooth_model_randomization(model, x, "gradient_x_input", 1, samples=6, noise=0.2)
    tunnel = NoiseTunnel(base_method="gradient_x_input", samples=6, stdev=0.2, seed=0, progress=False)
    direct = model_randomization(model, x, tunnel, 1, order="bottom_up", similarities=["spearman_abs"])
    np.testing.assert_allclose(smooth.scores["spearman_abs"], direct.scores["spearman_abs"], rtol=1e-12)
    fixed = smooth_model_randomization(model, x, the_input, 1, samples=3)  # a callable is smoothed too
    np.testing.assert_allclose(fixed.scores["spearman_abs"], 1.0)  # and the input ignores the model


@pytest.mark.literature
def test_explanations_grow_more_complex_when_the_textured_digits_cnn_is_randomized() -> None:
    """eMPRT's finding (Hedström et al., 2024): a randomized network's explanations have a higher entropy.

    On the digits drawn on textures; on the black digits the 8x8 maps' entropy saturates and
    the rise is within +-0.02 (benchmarks/findings_evaluation.py).
    """
    from xaikit.models import digits_cnn, load_digits_split

    model = digits_cnn(background="texture")
    _, _, x, y = load_digits_split(background="texture")
    for method in ("lrp", "gradient_x_input", "integrated_gradients"):
        rise = efficient_model_randomization(model, x[:128], method, y[:128]).mean
        assert rise > 0.015, method  # measured +0.056, +0.031, +0.038
