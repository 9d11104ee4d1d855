"""Batched evaluation of the model on perturbed copies of the inputs.

A perturbed input keeps some elements of a sample and takes the others from the
reference (:mod:`xaikit.perturbation.baseline`). :class:`PerturbationGame` evaluates
many such inputs, for any mix of samples, in batched forward passes, and returns the
explained value of each (the target selected per row, averaged over a background set
when the reference is an expectation).

Class targets (given, predicted on the unperturbed input, or log-odds) keep each
sample's class for all of its perturbed copies. A callable target is applied to the
outputs of batches of perturbed inputs that mix samples, so it must act row by row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from xaikit.core.base import Model
from xaikit.core.forward import auto_batch_size, check_output
from xaikit.core.targets import ResolvedTarget
from xaikit.perturbation.baseline import Reference
from xaikit.perturbation.groups import FeatureGroups
from xaikit.utils.batching import iter_batches
from xaikit.utils.layout import as_layout_forward
from xaikit.utils.progress import progress as progress_bar

__all__ = ["KeepMask", "PerturbationGame", "coalition_masks"]

#: Given the rows of one chunk, the mask of kept input elements: ``(B, F)`` bool over the
#: flattened elements, or with the inputs' number of dimensions and broadcastable to them.
KeepMask = Callable[[slice], Tensor]








def coalition_masks(
    coalitions: Tensor, groups: FeatureGroups, sample_ids: Tensor, row_index: Tensor | None = None
) -> KeepMask:
    """A :data:`KeepMask` keeping the groups switched on in the coalition of each row.

    Parameters
    ----------
    coalitions : torch.Tensor
        ``(U, G)`` bool, the groups kept in each coalition (padded to the largest group count).
    groups : FeatureGroups
        The groups of the batch.
    sample_ids : torch.Tensor
        ``(R,)`` the sample of each row.
    row_index : torch.Tensor, optional
        ``(R,)`` the coalition of each row (so that samples can share coalitions);
        row ``r`` uses coalition ``r`` when omitted.
    """
    labels = groups.labels

    def keep(rows: slice) -> Tensor:
        chosen = coalitions[rows] if row_index is None else coalitions[row_index[rows]]
        return torch.gather(chosen.to(labels.device), 1, labels[sample_ids[rows].to(labels.device)])

    return keep


@dataclass
class PerturbationGame:
    """The model's explained value on perturbed inputs, evaluated in batches.

    Parameters
    ----------
    model : callable
        The model.
    inputs : torch.Tensor
        The explained batch ``(N, ...)``.
    reference : Reference
        What replaces removed elements.
    target : ResolvedTarget
        The target resolved on the unperturbed batch (fixes the class of each sample).
    batch_size : int or None
        Largest number of model inputs per forward pass (``None``: automatic, see
        :func:`xaikit.core.forward.auto_batch_size`).
    progress : bool or None
        Progress bar over the forward passes.
    desc : str
        Label of the progress bar.
    """

    model: Model
    inputs: Tensor
    reference: Reference
    target: ResolvedTarget
    batch_size: int | None = None
    progress: bool | None = None
    desc: str = "perturbations"
    _auto: int | None = field(default=None, init=False, repr=False)

    def model_batch(self, inputs: Tensor) -> int:
        """Model inputs per forward pass: ``batch_size``, or the automatic choice."""
        if self.batch_size is not None:
            return self.batch_size
        if self._auto is None:
            self._auto = auto_batch_size(self.model, inputs)
        return self._auto

    def _perturbed(self, ids: Tensor, keep: Tensor) -> Tensor:
        x = self.inputs[ids]
        if keep.ndim != x.ndim:
            keep = keep.reshape(x.shape)
        if self.reference.expectation:
            mixed = torch.where(keep[:, None], x[:, None], self.reference.values[None])
            return mixed.reshape(-1, *x.shape[1:])
        return torch.where(keep, x, self.reference.for_samples(ids))

    def values(self, sample_ids: Tensor, keep: KeepMask) -> Tensor:
        """Explained value of each perturbed row.

        Parameters
        ----------
        sample_ids : torch.Tensor
            ``(R,)`` long, the sample each row perturbs.
        keep : KeepMask
            The kept elements of the rows of a chunk.

        Returns
        -------
        torch.Tensor
            ``(R,)`` float64 values on the CPU.
        """
        rows = self.reference.rows
        per_pass = max(1, self.model_batch(self.inputs) // rows)
        total = len(sample_ids)
        out = torch.empty(total, dtype=torch.float64)
        chunks = list(iter_batches(total, per_pass))
        device = self.inputs.device
        run = as_layout_forward(self.model)
        with torch.no_grad():
            for chunk in progress_bar(chunks, desc=self.desc, enabled=self.progress, min_items=4):
                ids = sample_ids[chunk].to(device)
                batch = self._perturbed(ids, keep(chunk).to(device))
                output = check_output(run(batch), len(batch))
                expanded = ids.repeat_interleave(rows) if rows > 1 else ids
                value = self.target.take(expanded).select(output)
                if rows > 1:
                    value = value.view(-1, rows).mean(1)
                out[chunk] = value.detach().to(device="cpu", dtype=torch.float64)
        return out
