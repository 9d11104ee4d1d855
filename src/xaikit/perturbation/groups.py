"""Feature groups: the "players" that perturbation methods switch on and off.

A ``groups`` option can be

- ``None``: every input element is its own group;
- an integer mask (tensor or array) with one label per input element: of the sample
  shape, or broadcastable to it (an ``(H, W)`` mask for ``(C, H, W)`` images groups all
  channels of a pixel), shared by all samples; or with a leading batch dimension
  ``(N, ...)`` (same number of dimensions as the inputs) for one mask per sample, for
  example superpixels. Labels may be any integers; they are renumbered ``0..G-1``;
- a mapping ``{name: [column, ...]}`` for tabular inputs ``(N, d)``: named column
  groups; columns not listed stay groups of their own (see :class:`ColumnGroups`);
- a callable mapping the inputs to such a mask, such as :class:`Patches` or
  :class:`Superpixels`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ColumnGroups",
    "FeatureGroups",
    "GroupsLike",
    "Patches",
    "Superpixels",
    "patch_labels",
    "resolve_groups",
]

GroupsLike = (
    Tensor | np.ndarray | Mapping[str, Sequence[int | str]] | Callable[[Tensor], Tensor | np.ndarray] | None
)


@dataclass(frozen=True)
class FeatureGroups:
    """Groups resolved for a batch.

    Attributes
    ----------
    labels : torch.Tensor
        ``(N, F)`` long, the group ``0..G_n-1`` of each of the ``F`` flattened input
        elements of sample ``n``.
    counts : tuple of int
        Number of groups ``G_n`` of each sample.
    names : list of str or None
        Group names (named column groups only).
    """

    labels: Tensor
    counts: tuple[int, ...]
    names: list[str] | None = None

    @property
    def max_count(self) -> int:
        """The largest number of groups of any sample."""
        return max(self.counts) if self.counts else 0

    def sizes(self) -> Tensor:
        """Number of input elements in each group, ``(N, max_count)`` (0 for padding)."""
        n = self.labels.shape[0]
        out = torch.zeros((n, self.max_count), dtype=torch.long, device=self.labels.device)
        return out.scatter_add_(1, self.labels, torch.ones_like(self.labels))

    def spread(self, values: Tensor, mode: str) -> Tensor:
        """Turn group values ``(N, G)`` into element values ``(N, F)``.

        Parameters
        ----------
        values : torch.Tensor
            One value per group (padded to :attr:`max_count`).
        mode : {"divide", "repeat"}
            ``"divide"`` shares each group's value equally among its elements (the
            element sum equals the group sum, so efficiency carries over);
            ``"repeat"`` gives every element the full value of its group (Captum's
            convention for feature masks).
        """
        labels = self.labels.to(values.device)
        per_element = values.gather(1, labels)
        if mode == "repeat":
            return per_element
        if mode == "divide":
            sizes = self.sizes().to(values.device).gather(1, labels)
            return per_element / sizes.to(values.dtype)
        raise ValueError(f"group_attribution must be 'divide' or 'repeat', got {mode!r}")


def _check_integer_mask(mask: Tensor) -> Tensor:
    if mask.dtype.is_floating_point or mask.dtype.is_complex or mask.dtype == torch.bool:
        raise TypeError(
            f"a feature-group mask must hold integer labels, got dtype {mask.dtype}; "
            "convert it with .long()"
        )
    return mask.long()


def _from_mask(mask: Tensor, inputs: Tensor) -> FeatureGroups:
    n, sample = inputs.shape[0], tuple(inputs.shape[1:])
    mask = _check_integer_mask(mask).to(inputs.device)
    if mask.ndim == inputs.ndim and mask.shape[0] in (1, n):
        try:
            full = torch.broadcast_to(mask, (mask.shape[0], *sample))
        except RuntimeError:
            full = None
        if full is not None:
            full = full.expand(n, *sample) if mask.shape[0] == 1 else full
            return _relabel(full.reshape(n, -1))
    try:
        shared = torch.broadcast_to(mask, sample)
    except RuntimeError:
        raise ValueError(
            f"feature-group mask of shape {tuple(mask.shape)} does not fit the samples' shape "
            f"{sample}; pass a mask of that shape (or broadcastable to it), or one of shape "
            f"{(n, *sample)} with a mask per sample"
        ) from None
    return _relabel(shared.reshape(1, -1).expand(n, -1))


def _relabel(labels: Tensor) -> FeatureGroups:
    if labels.shape[0] > 0 and bool((labels == labels[:1]).all()):
        _, inverse = torch.unique(labels[0], return_inverse=True)
        count = int(inverse.max()) + 1 if inverse.numel() else 0
        return FeatureGroups(inverse.expand(labels.shape[0], -1).contiguous(), (count,) * labels.shape[0])
    rows, counts = [], []
    for row in labels:
        _, inverse = torch.unique(row, return_inverse=True)
        rows.append(inverse)
        counts.append(int(inverse.max()) + 1 if inverse.numel() else 0)
    return FeatureGroups(torch.stack(rows), tuple(counts))


@dataclass(frozen=True)
class ColumnGroups:
    """Named groups of tabular columns, for inputs ``(N, d)``.

    Parameters
    ----------
    groups : mapping of str to sequence of int or str
        Group name to its columns, given as indices or as names from ``feature_names``.
        Columns in no group stay groups of their own, named after the column.
    feature_names : sequence of str, optional
        Column names, needed when groups list columns by name.

    Examples
    --------
    >>> import torch
    >>> g = ColumnGroups({"size": [0, 1]}, feature_names=["w", "h", "age"])
    >>> g.resolve(torch.zeros(2, 3)).names
    ['size', 'age']
    """

    groups: Mapping[str, Sequence[int | str]]
    feature_names: Sequence[str] | None = None

    def _column(self, column: int | str, d: int) -> int:
        if isinstance(column, str):
            if self.feature_names is None or column not in self.feature_names:
                raise ValueError(
                    f"column {column!r} is not a known feature name; pass feature_names= listing "
                    "the columns, or give columns by index"
                )
            return list(self.feature_names).index(column)
        index = int(column)
        if not -d <= index < d:
            raise ValueError(f"column index {index} is out of range for {d} features")
        return index % d

    def resolve(self, inputs: Tensor) -> FeatureGroups:
        """Resolve against a tabular batch ``(N, d)``."""
        if inputs.ndim != 2:
            raise ValueError(
                f"named column groups need tabular inputs (N, d), got shape {tuple(inputs.shape)}; "
                "for other inputs pass an integer mask"
            )
        d = inputs.shape[1]
        if self.feature_names is not None and len(self.feature_names) != d:
            raise ValueError(f"{len(self.feature_names)} feature names given for {d} features")
        labels = torch.full((d,), -1, dtype=torch.long)
        names: list[str] = []
        for name, columns in self.groups.items():
            if len(columns) == 0:
                raise ValueError(f"column group {name!r} is empty; give it at least one column")
            for column in columns:
                index = self._column(column, d)
                if labels[index] >= 0:
                    raise ValueError(
                        f"column {column!r} is in both {names[int(labels[index])]!r} and {name!r}; "
                        "groups must not overlap"
                    )
                labels[index] = len(names)
            names.append(str(name))
        for index in range(d):
            if labels[index] < 0:
                labels[index] = len(names)
                names.append(self.feature_names[index] if self.feature_names is not None else f"x{index}")
        n = inputs.shape[0]
        return FeatureGroups(
            labels.to(inputs.device)[None].expand(n, d).contiguous(), (len(names),) * n, names
        )

    def __call__(self, inputs: Tensor) -> Tensor:
        """The label mask ``(d,)``."""
        return self.resolve(inputs).labels[0]


def _spatial_dims(ndim: int) -> int:
    """Number of trailing dims that are spatial: all for tabular, all but channels otherwise."""
    return 1 if ndim == 2 else ndim - 2


def _patch_sizes(size: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    """A patch size expanded to ``ndim`` spatial dimensions, checked.

    Parameters
    ----------
    size : int or sequence of int
        One size for all dimensions or one per dimension.
    ndim : int
        Number of spatial dimensions.

    Returns
    -------
    tuple of int
        ``ndim`` positive sizes.
    """
    sizes = (int(size),) * ndim if isinstance(size, int | np.integer) else tuple(int(s) for s in size)
    if len(sizes) != ndim:
        raise ValueError(
            f"patch size has {len(sizes)} entries, expected {ndim} (one per spatial dimension)"
        )
    if any(s < 1 for s in sizes):
        raise ValueError(f"patch size must be positive, got {sizes}")
    return sizes


def patch_labels(
    spatial: Sequence[int], size: int | Sequence[int], *, device: torch.device | str | None = None
) -> Tensor:
    """Label each position of a grid with the non-overlapping patch it lies in.

    The one patch grid of the library: :class:`Patches` (feature groups of the
    perturbation methods) and :func:`xaikit.evaluate.feature_groups` (features of the
    perturbation metrics) both use it.

    Parameters
    ----------
    spatial : sequence of int
        The grid's shape, for example ``(H, W)``.
    size : int or sequence of int
        Patch size, one for all dimensions or one per dimension; border patches are
        smaller where a size does not divide the grid.
    device : torch.device or str, optional
        Device of the labels.

    Returns
    -------
    torch.Tensor
        Long tensor of shape ``spatial``: patch labels ``0 .. G-1``, numbered in row-major
        order of the patch grid (all used).

    Examples
    --------
    >>> patch_labels((2, 5), 2).tolist()
    [[0, 0, 1, 1, 2], [0, 0, 1, 1, 2]]
    """
    spatial = tuple(int(s) for s in spatial)
    sizes = _patch_sizes(size, len(spatial))
    labels = torch.zeros(spatial, dtype=torch.long, device=device)
    for dim, (length, step) in enumerate(zip(spatial, sizes)):
        index = torch.arange(length, device=device) // step
        shape = [1] * len(spatial)
        shape[dim] = length
        labels = labels * (-(-length // step)) + index.view(shape)
    return labels


@dataclass(frozen=True)
class Patches:
    """A grid of non-overlapping patches over the spatial dimensions as feature groups.

    Patches span all channels (images ``(N, C, H, W)``, series ``(N, C, T)``); for
    tabular ``(N, d)`` they are blocks of consecutive columns. Border patches may be smaller.

    Parameters
    ----------
    size : int or sequence of int
        Patch size, one for all spatial dimensions or one per dimension.

    Examples
    --------
    >>> import torch
    >>> Patches(2)(torch.zeros(1, 3, 4, 4)).shape
    torch.Size([4, 4])
    """

    size: int | Sequence[int]

    def __call__(self, inputs: Tensor) -> Tensor:
        """The label mask of the spatial shape (broadcast over channels)."""
        spatial = tuple(inputs.shape[inputs.ndim - _spatial_dims(inputs.ndim) :])
        return patch_labels(spatial, self.size, device=inputs.device)


@dataclass(frozen=True)
class Superpixels:
    """SLIC superpixels of each image (``skimage.segmentation.slic``) as feature groups.

    Each image is rescaled to [0, 1] before segmenting; segments span all channels.

    Parameters
    ----------
    n_segments : int
        Approximate number of superpixels.
    compactness : float
        Balance of colour and space proximity (higher: squarer segments).
    sigma : float
        Width of the Gaussian smoothing before segmenting.

    Examples
    --------
    >>> import torch
    >>> mask = Superpixels(4)(torch.rand(2, 3, 16, 16))
    >>> mask.shape
    torch.Size([2, 1, 16, 16])
    """

    n_segments: int = 50
    compactness: float = 10.0
    sigma: float = 0.0

    def __call__(self, inputs: Tensor) -> Tensor:
        """Per-sample masks ``(N, 1, H, W)``."""
        from skimage.segmentation import slic

        if inputs.ndim != 4:
            raise ValueError(
                f"superpixels need images (N, C, H, W), got shape {tuple(inputs.shape)}; "
                "use Patches or an integer mask for other inputs"
            )
        images = inputs.detach().cpu().double().numpy()
        masks: list[Tensor] = []
        for image in images:
            low, high = image.min(), image.max()
            scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
            channels = scaled.shape[0]
            segments = slic(
                np.moveaxis(scaled, 0, -1) if channels > 1 else scaled[0],
                n_segments=self.n_segments,
                compactness=self.compactness,
                sigma=self.sigma,
                channel_axis=-1 if channels > 1 else None,
                convert2lab=channels == 3,
                start_label=0,
            )
            if self.n_segments > 1 and int(segments.max()) == 0:
                warnings.warn(
                    f"SLIC found a single segment in image {len(masks)} (noise-like images are merged "
                    "into one when segments are made connected); raise compactness, or use "
                    "xaikit.perturbation.Patches for a fixed grid",
                    stacklevel=2,
                )
            masks.append(torch.from_numpy(np.asarray(segments, dtype=np.int64)))
        return torch.stack(masks)[:, None].to(inputs.device)


def resolve_groups(groups: GroupsLike, inputs: Tensor) -> FeatureGroups:
    """Resolve a ``groups`` option against the batch ``inputs``.

    Parameters
    ----------
    groups : None, mask, mapping or callable
        See the module documentation.
    inputs : torch.Tensor
        The explained batch ``(N, ...)``.

    Returns
    -------
    FeatureGroups
        Labels ``(N, F)`` numbered ``0..G_n-1`` per sample.
    """
    n = inputs.shape[0]
    if groups is None:
        f = int(np.prod(inputs.shape[1:]))
        labels = torch.arange(f, device=inputs.device)[None].expand(n, f).contiguous()
        return FeatureGroups(labels, (f,) * n)
    if isinstance(groups, ColumnGroups):
        return groups.resolve(inputs)
    if isinstance(groups, Mapping):
        return ColumnGroups(groups).resolve(inputs)
    if isinstance(groups, np.ndarray):
        return _from_mask(torch.from_numpy(groups), inputs)
    if isinstance(groups, Tensor):
        return _from_mask(groups, inputs)
    if callable(groups):
        mask = groups(inputs)
        if isinstance(mask, np.ndarray):
            mask = torch.from_numpy(mask)
        if not isinstance(mask, Tensor):
            raise TypeError(f"the groups callable returned {type(mask).__name__}; it must return an integer mask")
        return _from_mask(mask, inputs)
    raise TypeError(
        f"cannot use a {type(groups).__name__} as groups; pass None, an integer mask, a mapping of "
        "names to columns, or a callable such as xaikit.perturbation.Patches(8)"
    )
