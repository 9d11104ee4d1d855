"""Do the qualitative findings of ROAD, the relevance gain and eMPRT hold on the digits CNN?

- ROAD (Rong et al., 2022): fixed-value removal leaks class information, so MoRF and LeRF
  rank methods inconsistently; noisy linear imputation should make them agree. Printed:
  Kendall's tau between the MoRF and the LeRF ranking under each removal.
- Relevance gain (Blücher et al., 2024): removal strategies agree more on the ranking by the
  symmetric relevance gain than by MoRF or LeRF alone. Printed: mean tau over removal pairs.
- eMPRT (Hedström et al., 2024): explanations grow more complex when the network is
  randomized. Printed: the mean relative entropy rise per method.

Run::

    .venv/bin/python benchmarks/findings_evaluation.py
"""

from __future__ import annotations

import warnings

import torch
from scipy.stats import kendalltau

import xaikit
from xaikit.evaluate import efficient_model_randomization, ranking_stability

METHODS = ("saliency", "gradient_x_input", "lrp", "integrated_gradients", "guided_backprop", "deconvnet",
           "occlusion", "rise", "excitation_backprop", "contrastive_lrp")
REMOVALS = {"zero": "constant", "blur": "blur", "noisy linear": "noisy_linear", "uniform": "uniform"}


def main() -> None:
    """Print the three findings' numbers."""
    warnings.simplefilter("ignore")
    model = xaikit.models.digits_cnn()
    _, _, x, y = xaikit.models.load_digits_split()
    x, y = x[:64], y[:64]
    explanations = {m: xaikit.explain(model, x, y, method=m, **({"progress": False} if m in ("occlusion", "rise")
                                                                  else {})).attribution for m in METHODS}
    explanations["random"] = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    result = ranking_stability(model, x, explanations, y, removals=REMOVALS, fractions=[k / 10 for k in range(1, 10)])
    print(f"{len(explanations)} methods (a random map included), 64 test digits, 10%-90% removed")
    for k, removal in enumerate(result.removals):
        tau = kendalltau(result.scores["morf"][k], result.scores["lerf"][k]).statistic
        print(f"ROAD check, {removal}: Kendall tau between the MoRF and the LeRF ranking = {tau:.3f}")
    for score in ("morf", "lerf", "srg"):
        print(f"relevance gain check: mean Kendall tau over removal pairs, {score} = {result.mean_tau(score):.3f}")
    for method in METHODS:
        rise = efficient_model_randomization(model, x, method, y, method_options={"progress": False}
                                             if method in ("occlusion", "rise") else None).mean
        print(f"eMPRT, {method}: {rise:+.3f}")


if __name__ == "__main__":
    main()
