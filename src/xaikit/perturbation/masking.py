"""The masking engine: the model's explained value on copies of a batch with elements removed.

Every perturbation explainer (occlusion, Shapley values, KernelSHAP, LIME) and every
perturbation metric (pixel-flipping, region perturbation, faithfulness correlation,
sensitivity-n) evaluates the model on many copies of its inputs in which some elements
are *removed*, that is replaced as a :class:`~xaikit.perturbation.removal.Removal` says.
:class:`MaskedForward` does this for any mix of samples, in batched forward passes
(:func:`xaikit.core.forward.auto_batch_size`, :func:`~xaikit.core.forward.check_output`,
image batches channels-last via :func:`xaikit.utils.layout.as_layout_forward`), and
returns the explained value of each copy: the target selected per row, averaged over the
replacement rows when the removal is an expectation over a background set.

The replacement values are prepared once per batch (random values are drawn then, from a
local generator, so every copy of a sample shares them) and only indexed afterwards,
unless they depend on the mask (inpainting), in which case they are computed per copy.

Class targets (given, predicted on the unperturbed input, or log-odds) keep each
sample's class for all of its copies. A callable target is applied to the outputs of
batches of copies that mix samples, so it must act row by row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from xaikit.core.base import Model
from xaikit.core.forward import auto_batch_size, check_output
from xaikit.core.targets import ResolvedTarget
from xaikit.perturbation.removal import Reference, Removal, replace
from xaikit.utils.batching import iter_batches
from xaikit.utils.layout import LayoutForward, as_layout_forward
from xaikit.utils.options import check_batch_size
from xaikit.utils.progress_bars import progress as progress_bar

__all__ = ["MaskedForward", "RemovedMask"]

#: Given the rows of one chunk, the mask of removed input elements: ``(B, F)`` bool over
#: the flattened elements, or with the inputs' number of dimensions and broadcastable to
#: them (a patch mask of shape ``(B, 1, H, W)`` removes the patch in all channels).
RemovedMask = Callable[[slice], Tensor]


@dataclass
class MaskedForward:
    """The model's explained value on copies of ``inputs`` with masked elements replaced.

    Parameters
    ----------
    model : callable
        The model.
    inputs : torch.Tensor
        The batch ``(N, ...)``, on the model's device.
    removal : Removal
        What replaces removed elements.
    target : ResolvedTarget
        The target resolved on the unperturbed batch (fixes the class of each sample).
    batch_size : int or None
        Largest number of model inputs per forward pass (a copy averaged over ``M``
        replacement rows counts ``M``); ``None``: automatic, see
        :func:`xaikit.core.forward.auto_batch_size`.
    generator : torch.Generator, optional
        Local generator of random replacement values (drawn once, on construction); a
        generator seeded with 0 if omitted.
    progress : bool or None
        Progress bar over the forward passes (``None``: the package setting).
    desc : str
        Label of the progress bar.
    """

    model: Model
    inputs: Tensor
    removal: Removal
    target: ResolvedTarget
    batch_size: int | None = None
    generator: torch.Generator | None = None
    progress: bool | None = None
    desc: str = "perturbations"
    _auto: int | None = field(default=None, init=False, repr=False)
    _reference: Reference | None = field(default=None, init=False, repr=False)
    _run: LayoutForward = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_batch_size(self.batch_size)
        if self.generator is None:
            self.generator = torch.Generator().manual_seed(0)
        self._reference = self.removal.prepare(self.inputs, self.generator)
        self._run = as_layout_forward(self.model)

    @property
    def rows(self) -> int:
        """Model evaluations per masked copy (the rows of an expectation, else 1)."""
        return self.removal.rows if self._reference is None else self._reference.rows

    def model_batch(self) -> int:
        """Model inputs per forward pass: ``batch_size``, or the automatic choice."""
        if self.batch_size is not None:
            return self.batch_size
        if self._auto is None:
            self._auto = auto_batch_size(self.model, self.inputs)
        return self._auto

    def masked(self, ids: Tensor, removed: Tensor, x: Tensor | None = None) -> Tensor:
        """The copies of the samples ``ids`` with the ``removed`` elements replaced.

        Parameters
        ----------
        ids : torch.Tensor
            ``(B,)`` long, the sample of each copy (on the inputs' device).
        removed : torch.Tensor
            The removed elements of each copy (see :data:`RemovedMask`).
        x : torch.Tensor, optional
            ``inputs[ids]``, if already at hand.

        Returns
        -------
        torch.Tensor
            ``(B * rows, ...)`` model inputs; the ``rows`` replacement rows of a copy
            are consecutive.
        """
        if x is None:
            x = self.inputs[ids]
        if removed.ndim != x.ndim:
            removed = removed.reshape(x.shape)
        if self._reference is not None:
            fill, expectation = self._reference.for_samples(ids), self._reference.expectation
        else:  # the replacement depends on the mask: computed for these copies
            assert self.generator is not None
            fill = self.removal.fill(x, removed.expand(x.shape), self.generator)
            expectation = self.removal.expectation
        batch = replace(x, removed, fill, expectation)
        return batch.reshape(-1, *x.shape[1:]) if expectation else batch

    def values(
        self, sample_ids: Tensor, removed: RemovedMask, *, align: int = 1, desc: str | None = None
    ) -> Tensor:
        """Explained value of each masked copy.

        Parameters
        ----------
        sample_ids : torch.Tensor
            ``(R,)`` long, the sample each copy is made of.
        removed : RemovedMask
            The removed elements of the copies of a chunk of rows.
        align : int
            ``removed`` is asked for chunks of a multiple of ``align`` rows (at least
            one multiple; the last chunk may be shorter), for example whole copies of the
            batch.
        desc : str, optional
            Label of the progress bar (default: :attr:`desc`).

        Returns
        -------
        torch.Tensor
            ``(R,)`` values, in the dtype of the model output, on the inputs' device.

        Notes
        -----
        A forward pass holds at most ``batch_size`` model inputs (but always one whole
        copy, the ``rows`` inputs of an expectation). With the automatic batch size a
        chunk of rows is one forward pass, at least ``align`` copies.
        """
        return self._values(sample_ids, removed, align, desc, tiled=False)

    def _values(
        self, sample_ids: Tensor, removed: RemovedMask, align: int, desc: str | None, tiled: bool
    ) -> Tensor:
        """:meth:`values`; ``tiled``: the rows are whole copies of the batch, ``arange(N)`` repeated."""
        rows = self.rows
        per_pass = max(1, self.model_batch() // rows)
        step = per_pass if align <= 1 else max(1, per_pass // align) * align
        within = per_pass if self.batch_size is not None else None
        device = self.inputs.device
        n, sample = len(self.inputs), self.inputs.shape[1:]
        out: list[Tensor] = []
        chunks = list(iter_batches(len(sample_ids), step))
        with torch.no_grad():
            for chunk in progress_bar(chunks, desc=desc or self.desc, enabled=self.progress, min_items=3):
                ids = sample_ids[chunk].to(device)
                mask = removed(chunk).to(device)
                if tiled:  # a copy of the batch is faster than gathering its rows
                    x = self.inputs.unsqueeze(0).expand(len(ids) // n, *self.inputs.shape).reshape(-1, *sample)
                else:
                    x = self.inputs[ids]
                for part in iter_batches(len(ids), within):
                    batch = self.masked(ids[part], mask[part], x[part])
                    output = check_output(self._run(batch), len(batch))
                    expanded = ids[part].repeat_interleave(rows) if rows > 1 else ids[part]
                    value = self.target.take(expanded).select(output)
                    out.append(value.view(-1, rows).mean(1) if rows > 1 else value)
        if not out:
            return torch.empty(0, device=device, dtype=self.inputs.dtype)
        return torch.cat(out)

    def copies(self, count: int, removed: Callable[[Tensor], Tensor], *, desc: str | None = None) -> Tensor:
        """Explained values of ``count`` masked copies of the whole batch.

        Parameters
        ----------
        count : int
            Number of copies of the batch (points of a curve, random subsets, ...).
        removed : callable
            ``removed(points)``, for a 1-D long tensor of copy indices, the removed
            elements ``(len(points) * N, ...)`` (copy-major).
        desc : str, optional
            Label of the progress bar (default: :attr:`desc`).

        Returns
        -------
        torch.Tensor
            ``(count, N)`` values, in the dtype of the model output, on the inputs' device.
        """
        n = len(self.inputs)
        device = self.inputs.device
        sample_ids = torch.arange(n, device=device).repeat(count)

        def rows(chunk: slice) -> Tensor:
            return removed(torch.arange(chunk.start // n, chunk.stop // n, device=device))

        return self._values(sample_ids, rows, max(n, 1), desc, tiled=True).view(count, n)
