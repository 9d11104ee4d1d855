"""Modified-backpropagation explainers: DeconvNet, guided backpropagation, RectGrad."""

from __future__ import annotations

from abc import abstractmethod

from torch import Tensor

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.registry import register_method
from xaikit.core.targets import ResolvedTarget, Target
from xaikit.engine.rule import ElementwiseRule
from xaikit.engine.run import run_engine
from xaikit.gradients._common import output_gradient
from xaikit.gradients._engine import backward
from xaikit.gradients.backprop_rules import (
    DeconvRule,
    GuidedRule,
    RectGradRule,
    modified_gradient_composite,
)


def modified_gradient(model: Model, inputs: Tensor, target: Target, rule: ElementwiseRule, name: str) -> tuple[Tensor, Tensor, ResolvedTarget]:
    """The gradient with ``rule`` at every activation; returns it, the explained value and the target."""
    prop, leaf, out = run_engine(model, inputs, modified_gradient_composite(rule, name))
    values = out.detach()
    resolved = target.resolve(values)
    grad = backward(prop, leaf, out, output_gradient(resolved, values))
    return grad, resolved.select(values), resolved


class _ModifiedBackprop(Explainer):
    """One forward pass under the engine, one modified backward pass."""

    @abstractmethod
    def _rule(self) -> ElementwiseRule:
        """The activation rule."""

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        grad, value, resolved = modified_gradient(model, inputs, target, self._rule(), self.name)
        return Attribution(attribution=grad, output=value, target=resolved)


@register_method("guided_backprop", aliases=("guided_backpropagation", "guidedbackprop"))
class GuidedBackprop(_ModifiedBackprop):
    """Guided backpropagation (Springenberg et al., 2015).

    The gradient, with the backward pass of every activation replaced by
    ``f'(z) * max(g, 0)``. Correct also for functional activations (``F.relu``), which
    hook-based implementations miss.
    """

    def _rule(self) -> ElementwiseRule:
        return GuidedRule()


@register_method("deconvnet", aliases=("deconvolution", "deconv"))
class DeconvNet(_ModifiedBackprop):
    """DeconvNet (Zeiler and Fergus, 2014), in the gradient form of Mahendran and Vedaldi (2016).

    The backward pass of every activation is replaced by ``max(g, 0)``; max-pooling routes
    through the forward pass's switches.
    """

    def _rule(self) -> ElementwiseRule:
        return DeconvRule()


@register_method("rectgrad", aliases=("rectified_gradient",))
class RectGrad(_ModifiedBackprop):
    """Rectified gradient (Kim et al., 2019).

    At every activation the backward signal ``g`` passes only where the importance score
    ``a * g`` (activation times signal) exceeds the ``percentile``-th percentile of the
    scores of that layer (per sample). The attribution is ``max(x * g_0, 0)`` (the paper's
    final step), or the rectified gradient ``g_0`` itself with ``multiply_by_inputs=False``.

    Parameters
    ----------
    percentile : float
        The per-layer percentile ``q`` in ``[0, 100]``.
    multiply_by_inputs : bool
        Return ``max(x * g_0, 0)`` instead of the rectified gradient.
    """

    def __init__(self, percentile: float = 98.0, multiply_by_inputs: bool = True) -> None:
        self.percentile = percentile
        self.multiply_by_inputs = multiply_by_inputs
        self._rectgrad = RectGradRule(percentile)

    def _rule(self) -> ElementwiseRule:
        return self._rectgrad

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        result = super().attribute(model, inputs, target)
        if self.multiply_by_inputs:
            result.attribution = (inputs.detach() * result.attribution).clamp(min=0)
        return result
