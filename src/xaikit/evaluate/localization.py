"""Localization: does the relevance fall on a known ground-truth region?

Each function takes attributions and boolean ground-truth masks and returns one score
per sample. Image attributions ``(N, C, H, W)`` are summed over channels; masks may be
``(N, H, W)``, ``(N, 1, H, W)`` or ``(N, C, H, W)`` (a position is inside when any of its
channels is). Tabular and time-series masks have the attribution's shape.

- :func:`pointing_game` (Zhang et al., 2018): is the most relevant position inside?
- :func:`relevance_mass_accuracy` (Arras et al., 2022): share of positive relevance inside.
- :func:`relevance_rank_accuracy` (Arras et al., 2022): share of the ``K`` most relevant
  positions inside, ``K`` the mask's size.
- :func:`outside_inside_ratio`: mean positive relevance outside over mean inside
  (below 1 when the explanation concentrates on the object).
- :func:`segmentation_scores`: pixel accuracy, IoU and mean IoU of the thresholded map.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from xaikit.evaluate._common import AttributionLike, attribution_tensor, to_map

_MASK_SCORE_SECTIONS = """\
Parameters
----------
attribution : tensor, array or Explanation
    Attributions ``(N, ...)``; image channels are summed.
mask : tensor or array
    Boolean ground truth (see the module docstring for the accepted shapes); every
    sample needs a non-empty region.

Returns
-------
numpy.ndarray
    One score per sample, ``(N,)``.
