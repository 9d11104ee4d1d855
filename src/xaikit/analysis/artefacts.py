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
        The mean fraction of positive relevance inside the region, per group (same order),
        over the samples that have positive relevance; NaN (ranked last) for a group with none.
    per_sample : numpy.ndarray
        The fraction for every sample, in sample order; NaN for a sample without positive
        relevance (no evidence is not evidence of no artefact).
    undefined : numpy.ndarray
        Per group (same order): how many of its samples have no positive relevance.
    """

    groups: tuple[Any, ...]
    scores: np.ndarray
    per_sample: np.ndarray
    undefined: np.ndarray

    def to_frame(self) -> Any:
        """The ranking as a pandas ``DataFrame``."""
        import pandas as pd

        return pd.DataFrame({"group": list(self.groups), "artefact relevance": self.scores,
                             "samples without positive relevance": self.undefined})


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
        The group of each sample: ``"label"`` (a store's labels, else its predictions; an
        explanation's explained classes), another store array's name, one label per
        sample, or ``None`` for one group.
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
        fractions[indices] = np.where(total > 0, positive[:, inside].sum(1) / np.where(total > 0, total, 1.0), np.nan)
    groups = rows.groups(samples)
    codes = np.zeros(rows.samples, dtype=np.int64) if groups is None else np.unique(groups, return_inverse=True)[1]
    names = np.array(["all samples"]) if groups is None else np.unique(groups)
    defined = ~np.isnan(fractions)
    counts = np.bincount(codes[defined], minlength=len(names))
    sums = np.bincount(codes[defined], weights=fractions[defined], minlength=len(names))
    scores = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    order = np.argsort(np.where(np.isnan(scores), np.inf, -scores), kind="stable")
    undefined = np.bincount(codes[~defined], minlength=len(names))
    return ArtefactRelevance(tuple(names[order].tolist()), scores[order], fractions, undefined[order])
