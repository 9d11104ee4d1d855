"""The LRP explainer: one forward pass with propagation graphs, one backward pass."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.explanation import LAYER_PREFIX
from xaikit.core.forward import auto_batch_size, forward
from xaikit.core.registry import register_method
from xaikit.core.targets import ResolvedTarget, Target
from xaikit.engine.dispatch import Propagation
from xaikit.engine.kinds import OpKind
from xaikit.engine.layer import LayerInfo, LinearOp
from xaikit.engine.ops import LINEAR
from xaikit.engine.taps import LayerTaps, checked_layers, run_tapped
from xaikit.rules.composite import Composite
from xaikit.rules.presets import as_composite
from xaikit.utils.batching import iter_batches
from xaikit.utils.errors import ModelError
from xaikit.utils.options import check_batch_size


def _batched_linear(inputs: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    out = torch.einsum("nd,nkd->nk", inputs, weight)
    return out if bias is None else out + bias


def run_propagation(
    model: Model,
    inputs: Tensor,
    composite: Composite,
    *,
    merge_batchnorm: bool = True,
    taps: LayerTaps | None = None,
) -> tuple[Propagation, Tensor, Tensor]:
    """Run ``model`` on ``inputs`` under the propagation engine.

    Returns the engine (to fetch graphs), the input leaf and the model output (see
    :func:`xaikit.engine.run.run_engine`, here with ``composite`` bound to ``model``).
    ``taps`` captures the outputs of named layers on the way (their hooks are removed
    before this returns).
    """
    return run_tapped(model, inputs, composite.bind(model), taps, merge_batchnorm=merge_batchnorm)


def logodds_graph(prop: Propagation, output: Tensor, index: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Neuralize the log-odds of class ``index`` on top of the model's last linear layer.

    The last layer ``z = W a + b`` becomes ``h_k = (w_c - w_k)^T a + (b_c - b_k)`` for
    ``k != c``, followed by soft-min pooling ``-log sum_k exp(-h_k)`` (which equals
    ``log p_c / (1 - p_c)``). The soft-min hands relevance ``softmin(h)_k * f`` to each
    ``h_k``; the last layer's rule propagates it further.

    Returns the graph of ``h``, its starting relevance and the log-odds per sample.
    """
    layer = prop.layer_of(output)
    if layer is None or layer[0].func not in LINEAR or output.ndim != 2:
        raise ValueError(
            "the log-odds target with LRP needs a model whose output comes straight from a "
            "linear layer (nn.Linear or F.linear) with shape (N, classes)"
        )
    op, source, rule = layer
    n, k = output.shape
    idx = index.to(output.device)
    others = torch.arange(k, device=output.device).expand(n, k)
    others = others[others != idx[:, None]].view(n, k - 1)
    weight = op.weight[idx][:, None, :] - op.weight[others]
    bias = None if op.bias is None else op.bias[idx][:, None] - op.bias[others]
    info = LayerInfo(kind=OpKind.DENSE, func=F.linear, module=op.info.module, name=op.info.name, index=op.info.index)
    diff = LinearOp(func=_batched_linear, weight=weight, bias=bias, info=info, generation=op.generation)
    with torch.enable_grad():
        a = prop.graph_of(source)
        if prop.units is not None:  # the soft-min hands on relevance: the rule runs in its units
            a = prop.units.to_relevance(a, prop.value_of(source))
        h = rule.propagate(diff, a)
    hv = h.detach()
    value = -torch.logsumexp(-hv, dim=1)
    start = torch.softmax(-hv, dim=1) * value[:, None]
    return h, start, value


def refuse_probability_output(prop: Propagation, out: Tensor) -> None:
    """Raise :class:`~xaikit.utils.errors.ModelError` when the output comes out of a final sigmoid."""
    if prop.role_of(out) == "gate":
        raise ModelError(
            "the model's output passes through a final sigmoid, so it is a probability in [0, 1], which "
            "relevance propagation does not explain meaningfully (relevance would not add up to a "
            "probability); remove the final sigmoid and explain its input, the logit, which is the "
            "binary log-odds log(p / (1 - p))"
        )


#: Activations kept per sample while LRP propagates, in units of the largest one: the
#: forward graph of every layer, the modified weights' forwards, and the backward.
GRAPH_COPIES = 8
#: Batches of at most this many samples are propagated at once without measuring the model.
ALWAYS_AT_ONCE = 32


@dataclass(frozen=True)
class _Resolved(Target):
    """A target already resolved for a batch (the batches of a larger one)."""

    resolved: ResolvedTarget

    def resolve(self, output: Tensor) -> ResolvedTarget:
        return self.resolved