"""

_ScoreFn = TypeVar("_ScoreFn", bound=Callable[..., np.ndarray])


def _mask_score_docs(score: _ScoreFn) -> _ScoreFn:
    """Append the parameters and returns shared by the per-sample scores ``score(attribution, mask)``."""
    score.__doc__ = f"{inspect.cleandoc(score.__doc__ or '')}\n\n{_MASK_SCORE_SECTIONS}"
    return score


def _map_and_mask(attribution: AttributionLike, mask: Any) -> tuple[Tensor, Tensor]:
    """Flattened maps ``(N, P)`` and boolean masks ``(N, P)`` on the CPU."""
    a = attribution_tensor(attribution)
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, Tensor) else mask).detach().cpu()
    if m.dtype.is_floating_point:
        if not bool(((m == 0) | (m == 1)).all()):
            raise ValueError("masks must be boolean (or hold only 0 and 1)")
    m = m.bool()
    if a.ndim >= 4:
        if m.ndim == a.ndim - 1:
            m = m.unsqueeze(1)
        if m.ndim != a.ndim or m.shape[0] != a.shape[0] or m.shape[2:] != a.shape[2:] or m.shape[1] not in (1, a.shape[1]):
            raise ValueError(
                f"mask of shape {tuple(m.shape)} does not fit attributions of shape {tuple(a.shape)}; "
                "pass (N, H, W), (N, 1, H, W) or the attribution's shape"
            )
        m = m.any(1, keepdim=True)
    elif m.shape != a.shape:
        raise ValueError(
            f"mask of shape {tuple(m.shape)} does not fit attributions of shape {tuple(a.shape)}; "
            "pass one boolean per element"
        )
    maps = to_map(a).reshape(len(a), -1)
    masks = m.reshape(len(m), -1)
    empty = (~masks.any(1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"the masks of samples {empty} are empty; every sample needs a ground-truth region")
    return maps, masks


@_mask_score_docs
def pointing_game(attribution: AttributionLike, mask: Any) -> np.ndarray:
    """1 where the position of maximal relevance lies inside the mask, else 0 (ties: any inside)."""
    maps, masks = _map_and_mask(attribution, mask)
    hits = (maps == maps.max(1, keepdim=True).values) & masks
    return hits.any(1).to(torch.float64).numpy()


@_mask_score_docs
def relevance_mass_accuracy(attribution: AttributionLike, mask: Any) -> np.ndarray:
    """Positive relevance inside the mask over all positive relevance (0 if there is none)."""
    maps, masks = _map_and_mask(attribution, mask)
    positive = maps.clamp(min=0)
    total = positive.sum(1)
    inside = (positive * masks).sum(1)
    return torch.where(total > 0, inside / torch.where(total > 0, total, torch.ones_like(total)), torch.zeros_like(total)).numpy()


@_mask_score_docs
def relevance_rank_accuracy(attribution: AttributionLike, mask: Any) -> np.ndarray:
    """Fraction of the ``K`` most relevant positions that lie inside the mask (``K`` = mask size).

    Ties at the cut-off are broken by position (stable sort).
    """
    maps, masks = _map_and_mask(attribution, mask)
    order = torch.argsort(-maps, dim=1, stable=True)
    sizes = masks.sum(1)
    ranked_inside = masks.gather(1, order)
    within_k = torch.arange(maps.shape[1]).unsqueeze(0) < sizes.unsqueeze(1)
    return ((ranked_inside & within_k).sum(1) / sizes).to(torch.float64).numpy()


@_mask_score_docs
def outside_inside_ratio(attribution: AttributionLike, mask: Any) -> np.ndarray:
    """Mean positive relevance per position outside the mask over the mean inside.

    0 when nothing relevant lies outside, 1 when relevance ignores the mask, ``inf`` when
    all positive relevance lies outside. Needs masks that leave some positions outside.
    """
    maps, masks = _map_and_mask(attribution, mask)
    full = masks.all(1).nonzero().flatten().tolist()
    if full:
        raise ValueError(f"the masks of samples {full} cover everything; the ratio needs an outside")
    positive = maps.clamp(min=0)
    inside = (positive * masks).sum(1) / masks.sum(1)
    outside = (positive * ~masks).sum(1) / (~masks).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = outside.numpy() / inside.numpy()
    return np.where((inside.numpy() == 0) & (outside.numpy() == 0), 1.0, ratio)


def segmentation_scores(
    attribution: AttributionLike, mask: Any, *, threshold: float | str = 0.5
) -> dict[str, np.ndarray]:
    """Pixel accuracy, foreground IoU and mean IoU of the thresholded heatmap.

    Parameters
    ----------
    attribution : tensor, array or Explanation
        Attributions ``(N, ...)``; image channels are summed.
    mask : tensor or array
        Boolean ground truth.
    threshold : float or "area"
        A position is predicted relevant when its relevance is at least ``threshold``
        times the sample's maximal relevance (positive maps); ``"area"`` predicts the
        ``K`` most relevant positions, ``K`` the mask's size.

    Returns
    -------
    dict
        ``pixel_accuracy``, ``iou`` (of the foreground) and ``miou`` (mean over foreground
        and background), each ``(N,)``.
    """
    maps, masks = _map_and_mask(attribution, mask)
    if threshold == "area":
        order = torch.argsort(-maps, dim=1, stable=True)
        keep = torch.arange(maps.shape[1]).unsqueeze(0) < masks.sum(1, keepdim=True)
        predicted = torch.zeros_like(masks).scatter_(1, order, keep)
    elif isinstance(threshold, int | float) and not isinstance(threshold, bool):
        peak = maps.max(1, keepdim=True).values
        predicted = (maps >= threshold * peak) & (peak > 0)
    else:
        raise ValueError(f"threshold must be a number or 'area', got {threshold!r}")

    def iou(pred: Tensor, truth: Tensor) -> Tensor:
        union = (pred | truth).sum(1)
        inter = (pred & truth).sum(1)
        return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union, dtype=torch.float64))

    fg = iou(predicted, masks).to(torch.float64)
    bg = iou(~predicted, ~masks).to(torch.float64)
    return {
        "pixel_accuracy": (predicted == masks).to(torch.float64).mean(1).numpy(),
        "iou": fg.numpy(),
        "miou": ((fg + bg) / 2).numpy(),
    }
