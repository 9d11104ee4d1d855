"""Gradient, path, modified-backprop, reference and CAM attribution methods.

Importing this package registers the methods under their names (see :func:`xaikit.methods`):

- gradient family: ``saliency``, ``gradient_x_input``, ``integrated_gradients``,
  ``smooth_integrated_gradients``, ``expected_gradients`` (alias ``gradient_shap``) and the
  ``noise_tunnel`` wrapper (alias ``smoothgrad``; variants SmoothGrad, SmoothGrad-squared,
  VarGrad) around any method;
- modified backpropagation through the propagation engine (correct with functional
  activations): ``deconvnet``, ``guided_backprop``, ``rectgrad``;
- reference methods: ``deeplift`` (Rescale and RevealCancel rules), ``deepshap``, ``rap``;
- class activation maps on a named layer: ``grad_cam``, ``grad_cam_plus_plus``,
  ``guided_grad_cam``;
- signal estimators fitted on training data (:func:`fit_patterns`): ``pattern_net`` and
  ``pattern_attribution``.

Layer and neuron attributions (functions): :func:`layer_conductance` (and the total
conductance), :func:`internal_influence`, :func:`neuron_conductance`,
:func:`neuron_integrated_gradients`, :func:`neuron_guided_backprop`; :class:`NeuronOutput`
makes any neuron the output of the model for every registered method.
"""

from xaikit.gradients.backprop_rules import (
    DeconvRule,
    GuidedRule,
    RectGradRule,
    modified_gradient_composite,
)
from xaikit.gradients.cam import GradCam, GradCamPlusPlus, GuidedGradCam
from xaikit.gradients.completeness import CompletenessWarning
from xaikit.gradients.deeplift import DeepLift, DeepShap
from xaikit.gradients.deeplift_rules import (
    MaxPoolRule,
    RescaleRule,
    RevealCancelRule,
    deeplift_composite,
)
from xaikit.gradients.expected import ExpectedGradients
from xaikit.gradients.integrated import IntegratedGradients
from xaikit.gradients.modified import DeconvNet, GuidedBackprop, RectGrad
from xaikit.gradients.neurons import (
    LayerAttribution,
    NeuronOutput,
    internal_influence,
    layer_conductance,
    neuron_conductance,
    neuron_guided_backprop,
    neuron_integrated_gradients,
)
from xaikit.gradients.noise_tunnel import NoiseTunnel
from xaikit.gradients.patterns import PatternAttribution, PatternNet, Patterns, fit_patterns
from xaikit.gradients.quadrature import Quadrature
from xaikit.gradients.rap import RAP, RapRule, rap_composite
from xaikit.gradients.simple import GradientXInput, Saliency
from xaikit.gradients.smooth_ig import SmoothIntegratedGradients
from xaikit.gradients.taylor import Taylor

__all__ = [
    "RAP",
    "CompletenessWarning",
    "DeconvNet",
    "DeconvRule",
    "DeepLift",
    "DeepShap",
    "ExpectedGradients",
    "GradCam",
    "GradCamPlusPlus",
    "GradientXInput",
    "GuidedBackprop",
    "GuidedGradCam",
    "GuidedRule",
    "IntegratedGradients",
    "LayerAttribution",
    "MaxPoolRule",
    "NeuronOutput",
    "NoiseTunnel",
    "PatternAttribution",
    "PatternNet",
    "Patterns",
    "Quadrature",
    "RapRule",
    "RectGrad",
    "RectGradRule",
    "RescaleRule",
    "RevealCancelRule",
    "Saliency",
    "SmoothIntegratedGradients",
    "Taylor",
    "deeplift_composite",
    "fit_patterns",
    "internal_influence",
    "layer_conductance",
    "modified_gradient_composite",
    "neuron_conductance",
    "neuron_guided_backprop",
    "neuron_integrated_gradients",
    "rap_composite",
]
