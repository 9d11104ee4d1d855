"""The symmetric relevance gain and the stability of method rankings across removal strategies
(Blücher, Vielhaben and Strodthoff, "Decoupling pixel flipping and occlusion strategy for
consistent XAI benchmarks", TMLR 2024).

Pixel-flipping scores depend on how removed pixels are filled in as much as on the
explanation: most-relevant-first (MoRF) and least-relevant-first (LeRF) curves rank the
same methods differently under a constant, a blur or an imputation. Blücher et al. combine
the two orders symmetrically: the relevance gain ``SRG = AUC(LeRF) - AUC(MoRF)`` (area
under the curves of the explained output over the fraction removed), whose method
rankings agree across removal strategies where either order alone does not.
:func:`ranking_stability` measures exactly that: Kendall's tau between the rankings of a
set of methods under every pair of removal strategies, for MoRF, LeRF and SRG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from xaikit.core.base import Model
from xaikit.core.targets import TargetLike
from xaikit.evaluate._common import AttributionLike
from xaikit.evaluate.faithfulness import FlippingResult, pixel_flipping

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RankingStability", "RelevanceGain", "ranking_stability", "relevance_gain"]

#: The scores whose rankings :func:`ranking_stability` compares.
SCORES = ("morf", "lerf", "srg")


@dataclass(frozen=True)
class RelevanceGain:
    """MoRF and LeRF curves under one removal, and their symmetric relevance gain.

    Attributes
    ----------
    morf, lerf : FlippingResult
    """

    morf: FlippingResult
    lerf: FlippingResult

    @property
    def srg(self) -> np.ndarray:
        """``AUC(LeRF) - AUC(MoRF)`` per sample (higher: more faithful)."""
        return self.lerf.auc - self.morf.auc

    def score(self, name: str) -> float:
        """The mean over samples of ``"srg"``, ``"morf"`` (``-AUC``: higher is better) or ``"lerf"`` (``AUC``)."""
        if name not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {name!r}")
        values = {"srg": self.srg, "morf": -self.morf.auc, "lerf": self.lerf.auc}[name]
        return float(values.mean())


def relevance_gain(
    model: Model,
    x: Tensor,
    attribution: AttributionLike,
    target: TargetLike = None,
    *,
    removal: Any = "constant",
    fractions: Sequence[float] | None = None,
    step: int = 1,
    patch: int | Sequence[int] | None = None,
    batch_size: int | None = None,
    seed: int | torch.Generator | None = 0,
    progress: bool | None = None,
) -> RelevanceGain:
    """MoRF and LeRF pixel-flipping under ``removal`` and the symmetric relevance gain.

    Parameters
    ----------
    model, x, attribution, target
        As in :func:`~xaikit.evaluate.pixel_flipping`.
    removal : str, float, tensor or Removal
        How removed features are filled in (``"constant"``, ``"blur"``, ``"noisy_linear"``,
        ``"inpaint"``, a Background ...).
    fractions, step, patch, batch_size, seed, progress
        As in :func:`~xaikit.evaluate.pixel_flipping`.

    Returns
    -------
    RelevanceGain
    """
    options: dict[str, Any] = {"removal": removal, "fractions": fractions, "step": step, "patch": patch,
                               "batch_size": batch_size, "seed": seed, "progress": progress}
    return RelevanceGain(
        morf=pixel_flipping(model, x, attribution, target, order="morf", **options),
        lerf=pixel_flipping(model, x, attribution, target, order="lerf", **options),
    )


def _kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


@dataclass(frozen=True)
class RankingStability:
    """Method scores under several removals and the agreement of their rankings.

    Attributes
    ----------
    scores : dict of str to numpy.ndarray
        Per score (``"morf"``, ``"lerf"``, ``"srg"``), ``(removals, methods)`` mean scores
        (higher is better for all three).
    methods, removals : list of str
    """

    scores: dict[str, np.ndarray]
    methods: list[str]
    removals: list[str]

    def kendall_tau(self, score: str) -> np.ndarray:
        """Kendall's tau of the method rankings for every pair of removals, ``(pairs,)``."""
        table = self.scores[score]
        return np.array([_kendall_tau(table[i], table[j]) for i, j in combinations(range(len(self.removals)), 2)])

    def mean_tau(self, score: str) -> float:
        """The mean of :meth:`kendall_tau`: 1 when every removal ranks the methods alike."""
        return float(self.kendall_tau(score).mean())

    def to_frame(self) -> pd.DataFrame:
        """One row per score, removal and method."""
        import pandas as pd

        rows = [(score, removal, method, float(table[r, m]))
                for score, table in self.scores.items() for r, removal in enumerate(self.removals)
                for m, method in enumerate(self.methods)]
        return pd.DataFrame(rows, columns=["score", "removal", "method", "value"])


def ranking_stability(
    model: Model,
    x: Tensor,
    explanations: Mapping[str, AttributionLike],
    target: TargetLike = None,
    *,
    removals: Mapping[str, Any] | Sequence[str] = ("constant", "blur", "noisy_linear"),
    **options: Any,
) -> RankingStability:
    """Rank methods by MoRF, LeRF and the relevance gain under each removal; compare the rankings.

    Parameters
    ----------
    model, x, target
        As in :func:`relevance_gain`.
    explanations : mapping of str to attribution
        Method name -> its attribution of ``x`` (at least two methods).
    removals : sequence of str or mapping of str to removal
        At least two removal strategies (names, or labels to removal objects).
    **options
        Passed to :func:`relevance_gain` (``fractions``, ``step``, ``batch_size`` ...).

    Returns
    -------
    RankingStability
    """
    if len(explanations) < 2:
        raise ValueError("ranking stability compares rankings: give at least two methods' explanations")
    chosen = dict(removals) if isinstance(removals, Mapping) else {str(r): r for r in removals}
    if len(chosen) < 2:
        raise ValueError("ranking stability compares removals: give at least two")
    methods = list(explanations)
    scores = {name: np.zeros((len(chosen), len(methods))) for name in SCORES}
    for r, removal in enumerate(chosen.values()):
        for m, method in enumerate(methods):
            gain = relevance_gain(model, x, explanations[method], target, removal=removal, **options)
            for name in SCORES:
                scores[name][r, m] = gain.score(name)
    return RankingStability(scores=scores, methods=methods, removals=list(chosen))
