"""PatternNet and PatternAttribution (Kindermans, Schütt, Alber, Müller, Erhan, Kim and Dähne,
ICLR 2018: "Learning how to explain neural networks").

A layer's weights are a *filter*: they cancel the distractors in its input as much as they
pick up the signal, so the gradient shows where the filter looks, not where the signal is.
From training data one estimates, per output neuron ``y = w^T x``, the *pattern* ``a``, the
direction in which the signal varies the input:

- linear estimator: ``a = cov(x, y) / var(y)``;
- two-component estimator (ReLU networks): the same over the samples where ``y > 0``,
  ``a_+ = (E+[x y] - E+[x] E+[y]) / (w^T E+[x y] - w^T E+[x] E+[y])``.

PatternNet projects the explained output back through the network with the patterns in
place of the weights (the signal estimate in input space); PatternAttribution uses
``w * a`` elementwise (an attribution). ReLUs and max-pooling backpropagate as in the
gradient. :func:`fit_patterns` is the ``fit`` step: one pass over the data, statistics
accumulated per layer (memory bounded by the batch size), patterns for every ``nn.Linear``
and ``nn.Conv2d`` (convolutions on their unfolded input patches).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.grad import conv2d_input

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.forward import check_output
from xaikit.core.registry import register_method
from xaikit.core.targets import Target
from xaikit.core.wrappers import unwrapped
from xaikit.utils.batching import iter_batches
from xaikit.utils.errors import InputError, ModelError

__all__ = ["ESTIMATORS", "PatternAttribution", "PatternNet", "Patterns", "fit_patterns"]

ESTIMATORS = ("two_component", "linear")


@dataclass(frozen=True)
class Patterns:
    """Fitted patterns per layer, each of the layer weight's shape.

    Attributes
    ----------
    patterns : dict of str to torch.Tensor
        Layer name (``model.named_modules()``) -> pattern tensor.
    estimator : str
        ``"two_component"`` or ``"linear"``.
    samples : int
        How many training samples the statistics came from.
    """

    patterns: dict[str, Tensor]
    estimator: str
    samples: int


def _layers(model: Model) -> dict[str, nn.Linear | nn.Conv2d]:
    root = unwrapped(model)
    if not isinstance(root, nn.Module):
        raise InputError("patterns are fitted per layer: the model must be a torch.nn.Module")
    found = {name: m for name, m in root.named_modules() if isinstance(m, nn.Linear | nn.Conv2d)}
    if not found:
        raise ModelError("the model has no nn.Linear or nn.Conv2d layer to fit patterns for: pass the eager "
                         "module (not TorchScript or a traced graph) built from dense and 2-D convolution layers")
    return found


def _rows(module: nn.Linear | nn.Conv2d, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """``(R, in)`` inputs and ``(R, out)`` pre-bias outputs, one row per output position."""
    if isinstance(module, nn.Linear):
        pre_bias = y if module.bias is None else y - module.bias
        return x.reshape(-1, x.shape[-1]), pre_bias.reshape(-1, y.shape[-1])
    if module.groups != 1 or isinstance(module.padding, str):
        raise ModelError("patterns for grouped convolutions or string padding are not supported")
    patches = F.unfold(x, module.kernel_size, dilation=module.dilation, padding=module.padding, stride=module.stride)
    outputs = (y - module.bias.view(1, -1, 1, 1) if module.bias is not None else y).flatten(2)
    return patches.transpose(1, 2).reshape(-1, patches.shape[1]), outputs.transpose(1, 2).reshape(-1, y.shape[1])


class _Statistics:
    """Running sums for one layer: ``sum x``, ``sum y``, ``sum x y`` (per output) and counts, for all or ``y > 0``."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}

    def add(self, x: Tensor, y: Tensor, positive: bool) -> None:
        x, y = x.double(), y.double()
        weight = (y > 0).double() if positive else torch.ones_like(y)  # (R, out)
        parts = {"n": weight.sum(0), "x": x.T @ weight, "y": (y * weight).sum(0), "xy": x.T @ (y * weight)}
        for key, value in parts.items():
            self.sums[key] = value if key not in self.sums else self.sums[key] + value

    def pattern(self, weight: Tensor) -> Tensor:
        """``(out, in)``: the covariance of input and output over the counted rows, normalized by ``w^T cov``."""
        n = self.sums["n"].clamp(min=1)
        mean_x = self.sums["x"] / n  # (in, out)
        mean_y = self.sums["y"] / n
        covariance = self.sums["xy"] / n - mean_x * mean_y  # (in, out)
        w = weight.double().reshape(weight.shape[0], -1)  # (out, in)
        scale = (w * covariance.T).sum(1, keepdim=True)  # w^T cov, (out, 1)
        safe = torch.where(scale.abs() > 1e-12, scale, torch.ones_like(scale))
        return torch.where(scale.abs() > 1e-12, covariance.T / safe, torch.zeros_like(covariance.T))


