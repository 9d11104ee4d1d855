"""Dataset-wide analyses of explanations (review 001, section VI-B).

- :func:`pool_relevance`: relevance pooled over groups of features and of data points,
  with conservation checked;
- :func:`spray`: spectral relevance analysis (SpRAy), clustering explanations into the
  model's prototypical strategies;
- :func:`artefact_relevance`: per class, the share of relevance on a suspect region;
- :func:`export_virelay`: a store and SpRAy results as the HDF5 files of CoRelAy that the
  ViRelAy viewer opens (:func:`read_virelay_analysis` reads an analysis file back).

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
from xaikit.analysis.virelay import VirelayAnalysis, export_virelay, read_virelay_analysis

__all__ = [
    "ArtefactRelevance",
    "Normalization",
    "PooledRelevance",
    "SprayResult",
    "VirelayAnalysis",
    "artefact_relevance",
    "channel_groups",
    "export_virelay",
    "grid_groups",
    "pool_relevance",
    "read_virelay_analysis",
    "spray",
    "window_groups",
]
