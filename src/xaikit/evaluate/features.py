"""Features as the perturbation metrics see them: single elements, pixels, patches, segments.

A *grouping* is an integer label per input element, shape ``x.shape[1:]``; all elements
with the same label form one feature, which is ranked by its summed relevance and
removed as a whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from xaikit.perturbation.groups import patch_labels


def feature_groups(
    shape: Sequence[int],
    *,
    patch: int | Sequence[int] | None = None,
    channels: str = "auto",
    device: torch.device | str | None = None,
) -> Tensor:
    """Label each element of one input with the feature it belongs to.

    Parameters
    ----------
    shape : sequence of int
        Shape of one input, ``x.shape[1:]``: ``(d,)``, ``(C, T)`` or ``(C, H, W)``.
    patch : int or sequence of int, optional
        Side of the square (cubic) patches grouping neighbouring positions along the
        spatial or temporal axes (region perturbation), or one side per axis; one element
        per feature if omitted. For tabular inputs it groups runs of consecutive features.
        The patch grid is :func:`xaikit.perturbation.patch_labels`, the one of
        :class:`xaikit.perturbation.Patches`.
    channels : {"auto", "joint", "separate"}
        Whether the channels at one position form one feature (``"joint"``: a pixel with
        its colours) or several (``"separate"``: each variable of a multivariate series).
        ``"auto"`` is joint for images and volumes (``len(shape) >= 3``) and separate for
        time series.
    device : torch.device or str, optional
        Device of the returned labels.

    Returns
    -------
    torch.Tensor
        Long tensor of ``shape`` with labels ``0 .. G-1`` (all used).

    Examples
    --------
    >>> feature_groups((3, 4, 4), patch=2).unique().numel()
    4
    """
    shape = tuple(int(s) for s in shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"shape must be the non-empty shape of one input, got {shape}")
    if channels not in ("auto", "joint", "separate"):
        raise ValueError(f"channels must be 'auto', 'joint' or 'separate', got {channels!r}")
    spatial: tuple[int, ...]
    if len(shape) == 1:
        spatial, n_channels, joint = shape, 1, True
    else:
        spatial, n_channels = shape[1:], shape[0]
        joint = len(shape) >= 3 if channels == "auto" else channels == "joint"
    label = patch_labels(spatial, 1 if patch is None else patch)
    if len(shape) > 1:
        n_spatial = int(label.max()) + 1
        if joint:
            label = label.expand(n_channels, *spatial)
        else:
            offsets = torch.arange(n_channels).view(-1, *([1] * len(spatial))) * n_spatial
            label = label + offsets
    return label.contiguous().to(device)


def as_groups(
    groups: Any,
    x: Tensor,
    *,
    patch: int | Sequence[int] | None = None,
    channels: str = "auto",
) -> tuple[Tensor, int]:
    """Validate user labels (or build them) for inputs ``x``; return labels and group count.

    ``groups`` may be ``None`` (built with :func:`feature_groups`) or integer labels of
    shape ``x.shape[1:]``, or broadcastable to it (``(1, H, W)`` for a segmentation shared
    by all channels). Labels are renumbered ``0 .. G-1``.
    """
    if groups is None:
        labels = feature_groups(x.shape[1:], patch=patch, channels=channels, device=x.device)
        return labels, int(labels.max()) + 1
    if patch is not None:
        raise ValueError("give either groups (explicit labels) or patch, not both")
    labels = torch.as_tensor(groups)
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise TypeError(f"groups must hold integer labels, got dtype {labels.dtype}")
    try:
        labels = labels.expand(x.shape[1:])
    except RuntimeError:
        raise ValueError(
            f"groups has shape {tuple(labels.shape)}; it must label the elements of one input, "
            f"shape {tuple(x.shape[1:])} (or broadcast to it)"
        ) from None
    _, inverse = torch.unique(labels, return_inverse=True)
    inverse = inverse.reshape(x.shape[1:]).to(x.device)
    return inverse, int(inverse.max()) + 1


def group_sums(values: Tensor, labels: Tensor, n_groups: int) -> Tensor:
    """Sum ``values`` ``(N, *shape)`` over the elements of each group: ``(N, G)``."""
    n = values.shape[0]
    flat = labels.reshape(1, -1).expand(n, -1)
    out = torch.zeros(n, n_groups, dtype=values.dtype, device=values.device)
    return out.scatter_add_(1, flat, values.reshape(n, -1))


def group_mask(selected: Tensor, labels: Tensor) -> Tensor:
    """Element mask ``(M, *shape)`` from a group mask ``(M, G)``."""
    m = selected.shape[0]
    flat = labels.reshape(1, -1).expand(m, -1)
    return selected.gather(1, flat).reshape(m, *labels.shape)
