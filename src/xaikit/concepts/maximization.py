"""Relevance maximization: the samples of a data set where each concept is most relevant.

Activation maximization ranks samples by how strongly a channel fires (its largest value
over the positions); relevance maximization (Achtibat et al., 2023) by how much that
channel contributes to the explained output (its relevance at the layer, summed over the
positions). They differ wherever a channel fires on something the output does not use.
One LRP forward and one backward pass down to the layer per batch give both scores for
every channel; memory holds one batch and the running top ``k`` per concept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xaikit.concepts.crp import CRP, ChannelDim, channel_axis, per_concept_sums
from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.explanation import Explanation
from xaikit.core.targets import Target
from xaikit.engine.taps import LayerTaps
from xaikit.lrp.explainer import LRP, refuse_probability_output, run_propagation
from xaikit.rules.composite import Composite
from xaikit.utils.errors import InputError
from xaikit.utils.options import check_batch_size
from xaikit.utils.progress_bars import progress as progress_bar


class _ConceptScores(Explainer):
    """Each channel's relevance and activation at ``layer`` (no input heatmap is computed;
    the attribution it returns is zero and unused: only the validation of
    :meth:`Explainer.__call__` is wanted)."""

    def __init__(self, layer: str, channel_dim: ChannelDim, lrp: LRP) -> None:
        self.layer, self.channel_dim, self.lrp = layer, channel_dim, lrp

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        taps = LayerTaps(model, [self.layer])
        (name,) = taps.modules
        prop, _, out = run_propagation(model, inputs, self.lrp.composite_for(model),
                                       merge_batchnorm=self.lrp.merge_batchnorm, taps=taps)
        refuse_probability_output(prop, out)
        values = prop.value_of(out)
        resolved = target.resolve(values)
        with torch.enable_grad():
            (layer_graph,) = taps.graphs(prop)
            start = prop.start_gradient(resolved.start_relevance(values), values)
            (at_layer,) = torch.autograd.grad(prop.graph_of(out), layer_graph, start, allow_unused=True)
        relevance = taps.relevance(prop, [at_layer])[name]
        activation = prop.value_of(taps.outputs[name])
        axis = channel_axis(relevance.shape, self.channel_dim, taps.modules[name])
        peak = activation.movedim(axis, 1).reshape(len(inputs), activation.shape[axis], -1).amax(-1)
        return Attribution(
            attribution=torch.zeros_like(inputs), output=resolved.select(values).detach(), target=resolved,
            extras={"relevance": per_concept_sums(relevance, axis), "activation": peak.detach()},
            per_sample_extras=["relevance", "activation"],
        )


@dataclass(frozen=True)
class ReferenceSamples:
    """The top samples of each concept by relevance and by activation.

    Attributes
    ----------
    layer : str
        The layer whose channels are the concepts.
    by_relevance, by_activation : numpy.ndarray
        ``(C, k)`` sample indices, best first (ties: the lower index first).
    relevance, activation : numpy.ndarray
        ``(C, k)`` their scores: the concept's relevance at the layer (summed over
        positions) and its largest activation.
    targets : numpy.ndarray
        ``(N,)`` the class explained for each sample.
    samples : int
        How many samples were scored.
    """

    layer: str
    by_relevance: np.ndarray
    relevance: np.ndarray
    by_activation: np.ndarray
    activation: np.ndarray
    targets: np.ndarray
    samples: int

    @property
    def concepts(self) -> int:
        """Number of concepts (channels of the layer)."""
        return int(self.by_relevance.shape[0])

    def overlap(self) -> np.ndarray:
        """``(C,)`` the share of each concept's top-k by relevance that is also its top-k by activation."""
        k = self.by_relevance.shape[1]
        return np.array([len(set(r) & set(a)) / k for r, a in zip(self.by_relevance, self.by_activation, strict=True)])

    def heatmaps(self, model: Model, data: Any, concept: int, **crp_options: Any) -> Explanation:
        """CRP heatmaps of ``concept`` on its reference samples (by relevance), for their targets."""
        index = self.by_relevance[concept]
        inputs = torch.as_tensor(np.stack([np.asarray(data[int(i)]) for i in index]))  # any sliceable store
        crp = CRP(self.layer, concepts=[concept], **crp_options)
        return crp(model, inputs, torch.as_tensor(self.targets[index]))

    def crops(self, model: Model, data: Any, concept: int, size: int | tuple[int, int],
              **crp_options: Any) -> ReferenceCrops:
        """The part of each reference sample (by relevance) where ``concept`` is most relevant.

        Parameters
        ----------
        model : torch.nn.Module
        data : tensor or array-like
            The samples scored, images ``(N, C, H, W)``.
        concept : int
            The channel.
        size : int or (int, int)
            The crop's height and width (at most the image's).
        **crp_options
            Passed to :class:`CRP` (composite, ...).

        Returns
        -------
        ReferenceCrops
        """
        explanation = self.heatmaps(model, data, concept, **crp_options)
        assert explanation.inputs is not None
        return reference_crops(explanation.inputs, explanation.attribution, size)


@dataclass(frozen=True)
class ReferenceCrops:
    """Crops of images around where a concept's relevance concentrates.

    Attributes
    ----------
    images, heatmaps : torch.Tensor
        ``(k, C, h, w)`` the cropped images and their cropped CRP heatmaps.
    corners : torch.Tensor
        ``(k, 2)`` the top-left pixel ``(row, column)`` of each crop in its image.
    """

    images: Tensor
    heatmaps: Tensor
    corners: Tensor


