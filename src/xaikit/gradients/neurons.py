"""Layer and neuron attributions of the gradient family (the review's Table II).

- :func:`layer_conductance` (Dhamdhere et al., 2019): how much each neuron of a layer
  carries of ``f(x) - f(x')`` along the straight path from the baseline,
  ``sum_k g(alpha_k) (h(alpha_{k+1}) - h(alpha_k))``; summed over the layer it is the
  *total conductance*, which tends to ``f(x) - f(x')`` (completeness);
- :func:`internal_influence` (Leino et al., 2018): the path-averaged gradient at the layer;
- :func:`neuron_conductance`: the input features' share of one neuron's conductance;
- :func:`neuron_integrated_gradients`, :func:`neuron_guided_backprop`: the registered
  methods applied to one neuron, through :class:`NeuronOutput`, which makes any neuron
  the output of the model (so every method of :func:`xaikit.explain` explains neurons).

Conventions follow Captum's where Captum has the method, so results can be compared step
for step (``gradient_at="left"`` with ``rule`` its ``method``); the default
``gradient_at="average"`` weighs each step by the mean gradient of its two ends, a
second-order rule whose total conductance converges to ``f(x) - f(x')`` faster, and
``rule="trapezoid"`` puts both ends of the path on the grid (Captum's default Gauss-Legendre
nodes leave out the two end pieces of the path, so its total conductance misses them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from xaikit.core.explanation import Explanation
from xaikit.core.forward import check_output
from xaikit.core.registry import make_method
from xaikit.core.targets import ResolvedTarget, TargetLike, as_target
from xaikit.core.validation import (
    check_eval_mode,
    check_inputs,
    preserved_model_state,
    to_model_dtype,
)
from xaikit.engine.taps import LayerTaps
from xaikit.gradients._common import BaselineLike, as_baseline
from xaikit.gradients.quadrature import Quadrature
from xaikit.utils.errors import InputError, ModelError
from xaikit.utils.options import check_batch_size

Neuron = int | Sequence[int]


@dataclass(frozen=True)
class LayerAttribution:
    """An attribution to the neurons of a layer.

    Attributes
    ----------
    attribution : torch.Tensor
        ``(N, *layer_shape)``.
    layer : str
        The layer's name in ``model.named_modules()``.
    output, baseline_output : torch.Tensor
        ``(N,)`` the explained output at the inputs and at the baselines.
    target : torch.Tensor or None
        ``(N,)`` the explained class.
    """

    attribution: Tensor
    layer: str
    output: Tensor
    baseline_output: Tensor
    target: Tensor | None

    @property
    def total(self) -> Tensor:
        """``(N,)`` the attribution summed over the layer (total conductance)."""
        return self.attribution.flatten(1).sum(1)

    @property
    def delta(self) -> Tensor:
        """``(N,)`` ``f(x) - f(x') - total``: the discretization error of the path integral."""
        return self.output - self.baseline_output - self.total


def _neuron_index(neuron: Neuron, shape: torch.Size) -> tuple[int, ...]:
    """The neuron as an index into one sample's layer output of ``shape`` (batch axis excluded)."""
    index = (neuron,) if isinstance(neuron, int) else tuple(neuron)
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in index):
        raise InputError(f"neuron must be an int or a tuple of ints (one per axis of the layer output), got {neuron!r}")
    layer = tuple(shape[1:])
    if len(index) == 1 and len(layer) > 1:  # a flat index into the sample's layer output
        flat = index[0]
        size = int(torch.Size(layer).numel())
        if not 0 <= flat < size:
            raise InputError(f"neuron {flat} is outside the layer output of {size} values per sample {layer}")
        return tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), layer))
    if len(index) != len(layer) or any(not 0 <= i < s for i, s in zip(index, layer, strict=True)):
        raise InputError(f"neuron {index} is not an index of the layer output of shape {layer} per sample")
    return index


def _selector(neuron: Neuron, shape: torch.Size) -> tuple[slice | int, ...]:
    """The index selecting the neuron in every sample of a layer output of ``shape``."""
    everything: tuple[slice | int, ...] = (slice(None),)
    return everything + _neuron_index(neuron, shape)


class NeuronOutput(nn.Module):
    """``model`` whose output is one neuron of one of its layers, ``(N, 1)``.

    Any method explains the neuron through it: ``xaikit.explain(NeuronOutput(model, "conv2",
    (3, 4, 4)), x, 0, method="guided_backprop")``.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    layer : str or torch.nn.Module
        The layer (a name of ``model.named_modules()`` or the module).
    neuron : int or tuple of int
        The neuron: an index per axis of the layer's output (batch axis excluded), or a
        flat index into one sample's output.
    """

    def __init__(self, model: nn.Module, layer: str | nn.Module, neuron: Neuron) -> None:
        super().__init__()
        self.model = model
        self.layer = layer
        self.neuron = neuron
        self._taps = LayerTaps(model, [layer])
        (self.layer_name,) = self._taps.modules

    def forward(self, x: Tensor) -> Tensor:
        """The neuron's value per sample, ``(N, 1)``."""
        self._taps.attach()
        try:
            self.model(x)
        finally:
            self._taps.detach()
        value = self._taps.outputs.get(self.layer_name)
        if value is None:
            raise ModelError(f"layer {self.layer_name!r} did not run in the forward pass")
        return value[_selector(self.neuron, value.shape)].reshape(len(x), 1)


