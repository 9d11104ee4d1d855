"""Do the qualitative findings of ROAD, the relevance gain and eMPRT hold on the digits CNN?

Each finding is measured twice: on the digits as scikit-learn ships them (black
background) and on the digits drawn onto smooth random textures
(``load_digits_split(background="texture")``, a DigitsCNN trained on them), where a
removal's fill value is visible as it is on natural images.

- ROAD (Rong et al., 2022), the leakage analysis: the shape of the removed pixels carries
  the class. Printed: the model's accuracy on class-free textures into which the 30% MoRF
  mask of an explanation is filled (chance 10%), by fill; and Kendall's tau between the
  MoRF and the LeRF ranking of the methods under each removal (ROAD's consistency claim).
- Relevance gain (Blücher et al., 2024): removal strategies agree more on the ranking by the
  symmetric relevance gain than by MoRF or LeRF alone. Printed: mean tau over removal pairs.
- eMPRT (Hedström et al., 2024): explanations grow more complex when the network is
  randomized. Printed: the mean relative entropy rise per method.

Run::

    .venv/bin/python benchmarks/findings_evaluation.py
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from scipy.stats import kendalltau

import xaikit
from xaikit.datasets import smooth_noise
from xaikit.evaluate import Constant, efficient_model_randomization, mask_leakage, ranking_stability

METHODS = ("saliency", "gradient_x_input", "lrp", "integrated_gradients", "guided_backprop", "deconvnet",
           "occlusion", "rise", "excitation_backprop", "contrastive_lrp")
SAMPLES = 128


def _options(method: str) -> dict[str, Any]:
    return {"progress": False} if method in ("occlusion", "rise") else {}


def findings(background: str) -> None:
    """Print the three findings' numbers for the digits on ``background``."""
    model = xaikit.models.digits_cnn(background=background)
    x_train, _, x, y = xaikit.models.load_digits_split(background=background)
    x, y = x[:SAMPLES], y[:SAMPLES]
    accuracy = float((model(x).argmax(1) == y).float().mean())
    print(f"\n## digits on {background} (test accuracy {accuracy:.3f}, {SAMPLES} test digits)")
    explanations = {m: xaikit.explain(model, x, y, method=m, **_options(m)).attribution for m in METHODS}
    mean = float(x_train.mean())
    fills = {"zero": 0.0, "mean": mean, "one": 1.0, "blur": "blur", "noisy linear": "noisy_linear"}
    canvas = (torch.from_numpy(smooth_noise(len(x), (8, 8), seed=7))[:, None] if background == "texture"
              else torch.zeros_like(x))
    print("ROAD leakage: accuracy from the 30% MoRF mask alone on a class-free canvas, by fill (chance 0.10)")
    for method in ("lrp", "saliency", "integrated_gradients", "occlusion"):
        row = {name: mask_leakage(model, x, explanations[method], y, canvas=canvas, removal=fill,
                                  fractions=[0.3]).accuracy[0] for name, fill in fills.items()}
        print(f"  {method:21s} " + "  ".join(f"{name} {value:.2f}" for name, value in row.items()))
    explanations["random"] = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    removals = {"zero": "constant", "mean": Constant(mean), "blur": "blur", "noisy linear": "noisy_linear",
                "uniform": "uniform"}
    result = ranking_stability(model, x, explanations, y, removals=removals, fractions=[k / 10 for k in range(1, 10)])
    print(f"{len(explanations)} methods (a random map included), 10%-90% removed")
    for k, removal in enumerate(result.removals):
        tau = kendalltau(result.scores["morf"][k], result.scores["lerf"][k]).statistic
        print(f"ROAD consistency, {removal}: Kendall tau between the MoRF and the LeRF ranking = {tau:.3f}")
    for score in ("morf", "lerf", "srg"):
        print(f"relevance gain: mean Kendall tau over removal pairs, {score} = {result.mean_tau(score):.3f}")
    for method in METHODS:
        rise = efficient_model_randomization(model, x, method, y, method_options=_options(method) or None).mean
        print(f"eMPRT, {method}: {rise:+.3f}")


def main() -> None:
    """Print the findings on both backgrounds."""
    warnings.simplefilter("ignore")
    for background in ("black", "texture"):
        findings(background)


if __name__ == "__main__":
    main()
