"""Class information leakage through the shape of removed pixels (Rong et al., ICML 2022).

ROAD's analysis: a pixel-flipping score depends not only on the values left in an
image but on *which* pixels were removed. A fixed fill value draws the removal mask into
the image; the mask of an explanation follows the object, and the model can read the
class from its shape alone. :func:`mask_leakage` measures exactly that: it removes the
pixels an explanation ranks first from *class-free* inputs (the ``canvas``: backgrounds,
noise, the data mean) and records how often the model still predicts the explained
class. Accuracy above chance means the removal leaks the class through the mask; a
removal that hides the mask (ROAD's noisy linear imputation) stays at chance.
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
from xaikit.core.validation import preserved_model_state
from xaikit.evaluate._common import (
    AttributionLike,
    as_attribution,
    forward,
    prepare_inputs,
    resolve_target,
    target_of,
)
from xaikit.evaluate.features import as_groups, group_mask, group_sums
from xaikit.perturbation.removal import as_removal, replace
from xaikit.utils.random import as_generator

__all__ = ["LeakageResult", "mask_leakage"]


@dataclass(frozen=True)
class LeakageResult:
    """How well the model predicts the explained class from removal masks alone.

    Attributes
    ----------
    fractions : numpy.ndarray
        Fraction of the features removed, ``(P,)``.
    accuracy : numpy.ndarray
        Per fraction, the share of samples whose mask on the canvas is classified as the
        explained class, ``(P,)``.
    chance : float
        One over the number of classes: the accuracy without leakage.
    """

    fractions: np.ndarray
    accuracy: np.ndarray
    chance: float

    @property
    def excess(self) -> np.ndarray:
        """Accuracy above chance per fraction (0: nothing leaks)."""
        return self.accuracy - self.chance


def mask_leakage(
    model: Model,
    x: Tensor,
    attribution: AttributionLike,
    target: TargetLike = None,
    *,
    canvas: Tensor,
    removal: Any = "constant",
    fractions: Sequence[float] = (0.1, 0.2, 0.3, 0.5),
    order: str = "morf",
    channels: str = "auto",
    batch_size: int | None = None,
    seed: int | torch.Generator | None = 0,
) -> LeakageResult:
    """Classify class-free inputs into which an explanation's removal mask was filled in.

    For each fraction, the features the attribution of ``x`` ranks first (``order``)
    are removed from ``canvas`` (filled in by ``removal``), and the model's prediction on
    the result is compared with the explained class of ``x``.

    Parameters
    ----------
    model : torch.nn.Module or callable
        A classifier, in eval mode; never modified.
    x : torch.Tensor
        The explained inputs ``(N, ...)``; their explained class is resolved on them.
    attribution : tensor, array or Explanation
        Relevance of each element of ``x``.
    target : int, tensor, Target or None
        The explained class (by default the Explanation's, else the predicted class).
    canvas : torch.Tensor
        Inputs without class evidence, ``x``'s shape or one row ``(1, ...)`` for all
        (for example backgrounds, noise or the data mean).
    removal : str, float, tensor or Removal
        How removed features are filled in (``"constant"``, a number, ``"blur"``,
        ``"noisy_linear"`` ...), applied to the canvas.
    fractions : sequence of float
        Fractions of the features removed, in ``(0, 1]``.
    order : {"morf", "lerf"}
        Most or least relevant features first.
    channels : {"auto", "joint", "separate"}
        Whether a position's channels are removed together (images, the default).
    batch_size : int or None
        Inputs per forward pass.
    seed : int or torch.Generator
        Seed of a random removal (a local generator).

    Returns
    -------
    LeakageResult

    Examples
    --------
    >>> import torch, xaikit
    >>> from xaikit.evaluate import mask_leakage
    >>> model = xaikit.models.MLP(4, (), 2).eval()
    >>> x = torch.randn(6, 4)
    >>> result = mask_leakage(model, x, x, canvas=torch.zeros(1, 4), fractions=[0.5])
    >>> result.chance
    0.5
    """
    if order not in ("morf", "lerf"):
        raise ValueError(f"order must be 'morf' or 'lerf', got {order!r}")
    xs = prepare_inputs(model, x)
    canvas = _as_canvas(canvas, xs)
    chosen = np.asarray(list(fractions), dtype=np.float64)
    if chosen.ndim != 1 or len(chosen) == 0 or not np.all((chosen > 0) & (chosen <= 1)):
        raise ValueError(f"fractions must be numbers in (0, 1], got {list(fractions)!r}")
    labels, n_groups = as_groups(None, xs, channels=channels)
    relevance = group_sums(as_attribution(attribution, xs), labels, n_groups).to(torch.float64)
    ranking = torch.argsort(-relevance if order == "morf" else relevance, dim=1, stable=True).to(xs.device)
    fill_in = as_removal(removal)
    if fill_in.expectation:
        raise ValueError("mask leakage classifies single filled inputs: give a removal without an expectation "
                         "over rows (a constant, 'blur', 'noisy_linear' ...)")
    generator = as_generator(seed)
    with preserved_model_state(model):
        resolved = resolve_target(model, xs, target_of(attribution, target), batch_size)
        if resolved.index is None or resolved.logodds:
            raise ValueError("mask leakage compares predicted classes: give target as class indices (or None)")
        classes = resolved.index.to(xs.device)
        accuracy = []
        for fraction in chosen:
            count = int(np.rint(fraction * n_groups))
            selected = torch.zeros(len(xs), n_groups, dtype=torch.bool, device=xs.device)
            selected.scatter_(1, ranking[:, :count], True)
            mask = group_mask(selected, labels)
            filled = replace(canvas, mask, fill_in.fill(canvas, mask, generator))
            output = forward(model, filled, batch_size)
            accuracy.append(float((output.argmax(1).to(classes.device) == classes).double().mean()))
        width = forward(model, xs[:1], batch_size).shape[1]
    return LeakageResult(fractions=chosen, accuracy=np.asarray(accuracy), chance=1.0 / width)


def _as_canvas(canvas: Tensor, x: Tensor) -> Tensor:
    """``canvas`` on ``x``'s device and dtype, one row per input."""
    if not isinstance(canvas, Tensor):
        raise TypeError(f"canvas must be a tensor of inputs without class evidence, got {type(canvas).__name__}")
    if canvas.shape[1:] != x.shape[1:] or canvas.shape[0] not in (1, x.shape[0]):
        raise ValueError(
            f"canvas has shape {tuple(canvas.shape)}; give one class-free input per explained input, "
            f"shape {tuple(x.shape)}, or one row (1, {', '.join(map(str, x.shape[1:]))}) for all"
        )
    if not bool(torch.isfinite(canvas).all()):
        raise ValueError("canvas contains NaN or inf")
    return canvas.detach().to(x.device, x.dtype).expand_as(x).contiguous()
