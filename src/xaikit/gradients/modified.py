"""Modified-backpropagation explainers: DeconvNet, guided backpropagation, RectGrad."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from torch import Tensor, nn

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.explanation import LAYER_PREFIX
from xaikit.core.registry import register_method
from xaikit.core.targets import ResolvedTarget, Target
from xaikit.engine.rule import ElementwiseRule
from xaikit.engine.taps import LayerTaps, checked_layers, run_tapped
from xaikit.gradients._common import output_gradient
from xaikit.gradients._engine import backward
from xaikit.gradients.backprop_rules import (
    DeconvRule,
    GuidedRule,
    RectGradRule,
    modified_gradient_composite,
)


def modified_gradient(
    model: Model, inputs: Tensor, target: Target, rule: ElementwiseRule, name: str, layers: Sequence[str | nn.Module] = (),
) -> tuple[Tensor, Tensor, ResolvedTarget, dict[str, Tensor]]:
    """The gradient with ``rule`` at every activation; returns it, the explained value, the target
    and the modified gradient at each of ``layers`` (from the same backward pass)."""
    taps = LayerTaps(model, layers) if layers else None
    prop, leaf, out = run_tapped(model, inputs, modified_gradient_composite(rule, name), taps)
    values = out.detach()
    resolved = target.resolve(values)
    start = output_gradient(resolved, values)
    if taps is None:
        return backward(prop, leaf, out, start), resolved.select(values), resolved, {}
    grad, at_layers = taps.backward(prop, leaf, out, start)
    return grad, resolved.select(values), resolved, at_layers


class _ModifiedBackprop(Explainer):
    """One forward pass under the engine, one modified backward pass.

    With ``layers`` the modified gradient at those layers' outputs comes with it, as
    ``Explanation.layer_relevance(name)``.
    """

    def __init__(self, layers: Sequence[str | nn.Module] | None = None) -> None:
        self.layers = checked_layers(layers)

    @abstractmethod
    def _rule(self) -> ElementwiseRule:
        """The activation rule."""

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        grad, value, resolved, at_layers = modified_gradient(model, inputs, target, self._rule(), self.name,
                                                              self.layers)
        return Attribution(attribution=grad, output=value, target=resolved,
                           extras={LAYER_PREFIX + k: v for k, v in at_layers.items()})


@register_method("guided_backprop", aliases=("guided_backpropagation", "guidedbackprop"))
class GuidedBackprop(_ModifiedBackprop):
    """Guided backpropagation (Springenberg et al., 2015).

    The gradient, with the backward pass of every activation replaced by
    ``f'(z) * max(g, 0)``. Correct also for functional activations (``F.relu``), which
    hook-based implementations miss.

    Parameters
    ----------
    layers : sequence of str or torch.nn.Module, optional
        Also return the guided gradient at these layers' outputs (same backward pass).
    """

    def _rule(self) -> ElementwiseRule:
        return GuidedRule()


@register_method("deconvnet", aliases=("deconvolution", "deconv"))
class DeconvNet(_ModifiedBackprop):
    """DeconvNet (Zeiler and Fergus, 2014), in the gradient form of Mahendran and Vedaldi (2016).

    The backward pass of every activation is replaced by ``max(g, 0)``; max-pooling routes
    through the forward pass's switches.

    Parameters
    ----------
    layers : sequence of str or torch.nn.Module, optional
        Also return the DeconvNet signal at these layers' outputs (same backward pass).
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
    layers : sequence of str or torch.nn.Module, optional
        Also return the rectified gradient at these layers' outputs (same backward pass).
    """

    def __init__(self, percentile: float = 98.0, multiply_by_inputs: bool = True,
                 layers: Sequence[str | nn.Module] | None = None) -> None:
        super().__init__(layers)
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