def reference_crops(images: Tensor, heatmaps: Tensor, size: int | tuple[int, int]) -> ReferenceCrops:
    """Crop each image to the ``size`` window holding the most positive relevance of its heatmap.

    The window maximizes the sum of the positive relevance (over channels) inside it (the
    first such window in row-major order on ties), found with a box filter in one pass.

    Parameters
    ----------
    images, heatmaps : torch.Tensor
        ``(k, C, H, W)`` images and their (CRP) heatmaps.
    size : int or (int, int)
        The window's height and width.

    Returns
    -------
    ReferenceCrops
    """
    if images.ndim != 4 or heatmaps.shape != images.shape:
        raise InputError(f"reference crops need images and heatmaps of one shape (k, C, H, W); got "
                         f"{tuple(images.shape)} and {tuple(heatmaps.shape)}")
    height, width = (size, size) if isinstance(size, int) else size
    if not (0 < height <= images.shape[-2] and 0 < width <= images.shape[-1]):
        raise InputError(f"crop size {(height, width)} must be positive and fit the images {tuple(images.shape[-2:])}")
    positive = heatmaps.detach().clamp(min=0).sum(1, keepdim=True).double()
    window = torch.nn.functional.avg_pool2d(positive, (height, width), stride=1).flatten(1)  # (k, positions)
    best = window.argmax(1)
    columns = images.shape[-1] - width + 1
    corners = torch.stack([best // columns, best % columns], dim=1)
    pick = [(slice(None), slice(int(r), int(r) + height), slice(int(c), int(c) + width)) for r, c in corners]
    return ReferenceCrops(
        images=torch.stack([images[n][box] for n, box in enumerate(pick)]),
        heatmaps=torch.stack([heatmaps[n][box] for n, box in enumerate(pick)]),
        corners=corners,
    )


def _top(scores: Tensor, index: Tensor, best: tuple[Tensor, Tensor] | None, k: int) -> tuple[Tensor, Tensor]:
    """Merge ``(C, n)`` new scores of samples ``index`` into the running ``(C, <=k)`` best."""
    candidates = scores.T.double()  # (C, n)
    indices = index.expand_as(candidates)
    if best is not None:
        candidates = torch.cat([best[0], candidates], dim=1)
        indices = torch.cat([best[1], indices], dim=1)
    order = torch.sort(candidates, dim=1, descending=True, stable=True).indices[:, :k]
    return candidates.gather(1, order), indices.gather(1, order)


def reference_samples(
    model: Model,
    data: Any,
    layer: str,
    *,
    target: Any = None,
    top_k: int = 8,
    batch_size: int = 64,
    channel_dim: ChannelDim = "auto",
    composite: str | Composite | None = None,
    composite_options: dict[str, Any] | None = None,
    progress: bool | None = None,
) -> ReferenceSamples:
    """Score every sample of ``data`` for every concept of ``layer``; keep the top ``k`` of each.

    Parameters
    ----------
    model : torch.nn.Module
        The model (eval mode).
    data : tensor or array-like
        ``(N, ...)`` samples; anything sliceable along the first axis (a NumPy memmap,
        a Zarr or HDF5 array) is read one batch at a time.
    layer : str
        The layer whose channels are the concepts.
    target : None, int or array-like
        The explained class: the predicted one (``None``), one class for all, or one per
        sample (for example the labels).
    top_k : int
        Samples kept per concept.
    batch_size : int
        Samples scored at once (memory is bounded by it).
    channel_dim, composite, composite_options
        As in :class:`~xaikit.concepts.CRP`.
    progress : bool, optional
        Show a progress bar (by default on a terminal for long runs).

    Returns
    -------
    ReferenceSamples
        Deterministic: the same data give the same samples (ties go to the lower index).
    """
    check_batch_size(batch_size)
    if not isinstance(top_k, int) or top_k < 1:
        raise InputError(f"top_k must be a positive integer, got {top_k!r}")
    n = int(data.shape[0]) if hasattr(data, "shape") else len(data)  # a Zarr array has no len()
    if n == 0:
        raise InputError("data holds no samples")
    per_sample = None
    if target is not None and not isinstance(target, int):
        per_sample = torch.as_tensor(np.asarray(target)).long()
        if per_sample.shape != (n,):
            raise InputError(f"target must give one class per sample ({n}), got shape {tuple(per_sample.shape)}")
    scorer = _ConceptScores(layer, channel_dim, LRP(composite=composite, composite_options=composite_options))
    by_relevance = by_activation = None
    targets = np.empty(n, dtype=np.int64)
    for start in progress_bar(range(0, n, batch_size), desc=f"scoring concepts of {layer}", enabled=progress):
        stop = min(start + batch_size, n)
        batch = torch.as_tensor(np.asarray(data[start:stop]))
        part = target if per_sample is None else per_sample[start:stop]
        scores = scorer(model, batch, part)
        assert scores.target is not None
        targets[start:stop] = scores.target.cpu().numpy()
        index = torch.arange(start, stop)
        by_relevance = _top(scores.extras["relevance"].cpu(), index, by_relevance, top_k)
        by_activation = _top(scores.extras["activation"].cpu(), index, by_activation, top_k)
    assert by_relevance is not None and by_activation is not None
    return ReferenceSamples(
        layer=layer,
        by_relevance=by_relevance[1].numpy(), relevance=by_relevance[0].numpy(),
        by_activation=by_activation[1].numpy(), activation=by_activation[0].numpy(),
        targets=targets, samples=n,
    )