def fit_patterns(model: Model, data: Any, *, estimator: str = "two_component", batch_size: int = 256) -> Patterns:
    """Estimate the pattern of every dense and 2-D convolution layer from training ``data``.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model (eval mode); never modified (forward hooks, removed after).
    data : tensor or array-like
        ``(M, ...)`` training samples, read ``batch_size`` at a time.
    estimator : {"two_component", "linear"}
        The two-component estimator ``a_+`` (ReLU networks; the paper's choice for
        PatternAttribution) or the linear ``a = cov(x, y) / var(y)``.
    batch_size : int
        Samples per forward pass.

    Returns
    -------
    Patterns
    """
    if estimator not in ESTIMATORS:
        raise InputError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    layers = _layers(model)
    statistics = {name: _Statistics() for name in layers}
    handles = []

    def hook(name: str) -> Any:
        def record(module: nn.Module, args: Any, output: Tensor) -> None:
            x, y = _rows(layers[name], args[0].detach(), output.detach())
            statistics[name].add(x, y, positive=estimator == "two_component")
        return record

    count = int(data.shape[0]) if hasattr(data, "shape") else len(data)
    try:
        for name, module in layers.items():
            handles.append(module.register_forward_hook(hook(name)))
        with torch.no_grad():
            for part in iter_batches(count, batch_size):
                model(torch.as_tensor(data[part.start:part.stop]))
    finally:
        for handle in handles:
            handle.remove()
    patterns = {name: statistics[name].pattern(m.weight.detach()).to(m.weight.dtype).reshape(m.weight.shape)
                for name, m in layers.items()}
    return Patterns(patterns=patterns, estimator=estimator, samples=count)


class _SwappedBackward(torch.autograd.Function):
    """The layer's output in the forward pass; in the backward pass, its input gradient with ``matrix`` for the weight."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, output: Tensor, matrix: Tensor, module: nn.Module) -> Tensor:
        ctx.save_for_backward(matrix)
        ctx.module, ctx.shape = module, x.shape
        return output.detach().clone()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:
        (matrix,) = ctx.saved_tensors
        module = ctx.module
        if isinstance(module, nn.Linear):
            return grad @ matrix.to(grad.dtype), None, None, None
        grad_x = conv2d_input(ctx.shape, matrix.to(grad.dtype), grad, stride=module.stride,
                                            padding=module.padding, dilation=module.dilation, groups=module.groups)
        return grad_x, None, None, None


def matched_patterns(layers: dict[str, nn.Linear | nn.Conv2d], patterns: dict[str, Tensor]) -> dict[str, Tensor]:
    """Each layer's pattern: by name, or by the one fitted name the layer's name ends with (a wrapped model)."""
    found, missing = {}, []
    for name, module in layers.items():
        candidates = [p for p in patterns if p == name] or [p for p in patterns if name.endswith("." + p)]
        if len(candidates) != 1:
            missing.append(name)
            continue
        pattern = patterns[candidates[0]]
        if tuple(pattern.shape) != tuple(module.weight.shape):
            raise InputError(f"the pattern fitted for {candidates[0]!r} has shape {tuple(pattern.shape)} but layer "
                             f"{name!r} has weights {tuple(module.weight.shape)}: fit the patterns on this model")
        found[name] = pattern
    if missing:
        raise InputError(f"the patterns do not cover the layers {missing}: fit them on this model (fit_patterns)")
    return found


@contextmanager
def _swapped(model: Model, matrices: dict[str, Tensor]) -> Iterator[None]:
    layers = _layers(model)
    handles = []

    def hook(name: str) -> Any:
        def swap(module: nn.Module, args: Any, output: Tensor) -> Tensor:
            out: Tensor = _SwappedBackward.apply(args[0], output, matrices[name], module)
            return out
        return swap

    try:
        for name, module in layers.items():
            handles.append(module.register_forward_hook(hook(name)))
        yield
    finally:
        for handle in handles:
            handle.remove()


class _PatternBackprop(Explainer):
    """One forward pass with the layers' backward swapped, one backward pass from the explained output."""

    def __init__(self, patterns: Patterns) -> None:
        if not isinstance(patterns, Patterns):
            raise InputError("pass patterns=xaikit.gradients.fit_patterns(model, training_data)")
        self.patterns = patterns

    def _matrix(self, pattern: Tensor, weight: Tensor) -> Tensor:
        raise NotImplementedError

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        layers = _layers(model)
        patterns = matched_patterns(layers, self.patterns.patterns)
        matrices = {name: self._matrix(patterns[name], m.weight.detach()) for name, m in layers.items()}
        leaf = inputs.detach().requires_grad_(True)
        with _swapped(model, matrices), torch.enable_grad():
            out = check_output(model(leaf), len(inputs))
            resolved = target.resolve(out.detach())
            start = resolved.start_relevance(out.detach())  # the explained output, on its class
            (signal,) = torch.autograd.grad(out, leaf, start, allow_unused=True)
        attribution = torch.zeros_like(leaf) if signal is None else signal
        return Attribution(attribution=attribution.detach(), output=resolved.select(out.detach()), target=resolved,
                           extras={"estimator": self.patterns.estimator})


@register_method("pattern_net", aliases=("patternnet",))
class PatternNet(_PatternBackprop):
    """PatternNet (Kindermans et al., 2018): the signal estimate, the output projected back through the patterns.

    Parameters
    ----------
    patterns : Patterns
        From :func:`fit_patterns` on training data of this model.
    """

    def _matrix(self, pattern: Tensor, weight: Tensor) -> Tensor:
        return pattern


@register_method("pattern_attribution", aliases=("patternattribution",))
class PatternAttribution(_PatternBackprop):
    """PatternAttribution (Kindermans et al., 2018): backpropagation with ``w * a`` in place of the weights.

    Parameters
    ----------
    patterns : Patterns
        From :func:`fit_patterns` on training data of this model (the two-component
        estimator is the paper's choice).
    """

    def _matrix(self, pattern: Tensor, weight: Tensor) -> Tensor:
        return weight * pattern
