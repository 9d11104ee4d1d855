"""Dataset-wide analyses of explanations (review 001, section VI-B).

- :func:`pool_relevance`: relevance pooled over groups of features and of data points,
  with conservation checked;
- :func:`spray`: spectral relevance analysis (SpRAy), clustering explanations into the
  model's prototypical strategies;
- :func:`artefact_relevance`: per class, the share of relevance on a suspect region.

Each takes explanations in memory or an :class:`~xaikit.store.ExplanationStore`, read
chunk by chunk.
"""

from xaikit.analysis.artefacts import ArtefactRelevance, artefact_relevance
from xaikit.analysis.normalize import Normalization
from xaikit.analysis.pooling import (
    PooledRelevance,
    channel_groups,
    grid_groups,
    pool_relevance,
    window_groups,
)
from xaikit.analysis.spray import SprayResult, spray

__all__ = [
    "ArtefactRelevance",
    "Normalization",
    "PooledRelevance",
    "SprayResult",
    "artefact_relevance",
    "channel_groups",
    "grid_groups",
    "pool_relevance",
    "spray",
    "window_groups",
]
