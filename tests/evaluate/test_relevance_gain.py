"""The symmetric relevance gain and the ranking-stability report (issue 16, item 5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau
from torch import nn

from xaikit.evaluate import pixel_flipping, ranking_stability, relevance_gain

DT = torch.float64


def linear_setup() -> tuple[nn.Module, torch.Tensor, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 2)).to(DT).eval()
    x = torch.rand(5, 1, 6, 6, dtype=DT, generator=torch.Generator().manual_seed(1))
    exact = model[1].weight[0].detach().view(1, 1, 6, 6) * x  # the exact decomposition of logit 0 (removal 0)
    explanations = {
        "exact": exact,
        "half noise": exact + 0.5 * exact.std() * torch.randn(x.shape, dtype=DT, generator=torch.Generator().manual_seed(2)),
        "noise": torch.randn(x.shape, dtype=DT, generator=torch.Generator().manual_seed(3)),
    }
    return model, x, explanations


def test_the_gain_is_lerf_area_minus_morf_area_and_ranks_the_exact_attribution_first() -> None:
    model, x, explanations = linear_setup()
    gain = relevance_gain(model, x, explanations["exact"], 0, step=4)
    morf = pixel_flipping(model, x, explanations["exact"], 0, order="morf", step=4)
    lerf = pixel_flipping(model, x, explanations["exact"], 0, order="lerf", step=4)
    np.testing.assert_allclose(gain.srg, lerf.auc - morf.auc, rtol=1e-12)
    assert gain.score("morf") == pytest.approx(-morf.mean_auc) and gain.score("lerf") == pytest.approx(lerf.mean_auc)
    scores = [relevance_gain(model, x, e, 0, step=4).score("srg") for e in explanations.values()]
    assert scores[0] > scores[1] > scores[2]
    with pytest.raises(ValueError, match="score must be"):
        gain.score("aopc")


def test_ranking_stability_is_kendalls_tau_between_the_removals_rankings() -> None:
    model, x, explanations = linear_setup()
    result = ranking_stability(model, x, explanations, 0, removals={"zero": 0.0, "blur": "blur", "also zero": 0.0},
                               step=6)
    assert result.removals == ["zero", "blur", "also zero"] and result.methods == list(explanations)
    for score in ("morf", "lerf", "srg"):
        table = result.scores[score]
        expected = [kendalltau(table[0], table[1]).statistic, kendalltau(table[0], table[2]).statistic,
                    kendalltau(table[1], table[2]).statistic]
        np.testing.assert_allclose(result.kendall_tau(score), expected)
        assert result.kendall_tau(score)[1] == pytest.approx(1.0)  # the same removal twice ranks alike
    assert list(result.to_frame().columns) == ["score", "removal", "method", "value"]
    assert len(result.to_frame()) == 3 * 3 * 3
    with pytest.raises(ValueError, match="at least two methods"):
        ranking_stability(model, x, {"exact": explanations["exact"]}, 0)
    with pytest.raises(ValueError, match="at least two"):
        ranking_stability(model, x, explanations, 0, removals=["constant"])


@pytest.mark.literature
def test_the_relevance_gain_ranks_methods_alike_across_removals_on_the_textured_digits() -> None:
    """Blücher et al. (2024): rankings by the symmetric relevance gain agree across removal
    strategies more than rankings by MoRF or LeRF alone (measured mean Kendall tau over the
    pairs of 4 removals: SRG 0.81, MoRF 0.67, LeRF 0.57; with the 11 methods of
    benchmarks/findings_evaluation.py 0.55, 0.43, 0.35)."""
    import xaikit
    from xaikit.evaluate import Constant
    from xaikit.models import digits_cnn, load_digits_split

    model = digits_cnn(background="texture")
    x_train, _, x, y = load_digits_split(background="texture")
    x, y = x[:128], y[:128]
    methods = ("saliency", "gradient_x_input", "lrp", "integrated_gradients", "guided_backprop", "deconvnet")
    explanations = {m: xaikit.explain(model, x, y, method=m).attribution for m in methods}
    explanations["random"] = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    removals = {"mean": Constant(float(x_train.mean())), "blur": "blur", "noisy linear": "noisy_linear",
                "uniform": "uniform"}
    result = ranking_stability(model, x, explanations, y, removals=removals, fractions=[k / 10 for k in range(1, 10)])
    assert result.mean_tau("srg") > max(result.mean_tau("morf"), result.mean_tau("lerf")) + 0.05
