"""Layer-wise relevance propagation: the explainer, with the rules and composites of :mod:`xaikit.rules`,
and the top-down methods that split the output layer into a class and its dual
(:class:`ContrastiveLRP`, :class:`ExcitationBackprop`).

Every public name of :mod:`xaikit.rules` is re-exported here (``xaikit.lrp.Epsilon`` is
``xaikit.rules.Epsilon``).
"""

from xaikit import rules as _rules
from xaikit.lrp.contrastive import ContrastiveLRP, ExcitationBackprop, excitation_composite
from xaikit.lrp.explainer import LRP, logodds_graph, run_propagation
from xaikit.rules import *  # noqa: F403  (the rules and composites, listed in xaikit.rules.__all__)

__all__ = [
    "LRP",
    "ContrastiveLRP",
    "ExcitationBackprop",
    "excitation_composite",
    "logodds_graph",
    "run_propagation",
    *_rules.__all__,
]
