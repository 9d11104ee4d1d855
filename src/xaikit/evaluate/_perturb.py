"""Batched evaluation of a model on many perturbed copies of a batch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from xaikit.core.base import Model
from xaikit.core.forward import auto_batch_size
from xaikit.core.targets import ResolvedTarget
from xaikit.evaluate._common import explained_value
from xaikit.evaluate.features import group_mask
from xaikit.evaluate.removal import Removal
from xaikit.utils.layout import as_layout_forward
from xaikit.utils.options import check_batch_size
from xaikit.utils.progress import progress as progress_bar

MaskFn = Callable[[Tensor], Tensor]





@dataclass
class Perturber:
    """Evaluate the explained value of ``model`` on copies of ``x`` with feature groups removed.

    Attributes
    ----------
    model, x, target :
        The model, the inputs ``(N, ...)`` on the model's device, the resolved target.
    labels : torch.Tensor
        Group label per element of one input (``x.shape[1:]``).
    removal : Removal
        How removed elements are replaced.
    generator : torch.Generator
        Local generator (random removal values).
    batch_size : int or None
        Rows per forward pass (``None``: automatic, see :func:`xaikit.core.forward.auto_batch_size`).
    """

    model: Model
    x: Tensor
    target: ResolvedTarget
    labels: Tensor
    removal: Removal
    generator: torch.Generator
    batch_size: int | None = None

    def __post_init__(self) -> None:
        # automatic: whole chunks (one point of all N inputs at least) per forward pass
        self._auto = self.batch_size is None
        self.batch_size = check_batch_size(self.batch_size) or auto_batch_size(self.model, self.x)
        self._run = as_layout_forward(self.model)
        self._fill: Tensor | None = None
        if not self.removal.depends_on_mask:
            everything = torch.ones_like(self.x, dtype=torch.bool)
            self._fill = self.removal.fill(self.x, everything, self.generator)

    def values(
        self,
        n_points: int,
        make_masks: MaskFn,
        *,
        desc: str | None = None,
        progress: bool | None = None,
    ) -> Tensor:
        """Explained values ``(n_points, N)`` of the perturbed copies.

        ``make_masks(points)`` returns, for a 1-D long tensor of point indices, the boolean
        group masks ``(len(points), N, G)`` of the groups removed at each point.
        """
        n = len(self.x)
        assert self.batch_size is not None
        per_chunk = max(1, self.batch_size // max(n, 1))
        chunks = list(torch.arange(n_points).split(per_chunk))
        out = []
        for points in progress_bar(chunks, desc=desc, enabled=progress, min_items=3):
            groups = make_masks(points.to(self.x.device))
            t = len(points)
            mask = group_mask(groups.reshape(t * n, -1), self.labels)
            xs = self.x.unsqueeze(0).expand(t, *self.x.shape).reshape(t * n, *self.x.shape[1:])
            if self._fill is not None:
                fill = self._fill.unsqueeze(0).expand(t, *self.x.shape).reshape(xs.shape)
                perturbed = torch.where(mask, fill, xs)
            else:
                perturbed = self.removal.apply(xs, mask, self.generator)
            rows = len(perturbed) if self._auto else self.batch_size
            value = explained_value(self._run, perturbed, self.target.repeat(t), rows)
            out.append(value.reshape(t, n))
        return torch.cat(out)