@register_method("lrp", aliases=("layerwise_relevance_propagation",))
class LRP(Explainer):
    """Layer-wise relevance propagation with a composite of rules.

    Parameters
    ----------
    composite : str or Composite, optional
        A preset name (see :func:`xaikit.rules.composites`) or a :class:`Composite`. By
        default the model's own composite where it carries one (a neuralized model's NEON
        composite, the only one that conserves its evidence), else ``"epsilon_plus"``.
    merge_batchnorm : bool
        Merge eval-mode batch normalization into the preceding linear layer for the
        explanation (the model itself is not changed).
    composite_options : dict, optional
        Options of a preset (for example ``{"low": -1, "high": 1}`` for ``epsilon_gamma_box``).
    batch_size : int, optional
        Samples propagated at once. By default up to :data:`ALWAYS_AT_ONCE` samples go at
        once, larger batches in parts chosen from the model's activations
        (:func:`xaikit.core.forward.auto_batch_size`, counting :data:`GRAPH_COPIES`
        activations kept per sample), so memory is bounded whatever the number of samples.
    layers : sequence of str or torch.nn.Module, optional
        Modules (their names in ``model.named_modules()``, or the modules) whose output
        relevance is returned too, from the same backward pass:
        ``explanation.layer_relevance(name)``.
        Each equals the input relevance of the network above that layer explained on the
        layer's activations; its sum is the output minus what the layers above absorbed
        (and what bypasses the layer, around a residual connection). ``"NAME:input"``
        reads a module's input instead (the attention heads entering an output projection).

    Notes
    -----
    Costs one forward pass (plus one forward of each layer whose rule modifies the
    weights) and one backward pass; a batch larger than ``batch_size`` costs one more
    forward pass, which fixes every sample's target before the batches are explained.
    ``Explanation.delta`` is the relevance absorbed by biases and stabilizers.

    A model carries its own composite by defining ``explanation_composite(**options)``
    (as :class:`xaikit.neon.Neuralized` does); asking for another composite on such a
    model warns that its conservation is lost.
    """

    def __init__(
        self,
        composite: str | Composite | None = None,
        merge_batchnorm: bool = True,
        composite_options: dict[str, Any] | None = None,
        batch_size: int | None = None,
        layers: Sequence[str | nn.Module] | None = None,
    ) -> None:
        check_batch_size(batch_size)
        self.layers = checked_layers(layers) or None
        self.composite = composite
        self.merge_batchnorm = merge_batchnorm
        self.composite_options = composite_options
        self.batch_size = batch_size
        self._composite = None if composite is None else as_composite(composite, **(composite_options or {}))

    def composite_for(self, model: Model) -> Composite:
        """The composite used on ``model`` (the model's own one when none was given)."""
        own = getattr(model, "explanation_composite", None)
        if self._composite is None:
            if own is not None:
                composite: Composite = own(**(self.composite_options or {}))
                return composite
            return as_composite("epsilon_plus", **(self.composite_options or {}))
        if own is not None and type(self._composite) is not type(own()):
            warnings.warn(
                f"{type(model).__name__} carries its own composite ({own().name!r}); the composite "
                f"{self._composite.name!r} does not conserve its output. Omit composite= to use the "
                "model's own.",
                UserWarning,
                stacklevel=4,
            )
        return self._composite

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        composite = self.composite_for(model)
        if self.batch_size is None and len(inputs) <= ALWAYS_AT_ONCE:
            return self._attribute_batch(model, inputs, target, composite)  # no probe for the batch size
        size = self.batch_size or auto_batch_size(model, inputs, copies=GRAPH_COPIES)
        if len(inputs) <= size:
            return self._attribute_batch(model, inputs, target, composite)
        resolved = target.resolve(forward(model, inputs, size, layout=False))  # one target per sample, fixed first
        relevance = output = None
        extras: dict[str, Any] = {}
        for part in iter_batches(len(inputs), size):  # written in place: no second copy of the result
            batch = self._attribute_batch(model, inputs[part], _Resolved(resolved.take(part)), composite)
            if relevance is None or output is None:
                relevance = batch.attribution.new_empty(inputs.shape)
                output = batch.output.new_empty((len(inputs),))
                extras = {k: v.new_empty((len(inputs), *v.shape[1:])) if k.startswith(LAYER_PREFIX) else v
                          for k, v in batch.extras.items()}
            relevance[part] = batch.attribution
            output[part] = batch.output
            for key, value in batch.extras.items():
                if key.startswith(LAYER_PREFIX):
                    extras[key][part] = value
        assert relevance is not None and output is not None
        return Attribution(attribution=relevance, output=output, target=resolved, extras=extras)

    def _attribute_batch(self, model: Model, inputs: Tensor, target: Target, composite: Composite) -> Attribution:
        """Explain one batch (all of ``inputs`` at once)."""
        taps = LayerTaps(model, self.layers) if self.layers else None
        prop, leaf, out = run_propagation(model, inputs, composite, merge_batchnorm=self.merge_batchnorm, taps=taps)
        refuse_probability_output(prop, out)
        values = prop.value_of(out)
        resolved: ResolvedTarget = target.resolve(values)
        with torch.enable_grad():
            if resolved.logodds:
                assert resolved.index is not None
                graph, start, explained = logodds_graph(prop, out, resolved.index)
            else:
                graph = prop.graph_of(out)
                start = prop.start_gradient(resolved.start_relevance(values), values)
                explained = resolved.select(values)
            sources = [leaf] if taps is None else [leaf, *taps.graphs(prop)]
            gradient, *at_layers = torch.autograd.grad(graph, sources, start, allow_unused=True)
        relevance = torch.zeros_like(inputs) if gradient is None else prop.relevance_of(gradient, leaf)
        extras: dict[str, Any] = {"composite": composite.name, "layers": len(prop.layers)}
        if taps is not None:
            extras.update(taps.extras(prop, at_layers))
        return Attribution(
            attribution=relevance.detach(),
            output=explained.detach(),
            target=resolved,
            extras=extras,
        )
