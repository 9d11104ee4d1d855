"""RISE: randomized input sampling for explanation (Petsiuk, Das and Saenko, 2018).

The saliency of an element is the model's explained value averaged over random soft masks,
weighted by how much of the element each mask keeps:

    S(x)_i = 1 / (K p) * sum_k f(x masked by M_k) * M_k,i ,

with ``K`` masks that keep each cell of a coarse ``cells x cells`` grid with probability
``p``, upsampled bilinearly and shifted by a random offset of less than one cell (the
paper's smooth masks). Tabular inputs get one independent keep/drop draw per feature. A
kept share ``M`` of an element mixes the input with the baseline: ``M x + (1 - M) b`` (the
paper's ``x * M`` for the zero baseline). All masks of all samples are evaluated in the
batched forward passes of the masking engine; masks are drawn from a local generator
(deterministic given ``seed``) and re-rendered in chunks, so memory does not grow with ``K``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.registry import register_method
from xaikit.core.targets import Target
from xaikit.perturbation.base import setup_game
from xaikit.perturbation.baseline import BaselineLike
from xaikit.utils.batching import iter_batches
from xaikit.utils.errors import InputError
from xaikit.utils.options import check_batch_size
from xaikit.utils.random import as_generator

__all__ = ["RISE", "MaskSampler"]

#: Masks rendered at once when the saliency is accumulated.
RENDER_CHUNK = 256


def check_mask_options(count: int, cells: int, probability: float) -> None:
    """Refuse a mask count or a grid size that is not a positive integer, or a keep probability outside (0, 1)."""
    if not isinstance(count, int) or count < 1:
        raise InputError(f"masks must be a positive integer, got {count!r}")
    if not 0.0 < probability < 1.0:
        raise InputError(f"probability must be strictly between 0 and 1, got {probability!r}")
    if not isinstance(cells, int) or cells < 1:
        raise InputError(f"cells must be a positive integer, got {cells!r}")


class MaskSampler:
    """The random masks of one RISE run, drawn once (the coarse grids and shifts) and
    rendered at full resolution on demand.

    Parameters
    ----------
    count : int
        Number of masks ``K``.
    shape : sequence of int
        One input's shape without the batch: ``(d,)`` tabular, ``(C, T)`` a series,
        ``(C, H, W)`` an image (masks are shared by the channels).
    cells : int
        Grid cells per spatial side (ignored for tabular inputs).
    probability : float
        Probability ``p`` that a cell (a feature) is kept.
    seed : int or torch.Generator
        Local randomness.
    """

    def __init__(self, count: int, shape: Sequence[int], cells: int, probability: float,
                 seed: int | torch.Generator | None) -> None:
        check_mask_options(count, cells, probability)
        self.count, self.shape, self.cells, self.probability = count, tuple(shape), cells, probability
        self.spatial = tuple(self.shape[1:]) if len(self.shape) in (2, 3) else ()
        if len(self.shape) > 3:
            raise InputError(f"RISE masks tabular (d,), series (C, T) or image (C, H, W) inputs, got {self.shape}")
        generator = as_generator(seed)
        if not self.spatial:  # tabular: an independent draw per feature
            self._grids = torch.rand((count, *self.shape), generator=generator) < probability
            self._shifts = torch.zeros((count, 0), dtype=torch.long)
            return
        self._grids = torch.rand((count, 1, *([cells] * len(self.spatial))), generator=generator) < probability
        self._cell = tuple(math.ceil(size / cells) for size in self.spatial)
        self._shifts = torch.stack([torch.randint(0, c, (count,), generator=generator) for c in self._cell], dim=1)

    def render(self, index: Tensor, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> Tensor:
        """Masks ``index`` (1-D long), kept shares in ``[0, 1]``: ``(len(index), 1, *spatial)``
        for series and images, ``(len(index), d)`` for tabular inputs."""
        grids = self._grids[index.cpu()].to(device=device, dtype=dtype)
        if not self.spatial:
            return grids
        upsampled = tuple((self.cells + 1) * c for c in self._cell)
        mode = "linear" if len(self.spatial) == 1 else "bilinear"
        smooth = F.interpolate(grids, size=upsampled, mode=mode, align_corners=False)
        shifts = self._shifts[index.cpu()]
        if len(self.spatial) == 1:
            return torch.stack([smooth[k, :, s:s + self.spatial[0]] for k, (s,) in enumerate(shifts.tolist())])
        height, width = self.spatial
        return torch.stack([smooth[k, :, r:r + height, c:c + width] for k, (r, c) in enumerate(shifts.tolist())])


@register_method("rise")
class RISE(Explainer):
    """RISE (Petsiuk et al., 2018): the explained value averaged over random smooth masks.

    Parameters
    ----------
    masks : int
        Number of random masks (the paper uses 4000 on ImageNet; the estimate's noise
        falls as ``1 / sqrt(masks)``).
    cells : int
        Grid cells per spatial side before upsampling (the paper's ``s``, 7 for 224 x 224
        images; about the size of the objects that matter).
    probability : float
        Probability that a cell is kept (the paper's ``p``, 0.5).
    baseline : None, float, tensor, Background or Removal
        What the masked-out share mixes in: zeros by default (the paper), a constant, a
        tensor, or a removal such as ``Blur()`` (see :mod:`xaikit.perturbation.baseline`);
        removals that depend on the mask (inpainting) are refused.
    seed : int or torch.Generator
        The masks' randomness; the same seed gives the same masks and saliency.
    batch_size : int or None
        Largest number of masked inputs per forward pass (``None``: automatic).
    progress : bool or None
        Show a progress bar (``None``: the package default).

    Notes
    -----
    All samples of a batch share the masks. ``extras``: ``masks``, ``probability``,
    ``cells``, ``model_output`` (``f(x)``, also the ``output``). The saliency is not a
    decomposition of ``f(x)``; on a linear model with independent masks it converges to
    ``(1 - p) w_i x_i + p (w . x) + b`` (its ranking is that of ``w_i x_i``).
    """

    def __init__(self, masks: int = 4000, cells: int = 7, probability: float = 0.5, baseline: BaselineLike = None,
                 seed: int | torch.Generator | None = 0, batch_size: int | None = None,
                 progress: bool | None = None) -> None:
        check_mask_options(masks, cells, probability)
        self.masks, self.cells, self.probability = masks, cells, probability
        self.baseline, self.seed = baseline, seed
        self.batch_size = check_batch_size(batch_size)
        self.progress = progress

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        game, resolved, value = setup_game(model, inputs, target, self.baseline, self.batch_size, self.progress,
                                           "RISE masks")
        if game.removal.depends_on_mask:
            raise InputError("RISE mixes soft masks with the baseline; a removal computed from the mask "
                             "(inpainting) has no soft form: use a constant, a tensor, Background or Blur()")
        sampler = MaskSampler(self.masks, inputs.shape[1:], self.cells, self.probability, self.seed)
        n, device = len(inputs), inputs.device
        precise = torch.float32 if device.type == "mps" else torch.float64

        def removed(points: Tensor) -> Tensor:  # copy-major: each mask for every sample of the batch
            kept = sampler.render(points, inputs.dtype, device)
            return (1.0 - kept).repeat_interleave(n, dim=0)

        values = game.copies(self.masks, removed).to(precise)  # (K, N)
        saliency = torch.zeros((n, *inputs.shape[1:]), dtype=precise, device=device)
        for chunk in iter_batches(self.masks, RENDER_CHUNK):
            kept = sampler.render(torch.arange(chunk.start, chunk.stop), precise, device)  # (B, 1 | d, ...)
            saliency += torch.tensordot(values[chunk].T, kept, dims=1)  # (N, 1 | d, ...): channels broadcast
        saliency /= self.masks * self.probability
        extras = {"model_output": value, "masks": self.masks, "probability": self.probability, "cells": self.cells}
        return Attribution(saliency.to(inputs.dtype), value, resolved, extras)
