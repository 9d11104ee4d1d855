"""Screening for Clever-Hans behaviour: how much of each class's relevance falls on a
region where no evidence should be (a corner mark, a watermark, a spike before the event)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xaikit.analysis.rows import as_rows
from xaikit.utils.errors import InputError

__all__ = ["ArtefactRelevance", "artefact_relevance"]


@dataclass(frozen=True)
class ArtefactRelevance:
    """Per group (class) of samples: the mean fraction of positive relevance on the region.

    Attributes
    ----------
    groups : tuple
        The groups, ranked by score, highest first.
    scores : numpy.ndarray
        The mean fraction of positive relevance inside the region, per group (same order).
    per_sample : numpy.ndarray
        The fraction for every sample, in sample order.
    """

    groups: tuple[Any, ...]
    scores: np.ndarray
    per_sample: np.ndarray

    def to_frame(self) -> Any:
        """The ranking as a pandas ``DataFrame``."""
        import pandas as pd

        return pd.DataFrame({"group": list(self.groups), "artefact relevance": self.scores})


def artefact_relevance(
    relevance: Any, region: Any, samples: Any = "label", *, method: str | None = None
) -> ArtefactRelevance:
    """Rank groups of samples by the share of their positive relevance inside ``region``.

    Parameters
    ----------
    relevance : array, tensor, Explanation or ExplanationStore
        ``(N, ...)`` explanations.
    region : array of bool
        A mask of the sample shape, or of the sample shape without its channel axis
        (applied to every channel).
    samples : str, array or None
        The group of each sample: a store array's name (its labels by default, else its
        predictions), one label per sample, or ``None`` for one group.
    method : str, optional
        The store's method.

    Returns
    -------
    ArtefactRelevance
    """
    rows = as_rows(relevance, method)
    mask = np.asarray(region, dtype=bool)
    shape = rows.sample_shape
    if mask.shape == shape[1:]:
        mask = np.broadcast_to(mask, shape)
    if mask.shape != shape:
        raise InputError(f"the region's mask has shape {mask.shape}; the samples have shape {shape}")
    inside = mask.reshape(-1)
    fractions = np.zeros(rows.samples)
    for indices, block in rows.blocks():
        positive = np.clip(block.reshape(len(block), -1).astype(np.float64), 0.0, None)
        total = positive.sum(1)
        fractions[indices] = np.where(total > 0, positive[:, inside].sum(1) / np.where(total > 0, total, 1.0), 0.0)
    groups = rows.groups(samples)
    if groups is None:
        return ArtefactRelevance(("all samples",), np.array([fractions.mean()]), fractions)
    names, codes = np.unique(groups, return_inverse=True)
    scores = np.bincount(codes, weights=fractions) / np.bincount(codes)
    order = np.argsort(-scores, kind="stable")
    return ArtefactRelevance(tuple(names[order].tolist()), scores[order], fractions)
