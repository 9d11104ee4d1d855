"""Concept relevance propagation (CRP; Achtibat et al., Nature Machine Intelligence 2023).

LRP runs once; at a named layer the relevance is masked to the chosen channels (the
*concepts*) and propagated on to the input, so the heatmap answers "which pixels made
these channels relevant for this output". With ``per_concept=True`` every chosen channel
gets its own heatmap from one batched backward pass over the concepts (autograd's
``is_grads_batched``), not one pass each.

Only relevance that flows through the layer is conditioned: in a network with a skip
connection around the layer the unconditional heatmap also holds what bypasses it, so
the conditional maps over all channels add up to the relevance that passes through the
layer (the whole heatmap when every path does, CRP's completeness).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.registry import register_method
from xaikit.core.targets import Target
from xaikit.engine.taps import LayerTaps
from xaikit.lrp.explainer import LRP, refuse_probability_output, run_propagation
from xaikit.rules.composite import Composite
from xaikit.utils.errors import InputError, ModelError
from xaikit.utils.options import check_batch_size

ChannelDim = int | Literal["auto"]


#: Modules whose 3-D outputs are ``(N, C, L)`` channel maps, not ``(N, T, D)`` token features.
_CHANNELS_FIRST_1D = (nn.Conv1d, nn.ConvTranspose1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d,
                      nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)


def channel_axis(shape: torch.Size, channel_dim: ChannelDim, module: nn.Module | None = None) -> int:
    """The axis of the concepts in a layer output of ``shape``.

    ``"auto"``: axis 1 for ``(N, D)`` dense layers and ``(N, C, ...)`` maps of
    convolutions; the last axis for ``(N, T, D)`` token features (a 3-D output of a module
    that is not a 1-D convolution, batch norm or pooling).
    """
    if channel_dim == "auto":
        tokens = len(shape) == 3 and not isinstance(module, _CHANNELS_FIRST_1D)
        return len(shape) - 1 if tokens else 1
    axis = channel_dim if channel_dim >= 0 else len(shape) + channel_dim
    if not 1 <= axis < len(shape):
        raise InputError(f"channel_dim {channel_dim} is not an axis of the layer output of shape {tuple(shape)} "
                         "(axis 0 is the batch)")
    return axis


def concept_mask(shape: torch.Size, axis: int, concepts: Tensor, like: Tensor) -> Tensor:
    """A ``(len(concepts), 1, ...)`` stack of 0/1 masks, each selecting one concept on ``axis``."""
    sizes = [1] * len(shape)
    sizes[axis] = shape[axis]
    masks = torch.zeros((len(concepts), *sizes), dtype=like.dtype, device=like.device)
    view = masks.movedim(axis + 1, 1).reshape(len(concepts), shape[axis], -1)
    view[torch.arange(len(concepts)), concepts.to(like.device)] = 1.0
    return masks


def per_concept_sums(relevance: Tensor, axis: int) -> Tensor:
    """``(N, C)``: the relevance of each concept (summed over the other axes of the layer)."""
    return relevance.movedim(axis, 1).reshape(relevance.shape[0], relevance.shape[axis], -1).sum(-1)


@register_method("crp", aliases=("concept_relevance_propagation",))
class CRP(Explainer):
    """Concept relevance propagation: LRP conditioned on channels (concepts) of a layer.

    Parameters
    ----------
    layer : str or torch.nn.Module
        The layer whose channels are the concepts: a name from ``model.named_modules()``
        or the module itself; ``"NAME:input"`` conditions on the module's input (the
        concatenated heads entering ``self_attn.o_proj``, the MLP neurons entering
        ``mlp.down_proj``; a head is the union of its ``head_dim`` channels). Behind a
        residual connection the maps over all concepts add up to the relevance passing
        through the layer, not to the LRP heatmap.
    concepts : int or sequence of int, optional
        The channels to condition on (all of the layer's by default). Without
        ``per_concept`` the heatmap is that of their union.
    per_concept : bool
        Also return one heatmap per concept: ``extras["conditional_relevance"]`` of shape
        ``(N, len(concepts), *input_shape)``; they add up to the attribution.
    concept_batch : int
        Concepts propagated at once with ``per_concept`` (memory grows with it).
    channel_dim : int or "auto"
        The concepts' axis of the layer's output: 1 for convolution maps ``(N, C, H, W)``
        and dense layers ``(N, D)`` (``"auto"``), the last for token features ``(N, T, D)``
        (MLP neurons of a transformer).
    composite, composite_options, merge_batchnorm
        As in :class:`xaikit.lrp.LRP`.

    Notes
    -----
    ``extras["concept_relevance"]`` (``(N, C)``, every channel of the layer) is each
    channel's relevance at the layer: rank the concepts by it. ``extras["layer_relevance"]``
    is the relevance at the layer, before conditioning.
    """

    def __init__(
        self,
        layer: str | nn.Module,
        concepts: int | Sequence[int] | None = None,
        per_concept: bool = False,
        concept_batch: int = 64,
        channel_dim: ChannelDim = "auto",
        composite: str | Composite | None = None,
        composite_options: dict[str, Any] | None = None,
        merge_batchnorm: bool = True,
    ) -> None:
        if not (isinstance(layer, str) and layer) and not isinstance(layer, nn.Module):
            raise InputError(f"layer must be a module name (model.named_modules()) or a module, got {layer!r}")
        check_batch_size(concept_batch)
        self.layer = layer
        self.concepts = concepts
        self.per_concept = per_concept
        self.concept_batch = concept_batch
        self.channel_dim = channel_dim
        self.composite = composite
        self.composite_options = composite_options
        self.merge_batchnorm = merge_batchnorm
        self._lrp = LRP(composite=composite, composite_options=composite_options, merge_batchnorm=merge_batchnorm)

    def _chosen(self, channels: int) -> Tensor:
        if self.concepts is None:
            return torch.arange(channels)
        chosen = torch.as_tensor([self.concepts] if isinstance(self.concepts, int) else list(self.concepts))
        if chosen.dtype not in (torch.int64, torch.int32) or chosen.ndim != 1 or len(chosen) == 0:
            raise InputError(f"concepts must be channel indices, got {self.concepts!r}")
        bad = chosen[(chosen < 0) | (chosen >= channels)]
        if len(bad):
            raise InputError(f"concepts {bad.tolist()} are not channels of the layer, which has {channels}")
        if len(torch.unique(chosen)) != len(chosen):
            raise InputError(f"concepts {chosen.tolist()} name a channel twice")
        return chosen.long()

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        taps = LayerTaps(model, [self.layer])
        (name,) = taps.modules
        composite = self._lrp.composite_for(model)
        prop, leaf, out = run_propagation(model, inputs, composite, merge_batchnorm=self.merge_batchnorm, taps=taps)
        refuse_probability_output(prop, out)
        values = prop.value_of(out)
        resolved = target.resolve(values)
        if resolved.logodds:
            raise InputError("CRP explains a class output; the log-odds target is not supported (pass a class)")
        with torch.enable_grad():
            graph = prop.graph_of(out)
            start = prop.start_gradient(resolved.start_relevance(values), values)
            (layer_graph,) = taps.graphs(prop)
            (at_layer,) = torch.autograd.grad(graph, layer_graph, start, retain_graph=True, allow_unused=True)
            layer_relevance = taps.relevance(prop, [at_layer])[name]
            assert at_layer is not None  # taps.relevance raised otherwise
            axis = channel_axis(layer_graph.shape, self.channel_dim, taps.modules[name])
            chosen = self._chosen(layer_graph.shape[axis])
            union = concept_mask(layer_graph.shape, axis, chosen, at_layer).sum(0)
            (gradient,) = torch.autograd.grad(layer_graph, leaf, at_layer * union, retain_graph=self.per_concept,
                                              allow_unused=True)
            extras: dict[str, Any] = {
                "layer": name,
                "concepts": chosen.tolist(),
                "concept_relevance": per_concept_sums(layer_relevance, axis),
                "layer_relevance": layer_relevance,
            }
            if self.per_concept:
                extras["conditional_relevance"] = self._per_concept(prop, leaf, layer_graph, at_layer, axis, chosen)
        if gradient is None:
            raise ModelError(f"no relevance reaches the input through layer {name!r}")
        return Attribution(
            attribution=prop.relevance_of(gradient, leaf).detach(),
            output=resolved.select(values).detach(),
            target=resolved,
            extras=extras,
            per_sample_extras=[k for k in ("concept_relevance", "layer_relevance", "conditional_relevance") if k in extras],
        )

    def _per_concept(self, prop: Any, leaf: Tensor, layer_graph: Tensor, at_layer: Tensor, axis: int,
                     chosen: Tensor) -> Tensor:
        """``(N, K, *input)``: the heatmap of each chosen concept, ``concept_batch`` at a time."""
        parts = []
        for start in range(0, len(chosen), self.concept_batch):
            group = chosen[start:start + self.concept_batch]
            masks = concept_mask(layer_graph.shape, axis, group, at_layer) * at_layer[None]
            last = start + self.concept_batch >= len(chosen)
            (gradients,) = torch.autograd.grad(layer_graph, leaf, masks, retain_graph=not last, is_grads_batched=True)
            parts.append(torch.stack([prop.relevance_of(g, leaf) for g in gradients]).detach())
        return torch.cat(parts).movedim(0, 1)
