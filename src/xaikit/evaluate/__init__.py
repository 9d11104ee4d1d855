"""Evaluate explanations: faithfulness, randomization sanity checks, class sensitivity,
complexity, localization, axioms and runtime.

There is no ground truth for an explanation; these checks quantify how much to trust
one. Every metric runs batched on the model's device, takes any registered method by
name (or an explainer or a callable), works on tabular ``(N, d)``, time-series
``(N, C, T)`` and image ``(N, C, H, W)`` inputs, never modifies the model or the data,
and draws random numbers from local generators only.

One call runs a chosen set of metrics for several methods:

>>> import torch, xaikit
>>> from xaikit.evaluate import evaluate
>>> model = xaikit.models.MLP(5, (8,), 3).eval()
>>> result = evaluate(model, torch.randn(6, 5), methods=["lrp"], metrics=["pixel_flipping"])
>>> result.pivot().loc[("pixel_flipping", "aopc_morf")].shape
(1,)

Faithfulness
    :func:`pixel_flipping`, :func:`region_perturbation`, :func:`faithfulness_correlation`,
    :func:`sensitivity_n`, :func:`road` (remove and debias: noisy linear imputation),
    :func:`mask_leakage` (ROAD's analysis: does the removal mask alone reveal the class?),
    :func:`relevance_gain` (the symmetric relevance gain) and :func:`ranking_stability`
    (do removal strategies rank methods alike? Kendall's tau);
    removal by :class:`Constant`, :class:`Blur`, :class:`Inpaint`
    (biharmonic, scikit-image), :class:`Uniform` noise or the expectation over a
    :class:`~xaikit.perturbation.Background` set (:mod:`xaikit.perturbation.removal`, the
    replacements the perturbation explainers take as ``baseline``).
Randomization
    :func:`model_randomization` (cascading or independent), its repairs
    :func:`efficient_model_randomization` (eMPRT: rise in explanation entropy) and
    :func:`smooth_model_randomization` (sMPRT: on denoised explanations),
    :func:`class_sensitivity` (random logit), :func:`randomized_models`.
Similarity
    :func:`ssim`, :func:`spearman`, :func:`pearson`, :func:`hog_similarity`.
Complexity
    :func:`jpeg_size`, :func:`gini`, :func:`entropy`.
Localization
    :func:`pointing_game`, :func:`relevance_mass_accuracy`, :func:`relevance_rank_accuracy`,
    :func:`outside_inside_ratio`, :func:`segmentation_scores`.
Axioms
    :func:`completeness_gap`, :func:`implementation_invariance`, :func:`input_invariance`,
    :func:`continuity`; :func:`shapley_axioms` (efficiency, symmetry, dummy, linearity and
    monotonicity on constructed games, for any method).
Runtime
    :func:`explanation_rate`.
"""

from xaikit.evaluate._common import to_map
from xaikit.evaluate.axioms import (
    CompletenessResult,
    ContinuityResult,
    InvarianceResult,
    absorb_input_shift,
    completeness_gap,
    continuity,
    implementation_invariance,
    input_invariance,
)
from xaikit.evaluate.complexity import entropy, gini, heatmap_image, jpeg_size
from xaikit.evaluate.faithfulness import (
    FlippingResult,
    SensitivityNResult,
    SubsetResult,
    faithfulness_correlation,
    pixel_flipping,
    region_perturbation,
    sensitivity_n,
)
from xaikit.evaluate.features import feature_groups
from xaikit.evaluate.leakage import LeakageResult, mask_leakage
from xaikit.evaluate.localization import (
    outside_inside_ratio,
    pointing_game,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
    segmentation_scores,
)
from xaikit.evaluate.randomization import (
    ClassSensitivityResult,
    RandomizationResult,
    class_sensitivity,
    model_randomization,
    randomizable_layers,
    randomized_models,
    reinitialize,
)
from xaikit.evaluate.registry import (
    METRICS,
    Context,
    Scores,
    metric_names,
    register_metric,
    unregister_metric,
)
from xaikit.evaluate.relevance_gain import (
    RankingStability,
    RelevanceGain,
    ranking_stability,
    relevance_gain,
)
from xaikit.evaluate.revisited import (
    EfficientRandomizationResult,
    efficient_model_randomization,
    histogram_entropy,
    smooth_model_randomization,
)
from xaikit.evaluate.road import ROAD_FRACTIONS, RoadResult, road
from xaikit.evaluate.runner import DEFAULT_METRICS, EvaluationResult, evaluate
from xaikit.evaluate.runtime import explanation_rate
from xaikit.evaluate.shapley_axioms import AXIOMS, axiom_table, shapley_axioms
from xaikit.evaluate.similarity import (
    SIMILARITIES,
    hog_similarity,
    pearson,
    rank,
    scale_unit,
    spearman,
    ssim,
)
from xaikit.evaluate.specs import MethodSpec, method_specs
from xaikit.perturbation.removal import (
    Blur,
    Constant,
    Inpaint,
    Removal,
    Uniform,
    as_removal,
    gaussian_blur,
)

__all__ = [
    "AXIOMS",
    "DEFAULT_METRICS",
    "METRICS",
    "ROAD_FRACTIONS",
    "SIMILARITIES",
    "Blur",
    "ClassSensitivityResult",
    "CompletenessResult",
    "Constant",
    "Context",
    "ContinuityResult",
    "EfficientRandomizationResult",
    "EvaluationResult",
    "FlippingResult",
    "Inpaint",
    "InvarianceResult",
    "LeakageResult",
    "MethodSpec",
    "RandomizationResult",
    "RankingStability",
    "RelevanceGain",
    "Removal",
    "RoadResult",
    "Scores",
    "SensitivityNResult",
    "SubsetResult",
    "Uniform",
    "absorb_input_shift",
    "as_removal",
    "axiom_table",
    "class_sensitivity",
    "completeness_gap",
    "continuity",
    "efficient_model_randomization",
    "entropy",
    "evaluate",
    "explanation_rate",
    "faithfulness_correlation",
    "feature_groups",
    "gaussian_blur",
    "gini",
    "heatmap_image",
    "histogram_entropy",
    "hog_similarity",
    "implementation_invariance",
    "input_invariance",
    "jpeg_size",
    "mask_leakage",
    "method_specs",
    "metric_names",
    "model_randomization",
    "outside_inside_ratio",
    "pearson",
    "pixel_flipping",
    "pointing_game",
    "randomizable_layers",
    "randomized_models",
    "rank",
    "ranking_stability",
    "region_perturbation",
    "register_metric",
    "reinitialize",
    "relevance_gain",
    "relevance_mass_accuracy",
    "relevance_rank_accuracy",
    "road",
    "scale_unit",
    "segmentation_scores",
    "sensitivity_n",
    "shapley_axioms",
    "smooth_model_randomization",
    "spearman",
    "ssim",
    "to_map",
    "unregister_metric",
]
