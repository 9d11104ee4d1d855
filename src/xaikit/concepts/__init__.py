"""Explanations inside the network: concepts as channels or neurons of a layer.

- :class:`CRP` (method ``"crp"``): concept relevance propagation, LRP conditioned on
  channels of a layer, one heatmap per concept from one batched backward pass.
- :func:`reference_samples`: relevance maximization (and activation maximization, for
  comparison): the samples of a data set where each concept is most relevant.

Relevance at any layer without conditioning is an option of LRP itself
(``xaikit.explain(..., method="lrp", layers=[...])``).
"""

from xaikit.concepts.crp import CRP
from xaikit.concepts.maximization import ReferenceSamples, reference_samples

__all__ = ["CRP", "ReferenceSamples", "reference_samples"]
