"""ROAD: remove and debias (Rong, Leemann, Borisov, Kasneci and Kasneci, ICML 2022).

Pixel-flipping without retraining, but with the removed pixels imputed by noisy linear
imputation (:class:`~xaikit.perturbation.NoisyLinear`) instead of a fixed value: a fixed
value draws the shape of the removed region into the image, which a model can read as
class information ("class information leakage"), so that MoRF and LeRF rankings of
explanation methods contradict each other. ROAD removes the most (MoRF) and the least
(LeRF) relevant pixels at fixed fractions and records the explained output; a faithful
explanation makes the MoRF curve fall fast and the LeRF curve stay high.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xaikit.core.base import Model
from xaikit.core.targets import TargetLike
from xaikit.evaluate._common import AttributionLike
from xaikit.evaluate.faithfulness import FlippingResult, pixel_flipping
from xaikit.perturbation.removal import NoisyLinear

__all__ = ["ROAD_FRACTIONS", "RoadResult", "road"]

#: The fractions of pixels removed in the paper's figures (10% to 90%).
ROAD_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class RoadResult:
    """ROAD's MoRF and LeRF curves.

    Attributes
    ----------
    morf, lerf : FlippingResult
        The curves removing the most and the least relevant pixels first (the first point:
        nothing removed).
    """

    morf: FlippingResult
    lerf: FlippingResult

    @property
    def gap(self) -> np.ndarray:
        """Per sample, the mean over the removal fractions of LeRF's value minus MoRF's (higher: more faithful)."""
        return (self.lerf.curves[:, 1:] - self.morf.curves[:, 1:]).mean(1)

    @property
    def mean_gap(self) -> float:
        """:attr:`gap` averaged over the samples."""
        return float(self.gap.mean())


def road(
    model: Model,
    x: Tensor,
    attribution: AttributionLike,
    target: TargetLike = None,
    *,
    fractions: Sequence[float] = ROAD_FRACTIONS,
    noise: float = 0.01,
    channels: str = "auto",
    batch_size: int | None = None,
    seed: int | torch.Generator | None = 0,
    progress: bool | None = None,
) -> RoadResult:
    """ROAD: MoRF and LeRF curves with noisy linear imputation.

    Parameters
    ----------
    model : torch.nn.Module or callable
        The model, in eval mode; never modified.
    x : torch.Tensor
        Series ``(N, C, T)`` or images ``(N, C, H, W)`` (linear imputation needs neighbours).
    attribution : tensor, array or Explanation
        Relevance of each element of ``x``; pixels are ranked by their summed relevance.
    target : int, tensor, callable, Target or None
        As in :func:`~xaikit.evaluate.pixel_flipping` (for example a softmax probability,
        ``lambda out: out.softmax(1)``, to follow the paper's accuracy-like curves).
    fractions : sequence of float
        The fractions of pixels removed (the paper's 10%, ..., 90% by default).
    noise : float
        Standard deviation of the imputation noise (ROAD's 0.01).
    channels : {"auto", "joint", "separate"}
        Whether a position's channels are removed together (images, the default).
    batch_size : int or None
        Perturbed inputs per forward pass.
    seed : int or torch.Generator
        Seed of the imputation noise (a local generator).
    progress : bool, optional
        Show a progress bar.

    Returns
    -------
    RoadResult
    """
    options: dict[str, Any] = {"fractions": fractions, "removal": NoisyLinear(noise), "channels": channels,
                               "batch_size": batch_size, "seed": seed, "progress": progress}
    return RoadResult(
        morf=pixel_flipping(model, x, attribution, target, order="morf", **options),
        lerf=pixel_flipping(model, x, attribution, target, order="lerf", **options),
    )
