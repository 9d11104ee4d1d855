"""Perturbation and Shapley methods, and activation maximization.

Registered methods (use with :func:`xaikit.explain`):

- ``"occlusion"``: average output drop over sliding patches (or per feature group);
- ``"shapley"``: exact Shapley values of feature groups (at most 20 groups);
- ``"shapley_sampling"``: permutation sampling (ApproShapley) with antithetic pairs;
- ``"kernel_shap"``: KernelSHAP, Shapley-kernel weighted regression on coalitions;
- ``"lime"``: kernel-weighted ridge surrogate on feature groups;
- ``"rise"``: RISE, the output averaged over random smooth masks (:class:`RISE`, :class:`MaskSampler`);
- ``"dasp"``: deep approximate Shapley propagation (means and variances through dense ReLU networks);
- ``"prediction_difference"``: prediction difference analysis, windows replaced by draws
  from the data (marginal, or conditional on their surroundings: CPDA), in weight of evidence;
- ``"meaningful_perturbation"``, ``"extremal_perturbation"``: optimized masks, the smallest
  deletion that destroys the class and the region of a given area that keeps it.

All take a ``baseline`` (:class:`Background` for a reference data set, or any
:class:`Removal`: :class:`Constant`, :class:`Blur`, :class:`Inpaint`, :class:`Uniform`, :class:`NoisyLinear`,
the replacements the evaluation metrics take as ``removal``) and, except the
sliding-window occlusion, feature ``groups`` (:class:`Patches`, :class:`Superpixels`,
:class:`ColumnGroups`, an integer mask). All evaluate their perturbed inputs with one
masking engine, :class:`xaikit.perturbation.masking.MaskedForward`. :func:`activation_maximization` synthesizes the
input a model output responds to most, optionally under a data prior
(:class:`GaussianPrior`, :class:`GaussianMixturePrior`).

Each perturbed copy of a sample is explained for that sample's class (the predicted
class is taken on the unperturbed input); a callable target is applied to batches of
perturbed inputs mixing samples, so it must act row by row.
"""

from xaikit.perturbation.baseline import Background
from xaikit.perturbation.conditional import ConditionalGaussian
from xaikit.perturbation.dasp import DASP
from xaikit.perturbation.groups import (
    ColumnGroups,
    FeatureGroups,
    Patches,
    Superpixels,
    patch_labels,
    resolve_groups,
)
from xaikit.perturbation.imputation import linear_imputation
from xaikit.perturbation.kernel_shap import KernelShap
from xaikit.perturbation.lime import Lime
from xaikit.perturbation.mask_optimization import ExtremalPerturbation, MeaningfulPerturbation
from xaikit.perturbation.maximization import MaximizationResult, activation_maximization
from xaikit.perturbation.occlusion import Occlusion
from xaikit.perturbation.prediction_difference import PredictionDifference
from xaikit.perturbation.priors import GaussianMixturePrior, GaussianPrior
from xaikit.perturbation.removal import Blur, Constant, Inpaint, NoisyLinear, Removal, Uniform
from xaikit.perturbation.rise import RISE, MaskSampler
from xaikit.perturbation.shapley import ShapleySampling, ShapleyValues, exact_shapley

__all__ = [
    "DASP",
    "RISE",
    "Background",
    "Blur",
    "ColumnGroups",
    "ConditionalGaussian",
    "Constant",
    "ExtremalPerturbation",
    "FeatureGroups",
    "GaussianMixturePrior",
    "GaussianPrior",
    "Inpaint",
    "KernelShap",
    "Lime",
    "MaskSampler",
    "MaximizationResult",
    "MeaningfulPerturbation",
    "NoisyLinear",
    "Occlusion",
    "Patches",
    "PredictionDifference",
    "Removal",
    "ShapleySampling",
    "ShapleyValues",
    "Superpixels",
    "Uniform",
    "activation_maximization",
    "exact_shapley",
    "linear_imputation",
    "patch_labels",
    "resolve_groups",
]
