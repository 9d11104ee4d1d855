"""The plain gradient and gradient x input."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.explanation import LAYER_PREFIX
from xaikit.core.forward import check_output
from xaikit.core.registry import register_method
from xaikit.core.targets import ResolvedTarget, Target
from xaikit.engine.taps import LayerTaps, checked_layers
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


def gradients_at_layers(
    model: Model, inputs: Tensor, target: Target, layers: Sequence[str | nn.Module], batch_size: int | None = None
) -> tuple[Tensor, Tensor, ResolvedTarget, dict[str, tuple[Tensor, Tensor]]]:
    """:func:`input_gradient` and, from the same backward passes, each layer's output and its gradient."""
    n = len(inputs)
    resolved = target.resolve(forward(model, inputs, batch_size)) if batch_size is not None and batch_size < n else None
    taps = LayerTaps(model, layers)
    grads, values, found = [], [], []
    for s in iter_batches(n, batch_size or n):
        taps.attach()
        try:
            with torch.enable_grad():
                leaf = inputs[s].detach().requires_grad_(True)
                out = check_output(model(leaf), len(leaf))
        finally:
            taps.detach()
        part = target.resolve(out.detach()) if resolved is None else resolved.take(
            torch.arange(s.start, s.stop, device=inputs.device))
        outputs = taps.unmodified_outputs()
        grad, *at_layers = torch.autograd.grad(out, [leaf, *outputs], output_gradient(part, out.detach()),
                                               allow_unused=True)
        grads.append(torch.zeros_like(leaf) if grad is None else grad)
        values.append(part.select(out.detach()))
        found.append({name: (output.detach(), torch.zeros_like(output) if g is None else g)
                      for name, output, g in zip(taps.modules, outputs, at_layers, strict=True)})
        resolved = resolved if resolved is not None else part
    assert resolved is not None  # set by the first batch when not before
    layer_values = {name: (torch.cat([f[name][0] for f in found]), torch.cat([f[name][1] for f in found]))
                    for name in taps.modules}
    return torch.cat(grads), torch.cat(values), resolved, layer_values


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
    layers : sequence of str or torch.nn.Module, optional
        Also return the gradient (``|gradient|`` with ``absolute``) at these layers' outputs,
        from the same backward pass (``Explanation.layer_relevance(name)``).
    """

    def __init__(self, absolute: bool = False, batch_size: int | None = None,
                 layers: Sequence[str | nn.Module] | None = None) -> None:
        self.absolute = absolute
        self.batch_size = check_batch_size(batch_size)
        self.layers = checked_layers(layers)

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        if not self.layers:
            grad, value, resolved = input_gradient(model, inputs, target, self.batch_size)
            return Attribution(attribution=grad.abs() if self.absolute else grad, output=value, target=resolved)
        grad, value, resolved, at_layers = gradients_at_layers(model, inputs, target, self.layers, self.batch_size)
        extras = {LAYER_PREFIX + k: g.abs() if self.absolute else g for k, (_, g) in at_layers.items()}
        return Attribution(attribution=grad.abs() if self.absolute else grad, output=value, target=resolved,
                           extras=extras)


@register_method("gradient_x_input", aliases=("input_x_gradient", "gradient_times_input"))
class GradientXInput(Explainer):
    """Gradient times input, ``R_i = x_i * d f / d x_i`` (Shrikumar et al., 2016).

    Equals LRP-0 on ReLU networks, and integrated gradients from zero on bias-free ones.

    Parameters
    ----------
    batch_size : int or None
        Samples per forward/backward pass (``None``: all at once).
    layers : sequence of str or torch.nn.Module, optional
        Also return gradient x activation at these layers' outputs (Captum's
        ``LayerGradientXActivation``), from the same backward pass.
    """

    def __init__(self, batch_size: int | None = None, layers: Sequence[str | nn.Module] | None = None) -> None:
        self.batch_size = check_batch_size(batch_size)
        self.layers = checked_layers(layers)

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        if not self.layers:
            grad, value, resolved = input_gradient(model, inputs, target, self.batch_size)
            return Attribution(attribution=inputs.detach() * grad, output=value, target=resolved)
        grad, value, resolved, at_layers = gradients_at_layers(model, inputs, target, self.layers, self.batch_size)
        extras = {LAYER_PREFIX + k: a * g for k, (a, g) in at_layers.items()}
        return Attribution(attribution=inputs.detach() * grad, output=value, target=resolved, extras=extras)
