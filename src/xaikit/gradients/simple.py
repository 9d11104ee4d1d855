"""The plain gradient and gradient x input."""

from __future__ import annotations

import torch
from torch import Tensor

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.forward import check_output
from xaikit.core.registry import register_method
from xaikit.core.targets import ResolvedTarget, Target
from xaikit.gradients._common import (
    forward,
    output_gradient,
    value_and_gradient,
)
from xaikit.utils.batching import iter_batches
from xaikit.utils.options import check_batch_size


def input_gradient(
    model: Model, inputs: Tensor, target: Target, batch_size: int | None = None
) -> tuple[Tensor, Tensor, ResolvedTarget]:
    """Gradient of the explained value at ``inputs``; returns gradient, value and target.

    One forward and one backward pass when all samples fit in one batch; otherwise one
    forward pass without a graph to resolve the target on the whole batch, then a forward
    and backward pass per batch of ``batch_size`` samples.
    """
    n = len(inputs)
    if batch_size is None or batch_size >= n:
        with torch.enable_grad():
            leaf = inputs.detach().requires_grad_(True)
            out = check_output(model(leaf), n)
            resolved = target.resolve(out.detach())
            (grad,) = torch.autograd.grad(out, leaf, output_gradient(resolved, out.detach()), allow_unused=True)
        return (torch.zeros_like(leaf) if grad is None else grad), resolved.select(out.detach()), resolved
    resolved = target.resolve(forward(model, inputs, batch_size))
    grads, values = [], []
    for s in iter_batches(n, batch_size):
        rows = torch.arange(s.start, s.stop, device=inputs.device)
        value, grad = value_and_gradient(model, inputs[s], resolved.take(rows))
        grads.append(grad)
        values.append(value)
    return torch.cat(grads), torch.cat(values), resolved


@register_method("saliency", aliases=("gradient", "vanilla_gradient"))
class Saliency(Explainer):
    """The gradient of the explained output with respect to the input (Simonyan et al., 2014).

    Parameters
    ----------
    absolute : bool
        Return ``|gradient|`` (the saliency map of the literature) instead of the signed
        gradient.
    batch_size : int or None
        Samples per forward/backward pass (``None``: all at once).
    """

    def __init__(self, absolute: bool = False, batch_size: int | None = None) -> None:
        self.absolute = absolute
        self.batch_size = check_batch_size(batch_size)

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        grad, value, resolved = input_gradient(model, inputs, target, self.batch_size)
        return Attribution(attribution=grad.abs() if self.absolute else grad, output=value, target=resolved)


@register_method("gradient_x_input", aliases=("input_x_gradient", "gradient_times_input"))
class GradientXInput(Explainer):
    """Gradient times input, ``R_i = x_i * d f / d x_i`` (Shrikumar et al., 2016).

    Equals LRP-0 on ReLU networks, and integrated gradients from zero on bias-free ones.

    Parameters
    ----------
    batch_size : int or None
        Samples per forward/backward pass (``None``: all at once).
    """

    def __init__(self, batch_size: int | None = None) -> None:
        self.batch_size = check_batch_size(batch_size)

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        grad, value, resolved = input_gradient(model, inputs, target, self.batch_size)
        return Attribution(attribution=inputs.detach() * grad, output=value, target=resolved)
