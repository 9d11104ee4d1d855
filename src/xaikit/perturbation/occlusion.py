"""Occlusion: the drop of the output when a patch (or a feature group) is replaced.

A window of the chosen size slides over the trailing dimensions with the chosen stride
(the first at index 0, the last one cut off at the border, as in Captum), all channels
at once unless the window says otherwise. Each element's attribution is the average
output drop ``f(x) - f(x with the patch replaced)`` over the patches covering it
(Captum's ``Occlusion`` convention). With feature groups instead of patches, each group
is replaced in turn and its elements get the drop (Captum's ``FeatureAblation``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import ceil

import torch
from torch import Tensor

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.registry import register_method
from xaikit.core.targets import Target
from xaikit.perturbation.base import setup_game
from xaikit.perturbation.baseline import BaselineLike
from xaikit.perturbation.groups import GroupsLike, resolve_groups
from xaikit.perturbation.masking import MaskedForward
from xaikit.utils.batching import iter_batches
from xaikit.utils.options import check_batch_size

__all__ = ["Occlusion", "PatchGrid"]


@dataclass(frozen=True)
class PatchGrid:
    """Sliding windows over the sample shape ``(C, ...)`` or ``(d,)``.

    Attributes
    ----------
    shape : tuple of int
        The sample shape.
    window, stride : tuple of int
        Per dimension of the sample shape (the channel dimension spans all channels
        with a count of one unless the user's window includes it).
    """

    shape: tuple[int, ...]
    window: tuple[int, ...]
    stride: tuple[int, ...]

    @classmethod
    def build(
        cls, shape: tuple[int, ...], patch: int | Sequence[int], stride: int | Sequence[int] | None
    ) -> PatchGrid:
        """Expand ``patch`` and ``stride`` to every dimension of the sample ``shape`` and check them."""
        spatial = len(shape) if len(shape) == 1 else len(shape) - 1
        window = _expand(patch, shape, spatial, "patch")
        steps = window if stride is None else _expand(stride, shape, spatial, "stride")
        for dim, (length, w, s) in enumerate(zip(shape, window, steps)):
            if w > length:
                raise ValueError(
                    f"the patch is {w} long in dimension {dim + 1} but the input is only {length}; "
                    "use a smaller patch"
                )
            if s > w and w < length:
                raise ValueError(
                    f"stride {s} exceeds the patch size {w} in dimension {dim + 1}, so some elements "
                    "would never be occluded; use stride <= patch"
                )
        return cls(tuple(shape), window, steps)

    @property
    def counts(self) -> tuple[int, ...]:
        """Number of window positions per dimension."""
        return tuple(ceil((n - w) / s) + 1 for n, w, s in zip(self.shape, self.window, self.stride))

    @property
    def size(self) -> int:
        """Total number of patches."""
        total = 1
        for c in self.counts:
            total *= c
        return total

    @property
    def mask_shape(self) -> tuple[int, ...]:
        """Shape of a patch mask: 1 in dimensions every patch spans completely."""
        return tuple(1 if (c == 1 and w == n) else n for n, w, c in zip(self.shape, self.window, self.counts))

    def inside(self, patches: Tensor) -> Tensor:
        """Masks ``(B, *mask_shape)`` of the elements inside each of the ``patches`` ``(B,)``."""
        device = patches.device
        mask = torch.ones((len(patches), *self.mask_shape), dtype=torch.bool, device=device)
        rest = patches.clone()
        for dim in reversed(range(len(self.shape))):
            count, length = self.counts[dim], self.mask_shape[dim]
            position = rest % count
            rest = rest // count
            if length == 1:
                continue
            start = (position * self.stride[dim])[:, None]
            index = torch.arange(length, device=device)[None]
            along = (index >= start) & (index < start + self.window[dim])
            view = [len(patches)] + [1] * len(self.shape)
            view[dim + 1] = length
            mask &= along.view(view)
        return mask

    def coverage(self, device: torch.device) -> Tensor:
        """How many patches cover each element, ``mask_shape``."""
        total = torch.ones(self.mask_shape, dtype=torch.float64, device=device)
        for dim, length in enumerate(self.mask_shape):
            if length == 1:
                continue
            starts = torch.arange(self.counts[dim], device=device)[:, None] * self.stride[dim]
            index = torch.arange(length, device=device)[None]
            count = ((index >= starts) & (index < starts + self.window[dim])).sum(0).double()
            view = [1] * len(self.shape)
            view[dim] = length
            total = total * count.view(view)
        return total


def _expand(value: int | Sequence[int], shape: tuple[int, ...], spatial: int, what: str) -> tuple[int, ...]:
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an int or a tuple of ints")
    if isinstance(value, int):
        values = (value,) * spatial
    else:
        values = tuple(int(v) for v in value)
    if len(values) == len(shape):
        out = values
    elif len(values) == spatial:
        out = tuple(shape[: len(shape) - spatial]) + values
    else:
        raise ValueError(
            f"{what} has {len(values)} entries; for samples of shape {shape} give one number, "
            f"{spatial} (the trailing dimensions, all channels at once) or {len(shape)} (every dimension)"
        )
    if any(v < 1 for v in out):
        raise ValueError(f"{what} entries must be positive, got {values}")
    return out


@register_method("occlusion", aliases=("feature_ablation",))
class Occlusion(Explainer):
    """Occlusion: average output drop when patches covering an element are replaced.

    Parameters
    ----------
    patch : int or tuple of int, optional
        Window size: one number for all trailing (spatial) dimensions, a tuple with one
        per trailing dimension (channels are occluded all at once), or one per
        dimension of a sample including channels (Captum's ``sliding_window_shapes``).
        Tabular ``(N, d)``: along the features; series ``(N, C, T)``: along time;
        images ``(N, C, H, W)``: over height and width. 1 by default.
    stride : int or tuple of int, optional
        Step between windows, same forms as ``patch``; the patch size by default
        (non-overlapping patches). Must not exceed the patch.
    baseline : None, float, tensor, Background or Removal
        Replacement values: zeros by default, a constant, a tensor (sample or batch
        shape), ``Background(data)``, or a removal such as ``Blur()`` (see
        :mod:`xaikit.perturbation.baseline`).
    groups : None, integer mask, mapping or callable
        Occlude these feature groups one at a time instead of sliding patches (each
        element gets the drop of its group); cannot be combined with ``patch``.
    batch_size : int or None
        Largest number of model inputs per forward pass (patches of all samples are
        evaluated together; with ``Background(data)`` each counts ``M`` inputs);
        ``None``: about 2^20 input elements per pass, at most 65536 inputs.
    progress : bool or None
        Show a progress bar (``None``: the package default).

    Notes
    -----
    ``output`` is ``f(x) - f(baseline)``; ``extras``: ``model_output`` (``f(x)``),
    ``baseline_output``, ``patches`` (perturbations per sample), ``coverage`` (patches
    covering each element, for sliding windows).

    Examples
    --------
    >>> import torch, xaikit
    >>> model = torch.nn.Linear(3, 1)
    >>> e = xaikit.explain(model, torch.ones(1, 3), target=0, method="occlusion")
    >>> torch.allclose(e.attribution, model.weight)
    True
    """

    def __init__(
        self,
        patch: int | Sequence[int] | None = None,
        stride: int | Sequence[int] | None = None,
        baseline: BaselineLike = None,
        groups: GroupsLike = None,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> None:
        if groups is not None and (patch is not None or stride is not None):
            raise ValueError("give either groups= (occlude each group) or patch=/stride= (sliding windows), not both")
        self.patch = patch
        self.stride = stride
        self.baseline = baseline
        self.groups = groups
        self.batch_size = check_batch_size(batch_size)
        self.progress = progress

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        game, resolved, value = setup_game(
            model, inputs, target, self.baseline, self.batch_size, self.progress, "occlusion"
        )
        n = inputs.shape[0]
        device = inputs.device
        all_ids = torch.arange(n, device=device)
        everything = torch.ones((n, *[1] * (inputs.ndim - 1)), dtype=torch.bool, device=device)
        empty = game.values(all_ids, lambda rows: everything[rows]).to(device=device, dtype=value.dtype)
        extras: dict[str, object] = {"model_output": value, "baseline_output": empty}
        if self.groups is not None:
            attribution, per_sample = self._groups(game, inputs, value)
        else:
            attribution, per_sample, coverage = self._patches(game, inputs, value)
            extras["coverage"] = coverage
        extras["patches"] = per_sample
        row_wise = set(extras) - {"coverage"}  # coverage is the batch's, shaped like one input
        output = self._differences(value, empty)
        return Attribution(attribution.to(inputs.dtype), output, resolved, extras, empty, row_wise)

    def _differences(self, value: Tensor, masked: Tensor) -> Tensor:
        """What removing features changed: ``f(x) - f(x without them)`` (prediction difference analysis
        measures it in weight of evidence instead)."""
        return value - masked

    def _patches(self, game: MaskedForward, inputs: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n, shape = inputs.shape[0], tuple(inputs.shape[1:])
        grid = PatchGrid.build(shape, 1 if self.patch is None else self.patch, self.stride)
        device = inputs.device
        total = grid.size
        sample_ids = torch.arange(n, device=device).repeat_interleave(total)
        patch_ids = torch.arange(total, device=device).repeat(n)
        values = game.values(sample_ids, lambda rows: grid.inside(patch_ids[rows])).to("cpu", torch.float64)
        drops = self._differences(value.cpu().double()[sample_ids.cpu()], values)
        precise = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
        summed = torch.zeros((n, *grid.mask_shape), dtype=precise, device=device)
        for rows in iter_batches(len(sample_ids), 4096):
            inside = grid.inside(patch_ids[rows]).to(precise)
            weighted = inside * drops[rows].to(device=device, dtype=precise).view(-1, *([1] * len(shape)))
            summed.index_add_(0, sample_ids[rows], weighted)
        coverage = grid.coverage(torch.device("cpu")).to(device=device, dtype=precise)
        attribution = (summed / coverage).expand(n, *shape)
        return attribution, torch.full((n,), total, device=device), coverage.expand(shape)

    def _groups(self, game: MaskedForward, inputs: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        groups = resolve_groups(self.groups, inputs)
        device = inputs.device
        counts = torch.tensor(groups.counts, device=device)
        sample_ids = torch.arange(len(counts), device=device).repeat_interleave(counts)
        offsets = torch.cumsum(counts, 0) - counts
        group_ids = torch.arange(len(sample_ids), device=device) - offsets[sample_ids]
        labels = groups.labels.to(device)

        def removed(rows: slice) -> Tensor:
            return labels[sample_ids[rows]] == group_ids[rows, None]

        values = game.values(sample_ids, removed).to("cpu", torch.float64)
        drops = torch.zeros((len(counts), groups.max_count), dtype=torch.float64)
        drops[sample_ids.cpu(), group_ids.cpu()] = self._differences(value.cpu().double()[sample_ids.cpu()], values)
        attribution = drops.gather(1, labels.cpu()).reshape(inputs.shape).to(device=device, dtype=inputs.dtype)
        return attribution, counts
