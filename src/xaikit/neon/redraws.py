"""Error bars for random-feature inlierness: explanations over redrawn features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from xaikit.neon.base import as_float_tensor
from xaikit.neon.kde import RandomFeatureInlierness, derive_seeds
from xaikit.utils.options import accepts_old_names
from xaikit.utils.progress_bars import progress as progress_bar

__all__ = ["RedrawSummary", "redraw_inlierness"]


@dataclass(frozen=True)
class RedrawSummary:
    """Random-feature inlierness and its explanation over independent redraws.

    Attributes
    ----------
    n_features : int
        Number ``H`` of random features per draw.
    seeds : tuple of int
        Seed of each draw.
    scores : torch.Tensor
        ``i_hat(x)`` per draw and point, shape ``(draws, M)``.
    relevance : torch.Tensor
        Relevance per draw, point and feature, shape ``(draws, M, d)``.
    """

    n_features: int
    seeds: tuple[int, ...]
    scores: Tensor
    relevance: Tensor

    @property
    def score_mean(self) -> Tensor:
        """Mean inlierness over the draws, ``(M,)``."""
        return self.scores.mean(0)

    @property
    def score_std(self) -> Tensor:
        """Standard deviation of the inlierness over the draws, ``(M,)``."""
        return self._std_over_draws(self.scores)

    @property
    def relevance_mean(self) -> Tensor:
        """Mean relevance over the draws, ``(M, d)``."""
        return self.relevance.mean(0)

    @property
    def relevance_std(self) -> Tensor:
        """Standard deviation of the relevance over the draws (the error bars), ``(M, d)``."""
        return self._std_over_draws(self.relevance)

    def _std_over_draws(self, values: Tensor) -> Tensor:
        """Standard deviation along the draws (dimension 0); zeros when there is a single draw."""
        return values.std(0) if len(self.seeds) > 1 else torch.zeros_like(values[0])


@accepts_old_names(show_progress="progress")
def redraw_inlierness(
    support: Any,
    x: Any,
    gamma: float,
    n_features: int = 2500,
    n_draws: int = 100,
    seed: int | None = 0,
    weights: Any = None,
    progress: bool | None = None,
) -> RedrawSummary:
    """Explain random-feature inlierness under ``n_draws`` independent draws of the features.

    Parameters
    ----------
    support : array-like
        Support points of the KDE, shape ``(N, d)``.
    x : array-like
        Points to explain, shape ``(M, d)``.
    gamma : float
        Kernel parameter.
    n_features : int, default 2500
        Random features per draw.
    n_draws : int, default 100
        Number of draws (at least 1; error bars need 2).
    seed : int, optional
        Root seed; the draws use seeds derived from it (:func:`xaikit.neon.kde.derive_seeds`).
    weights : array-like, optional
        Weights of the support points.
    progress : bool, optional
        Show a progress bar (default: the package setting).

    Returns
    -------
    RedrawSummary
    """
    if int(n_draws) < 1:
        raise ValueError(f"n_draws must be positive, got {n_draws}")
    points = as_float_tensor(x, name="x")
    seeds = derive_seeds(seed, int(n_draws))
    scores, relevance = [], []
    for s in progress_bar(seeds, desc="random-feature draws", enabled=progress, min_items=8):
        model = RandomFeatureInlierness(support, gamma, n_features, seed=s, weights=weights)
        e = model.explain(points, preprocess=False)
        scores.append(e.output)
        relevance.append(e.attribution)
    return RedrawSummary(int(n_features), tuple(seeds), torch.stack(scores), torch.stack(relevance))