def _prepare(model: Any, inputs: Tensor, baseline: BaselineLike) -> tuple[Tensor, Tensor]:
    x = to_model_dtype(model, check_inputs(inputs))
    check_eval_mode(model)
    return x, as_baseline(baseline, x)


def _path(
    model: nn.Module, layer: str | nn.Module, x: Tensor, baseline: Tensor, alphas: Tensor, resolved: ResolvedTarget,
    batch_size: int | None,
) -> tuple[str, Tensor, Tensor, Tensor]:
    """At each node: the layer's activation and the gradient of the explained output there.

    Returns the layer name, activations and gradients ``(K, N, *layer)`` and outputs ``(K, N)``.
    """
    taps = LayerTaps(model, [layer])
    (name,) = taps.modules
    n, k = len(x), len(alphas)
    per_call = k if batch_size is None else max(1, batch_size // max(n, 1))
    activations, gradients, outputs = [], [], []
    for start in range(0, k, per_call):
        chunk = alphas[start:start + per_call].to(x)
        points = (baseline[None] + chunk.view(-1, *([1] * x.ndim)) * (x - baseline)[None]).reshape(-1, *x.shape[1:])
        taps.attach()
        try:
            with torch.enable_grad():
                out = check_output(model(points.detach().requires_grad_(True)), len(points))
                hidden = taps.outputs[name]
                value = resolved.repeat(len(chunk)).select(out)
                (gradient,) = torch.autograd.grad(value.sum(), hidden, allow_unused=True)
        finally:
            taps.detach()
        activations.append(hidden.detach().reshape(len(chunk), n, *hidden.shape[1:]))
        gradients.append(torch.zeros_like(activations[-1]) if gradient is None
                         else gradient.reshape(len(chunk), n, *hidden.shape[1:]))
        outputs.append(value.detach().reshape(len(chunk), n))
    return name, torch.cat(activations), torch.cat(gradients), torch.cat(outputs)


@dataclass(frozen=True)
class _PathRun:
    """A layer's activations and output gradients at the nodes of a path, with its ends."""

    name: str
    hidden: Tensor
    gradient: Tensor
    output: Tensor
    baseline_output: Tensor
    resolved: ResolvedTarget

    def result(self, attribution: Tensor) -> LayerAttribution:
        return LayerAttribution(attribution, self.name, self.output, self.baseline_output, self.resolved.index)


def _run_path(
    model: nn.Module, inputs: Tensor, target: TargetLike, layer: str | nn.Module, baseline: BaselineLike,
    nodes: Any, batch_size: int | None, *, from_zero: bool = False,
) -> _PathRun:
    """Validate, resolve the target, and walk the path (model state guarded)."""
    check_batch_size(batch_size)
    x, base = _prepare(model, inputs, baseline)
    if from_zero:
        base = torch.zeros_like(x)
    with preserved_model_state(model):
        with torch.no_grad():
            out = model(x)
            resolved = as_target(target).resolve(out)
            ends = resolved.select(out), resolved.select(model(base.contiguous()))
        name, hidden, gradient, _ = _path(model, layer, x, base, torch.from_numpy(nodes.copy()), resolved, batch_size)
    return _PathRun(name, hidden, gradient, ends[0].detach(), ends[1].detach(), resolved)


def layer_gradients(
    model: nn.Module, inputs: Tensor, target: TargetLike = None, *, layer: str | nn.Module,
    batch_size: int | None = None,
) -> tuple[str, Tensor, Tensor]:
    """The activations of ``layer`` at ``inputs`` and the gradient of the explained output there.

    Returns
    -------
    (str, torch.Tensor, torch.Tensor)
        The layer's name, its activations and the gradients, ``(N, *layer_shape)`` each.
    """
    run = _run_path(model, inputs, target, layer, None, np.ones(1), batch_size, from_zero=True)
    return run.name, run.hidden[0], run.gradient[0]


def layer_conductance(
    model: nn.Module,
    inputs: Tensor,
    target: TargetLike = None,
    *,
    layer: str | nn.Module,
    baseline: BaselineLike = None,
    steps: int = 50,
    rule: str = "trapezoid",
    gradient_at: Literal["average", "left"] = "average",
    batch_size: int | None = None,
) -> LayerAttribution:
    """Conductance of every neuron of ``layer`` along the path from ``baseline`` to ``inputs``.

    Parameters
    ----------
    model : torch.nn.Module
        The network (eval mode; never modified).
    inputs : torch.Tensor
        ``(N, ...)``.
    target : int, tensor or None
        The explained class (the predicted one by default).
    layer : str or torch.nn.Module
        The layer whose neurons get the attribution.
    baseline : None, number or tensor
        The path's start (zeros by default).
    steps : int
        Intervals of the path: ``steps + 1`` nodes, the nodes of the quadrature ``rule``.
    rule : str
        Where the nodes lie (:class:`~xaikit.gradients.Quadrature`; Captum's ``method``).
    gradient_at : {"average", "left"}
        The gradient taken for each interval: the mean of its two ends (second order) or
        its left end (Captum's ``LayerConductance``).
    batch_size : int, optional
        Rows (samples x nodes) per forward pass.

    Returns
    -------
    LayerAttribution
        Its :attr:`~LayerAttribution.total` is the total conductance.
    """
    if gradient_at not in ("average", "left"):
        raise InputError(f"gradient_at must be 'average' or 'left', got {gradient_at!r}")
    alphas = Quadrature(rule, steps + 1).nodes()[0]
    run = _run_path(model, inputs, target, layer, baseline, alphas, batch_size)
    gradient, hidden = run.gradient, run.hidden
    weight = gradient[:-1] if gradient_at == "left" else 0.5 * (gradient[:-1] + gradient[1:])
    return run.result((weight * (hidden[1:] - hidden[:-1])).sum(0))


def internal_influence(
    model: nn.Module,
    inputs: Tensor,
    target: TargetLike = None,
    *,
    layer: str | nn.Module,
    baseline: BaselineLike = None,
    steps: int = 50,
    rule: str = "gauss_legendre",
    batch_size: int | None = None,
) -> LayerAttribution:
    """Internal influence: the gradient at ``layer`` integrated along the path (``sum_k w_k g(alpha_k)``).

    Parameters are those of :func:`layer_conductance` (``steps`` nodes of ``rule`` with
    its weights, as Captum's ``InternalInfluence``).
    """
    nodes, weights = Quadrature(rule, steps).nodes()
    run = _run_path(model, inputs, target, layer, baseline, nodes, batch_size)
    w = torch.from_numpy(weights.copy()).to(run.gradient).view(-1, *([1] * (run.gradient.ndim - 1)))
    return run.result((w * run.gradient).sum(0))


def neuron_conductance(
    model: nn.Module,
    inputs: Tensor,
    target: TargetLike = None,
    *,
    layer: str | nn.Module,
    neuron: Neuron,
    baseline: BaselineLike = None,
    steps: int = 50,
    rule: str = "trapezoid",
) -> Explanation:
    """The input features' conductance through one neuron for the explained output.

    ``(x - x') * sum_k w_k (df/dh_j)(alpha_k) (dh_j/dx)(alpha_k)`` over the nodes and
    weights of ``rule`` (Captum's ``NeuronConductance``). Summed over the neuron's inputs
    it is the neuron's conductance.

    Returns
    -------
    Explanation
        ``attribution`` of the inputs' shape; ``output`` the explained output.
    """
    x, base = _prepare(model, inputs, baseline)
    nodes, weights = Quadrature(rule, steps).nodes()
    taps = LayerTaps(model, [layer])
    (name,) = taps.modules
    total = torch.zeros_like(x)
    with preserved_model_state(model):
        with torch.no_grad():
            out = model(x)
        resolved = as_target(target).resolve(out)
        for alpha, w in zip(nodes.tolist(), weights.tolist(), strict=True):
            taps.attach()
            try:
                with torch.enable_grad():
                    point = (base + alpha * (x - base)).detach().requires_grad_(True)
                    value = resolved.select(check_output(model(point), len(x)))
                    hidden = taps.outputs[name]
                    index = _selector(neuron, hidden.shape)
                    (at_layer,) = torch.autograd.grad(value.sum(), hidden, retain_graph=True)
                    (at_input,) = torch.autograd.grad(hidden[index].sum(), point, allow_unused=True)
            finally:
                taps.detach()
            if at_input is not None:
                scale = at_layer[index].reshape(len(x), *([1] * (x.ndim - 1)))
                total += w * scale * at_input
    return Explanation(
        attribution=(total * (x - base)).detach(), output=resolved.select(out).detach(), target=resolved.index,
        method="neuron_conductance", options={"layer": name, "neuron": neuron, "steps": steps, "rule": rule},
        inputs=x.detach(), extras={"layer": name},
    )


def neuron_integrated_gradients(
    model: nn.Module, inputs: Tensor, *, layer: str | nn.Module, neuron: Neuron, **options: Any
) -> Explanation:
    """Integrated gradients of one neuron's value (``options`` as for ``integrated_gradients``)."""
    return make_method("integrated_gradients", **options)(NeuronOutput(model, layer, neuron), inputs, 0)


def neuron_guided_backprop(model: nn.Module, inputs: Tensor, *, layer: str | nn.Module, neuron: Neuron) -> Explanation:
    """Guided backpropagation of one neuron's value."""
    return make_method("guided_backprop")(NeuronOutput(model, layer, neuron), inputs, 0)
