"""Explanations inside the network: concepts as channels or neurons of a layer.

- :class:`CRP` (method ``"crp"``): concept relevance propagation, LRP conditioned on
  channels of a layer, one heatmap per concept from one batched backward pass.
- :func:`reference_samples`: relevance maximization (and activation maximization, for
  comparison): the samples of a data set where each concept is most relevant, and
  :func:`reference_crops`, the part of each sample where it is.
- :func:`tcav`: testing with concept activation vectors (:func:`concept_vector`,
  :func:`tcav_score`), with the t-test against random concepts.

Relevance at any layer without conditioning is an option of LRP itself
(``xaikit.explain(..., method="lrp", layers=[...])``).
"""

from xaikit.concepts.crp import CRP
from xaikit.concepts.maximization import (
    ReferenceCrops,
    ReferenceSamples,
    reference_crops,
    reference_samples,
)
from xaikit.concepts.tcav import ConceptVector, TCAVResult, concept_vector, tcav, tcav_score

__all__ = [
    "CRP",
    "ConceptVector",
    "ReferenceCrops",
    "ReferenceSamples",
    "TCAVResult",
    "concept_vector",
    "reference_crops",
    "reference_samples",
    "tcav",
    "tcav_score",
]
