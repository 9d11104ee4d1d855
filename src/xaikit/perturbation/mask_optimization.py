"""Explanations as optimized masks: meaningful perturbation (Fong and Vedaldi, ICCV 2017) and
extremal perturbations (Fong, Patrick and Vedaldi, ICCV 2019).

A mask ``m`` in ``[0, 1]`` (1: keep) blends each input with a perturbed copy ``p`` (a
blurred image by default, or any :class:`~xaikit.perturbation.Removal`):
``x_m = m x + (1 - m) p``. The mask is a smooth, low-resolution grid (``cells`` per side)
upsampled bilinearly, and is optimized by projected Adam for all samples of a batch at
once (each sample's loss depends on its own mask only):

- **meaningful perturbation** (the deletion game): the smallest, smoothest region whose
  deletion destroys the class score, ``lambda_area * mean(1 - m) + lambda_tv * TV(m) +
  score(x_m)``; the attribution is the deleted share ``1 - m``;
- **extremal perturbation** (the preservation game): the region of a fixed ``area`` that
  keeps the class score highest, ``-score(x_m) + lambda_area * ||sort(m) - r_area||^2``
  (the area constraint of the paper's ranking vector ``r_area``); the attribution is ``m``.

The score is the class's softmax probability (meaningful perturbation's default) or its
raw output (extremal perturbation's default). Local
randomness only (the initial noise comes from ``seed``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.forward import check_output
from xaikit.core.registry import register_method
from xaikit.core.targets import ResolvedTarget, Target
from xaikit.perturbation.removal import Blur, Removal, as_removal
from xaikit.utils.errors import InputError
from xaikit.utils.random import as_generator

__all__ = ["ExtremalPerturbation", "MeaningfulPerturbation"]

SCORES = ("probability", "output")


def _total_variation(mask: Tensor, beta: float) -> Tensor:
    """``sum |grad m|^beta`` per sample over the spatial axes (the papers' smoothness term)."""
    spatial = mask.ndim - 2
    total = torch.zeros(len(mask), dtype=mask.dtype, device=mask.device)
    for axis in range(2, 2 + spatial):
        total = total + (mask.diff(dim=axis).abs() ** beta).flatten(1).mean(1)
    return total


class _MaskOptimization(Explainer):
    """The shared optimization: parametrization, blending and projected Adam."""

    def __init__(self, cells: int, iterations: int, learning_rate: float, removal: Any, score: str,
                 seed: int | torch.Generator | None) -> None:
        if not isinstance(cells, int) or cells < 1:
            raise InputError(f"cells must be a positive integer, got {cells!r}")
        if not isinstance(iterations, int) or iterations < 1:
            raise InputError(f"iterations must be a positive integer, got {iterations!r}")
        if not learning_rate > 0:
            raise InputError(f"learning_rate must be positive, got {learning_rate!r}")
        if score not in SCORES:
            raise InputError(f"score must be one of {SCORES}, got {score!r}")
        self.cells, self.iterations, self.learning_rate = cells, iterations, learning_rate
        self.removal: Removal = Blur() if removal is None else as_removal(removal)
        if self.removal.expectation or self.removal.depends_on_mask:
            raise InputError("mask optimization blends with one perturbed copy: use a constant, a tensor, "
                             "Blur() or Uniform(), not an expectation over a background set or inpainting")
        self.score, self.seed = score, seed

    def _initial(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def _loss(self, mask: Tensor, scores: Tensor, progress: float) -> Tensor:
        """The loss per sample; ``progress`` runs from 0 to 1 over the iterations."""
        raise NotImplementedError

    def _attribution(self, mask: Tensor) -> Tensor:
        raise NotImplementedError

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        if inputs.ndim not in (3, 4):
            raise InputError(f"mask optimization needs series (N, C, T) or images (N, C, H, W), got {tuple(inputs.shape)}")
        x = inputs.detach()
        with torch.no_grad():
            output = check_output(model(x), len(x))
        resolved = target.resolve(output)
        if resolved.index is None:
            raise InputError(f"{self.name} explains a class; pass class indices as the target")
        generator = as_generator(self.seed)
        perturbed = self.removal.fill(x, torch.ones_like(x, dtype=torch.bool), generator).expand_as(x).detach()
        spatial = tuple(x.shape[2:])
        precise = torch.promote_types(x.dtype, torch.float32)  # Adam on half-precision masks goes astray
        grid = self._initial((len(x), 1, *([self.cells] * len(spatial))), generator).to(x.device, precise)
        parameters = grid.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([parameters], lr=self.learning_rate)
        mode = "linear" if len(spatial) == 1 else "bilinear"

        def upsampled(values: Tensor) -> Tensor:
            return F.interpolate(values, size=spatial, mode=mode, align_corners=False)

        with torch.enable_grad():
            for step in range(self.iterations):
                mask = upsampled(parameters)
                blended = (mask * x + (1 - mask) * perturbed).to(x.dtype)
                scores = self._scores(model(blended).to(precise), resolved)
                loss = self._loss(mask, scores, step / max(1, self.iterations - 1)).sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    parameters.clamp_(0.0, 1.0)
        with torch.no_grad():
            mask = upsampled(parameters.detach())
            final = self._scores(model((mask * x + (1 - mask) * perturbed).to(x.dtype)).to(precise), resolved)
        attribution = self._attribution(mask).to(x.dtype).expand_as(x).clone()
        extras = {"mask": mask, "masked_score": final, "score": self.score,
                  "original_score": self._scores(output, resolved)}
        return Attribution(attribution=attribution, output=resolved.select(output), target=resolved, extras=extras)

    def _scores(self, output: Tensor, resolved: ResolvedTarget) -> Tensor:
        assert resolved.index is not None
        values = output.softmax(1) if self.score == "probability" else output
        return values.gather(1, resolved.index.to(values.device)[:, None]).squeeze(1)


@register_method("meaningful_perturbation", aliases=("meaningful_perturbations", "fong_vedaldi"))
class MeaningfulPerturbation(_MaskOptimization):
    """Meaningful perturbation (Fong and Vedaldi, 2017): the smallest smooth deletion that destroys the class.

    Parameters
    ----------
    area_weight : float
        ``lambda_1``, the price of the deleted area (mean of ``1 - m``).
    tv_weight : float
        ``lambda_2``, the price of the mask's total variation (``beta = tv_beta``).
    tv_beta : float
        Exponent of the total variation (the paper's 3).
    cells : int
        Mask grid cells per spatial side (upsampled bilinearly to the input).
    iterations : int
        Adam steps (the paper's 300).
    learning_rate : float
        Adam's step size (the paper's 0.1).
    removal : str, float, tensor or Removal, optional
        What deleted regions blend into: ``Blur()`` by default (the paper's blurred copy),
        a constant, or ``Uniform()`` noise.
    score : {"probability", "output"}
        Minimize the class's softmax probability (the paper) or its raw output.
    seed : int or torch.Generator
        Local randomness (noise removals).

    Notes
    -----
    The attribution is the deleted share ``1 - m`` (high where deleting matters), the same
    for every channel; ``extras``: ``mask``, ``masked_score`` (the score after deletion),
    ``original_score``.
    """

    def __init__(self, area_weight: float = 0.05, tv_weight: float = 0.2, tv_beta: float = 3.0, cells: int = 28,
                 iterations: int = 300, learning_rate: float = 0.1, removal: Any = None, score: str = "probability",
                 seed: int | torch.Generator | None = 0) -> None:
        super().__init__(cells, iterations, learning_rate, removal, score, seed)
        self.area_weight, self.tv_weight, self.tv_beta = area_weight, tv_weight, tv_beta

    def _initial(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        return torch.ones(shape, dtype=torch.float64)  # nothing deleted

    def _loss(self, mask: Tensor, scores: Tensor, progress: float) -> Tensor:
        deleted = (1 - mask).flatten(1).mean(1)
        return self.area_weight * deleted + self.tv_weight * _total_variation(mask, self.tv_beta) + scores

    def _attribution(self, mask: Tensor) -> Tensor:
        return 1 - mask


@register_method("extremal_perturbation", aliases=("extremal_perturbations",))
class ExtremalPerturbation(_MaskOptimization):
    """Extremal perturbation (Fong, Patrick and Vedaldi, 2019): the region of a given area that keeps the class.

    Parameters
    ----------
    area : float
        The fraction of the input the mask keeps (in ``(0, 1)``).
    area_weight : float
        ``lambda`` of the area constraint ``||sort(m) - r_area||^2`` (mean over elements),
        reached at the last iteration: the weight grows geometrically from 1% of it, so that
        the score shapes the mask before the constraint fixes its area.
    cells : int
        Mask grid cells per spatial side (the smoothness of the mask).
    iterations : int
        Adam steps.
    learning_rate : float
        Adam's step size.
    removal : str, float, tensor or Removal, optional
        What the rest blends into: ``Blur()`` by default.
    score : {"output", "probability"}
        Maximize the class's raw output (the default: a saturated softmax probability gives
        too weak a gradient to place the region, measured on the test case) or its probability.
    seed : int or torch.Generator
        Local randomness: the initial mask is 0.5 plus small noise.

    Notes
    -----
    The attribution is the kept share ``m``; ``extras``: ``mask``, ``masked_score`` (the
    score of the preserved region alone), ``original_score``.
    """

    def __init__(self, area: float = 0.1, area_weight: float = 10.0, cells: int = 14, iterations: int = 300,
                 learning_rate: float = 0.1, removal: Any = None, score: str = "output",
                 seed: int | torch.Generator | None = 0) -> None:
        if not 0.0 < area < 1.0:
            raise InputError(f"area must be a fraction strictly between 0 and 1, got {area!r}")
        super().__init__(cells, iterations, learning_rate, removal, score, seed)
        self.area, self.area_weight = area, area_weight

    def _initial(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        return 0.5 + 0.01 * torch.randn(shape, generator=generator, dtype=torch.float64)

    def _loss(self, mask: Tensor, scores: Tensor, progress: float) -> Tensor:
        flat = mask.flatten(1)
        ranked = flat.sort(dim=1, descending=True).values
        kept = round(self.area * flat.shape[1])
        reference = torch.zeros_like(ranked)
        reference[:, :kept] = 1.0
        ramp = 100.0 ** (progress - 1.0)  # the constraint tightens from 1% to full weight (as in TorchRay)
        return -scores + ramp * self.area_weight * ((ranked - reference) ** 2).mean(1)

    def _attribution(self, mask: Tensor) -> Tensor:
        return mask
