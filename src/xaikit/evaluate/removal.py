"""How removed features are replaced: a constant, a blurred copy, inpainting, or noise.

Removing a feature means replacing its value. A constant (zero, a per-feature mean)
is simplest but creates edges the model never saw; the literature therefore blurs or
inpaints the removed pixels (Samek et al., 2021, section IV-A). Every strategy is a
:class:`Removal`; :func:`as_removal` builds one from a short name.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

REMOVALS = ("constant", "blur", "inpaint", "uniform")


def _require_spatial(x: Tensor, what: str) -> None:
    if x.ndim < 3:
        raise ValueError(
            f"{what} needs inputs with spatial or temporal axes, (N, C, T) or (N, C, H, W); "
            f"inputs of shape {tuple(x.shape)} are tabular. Use removal='constant' with a "
            "per-feature reference value instead, for example removal=x_train.mean(0)"
        )


class Removal(ABC):
    """A way of replacing removed input elements.

    Subclasses implement :meth:`fill`, the values put where ``mask`` is true.
    """

    #: Whether the replacement depends on which elements are removed (inpainting does).
    depends_on_mask: ClassVar[bool] = False

    @abstractmethod
    def fill(self, x: Tensor, mask: Tensor, generator: torch.Generator) -> Tensor:
        """Replacement values, same shape as ``x``, for the elements where ``mask`` is true."""

    def apply(self, x: Tensor, mask: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``x`` with the elements where ``mask`` is true replaced (a new tensor)."""
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        return torch.where(mask, self.fill(x, mask, gen), x)


@dataclass(frozen=True)
class Constant(Removal):
    """Replace by a constant: a number, or a tensor broadcastable to one input.

    A per-feature reference such as the training mean (``x_train.mean(0)``) is the
    usual choice for tabular data.
    """

    value: float | Tensor = 0.0

    def fill(self, x: Tensor, mask: Tensor, generator: torch.Generator) -> Tensor:
        value = torch.as_tensor(self.value, dtype=x.dtype, device=x.device)
        try:
            return value.expand(x.shape)
        except RuntimeError:
            raise ValueError(
                f"the constant removal value has shape {tuple(value.shape)}; it must broadcast to "
                f"one input, shape {tuple(x.shape[1:])}"
            ) from None


@dataclass(frozen=True)
class Blur(Removal):
    """Replace by a Gaussian-blurred copy of the input (along spatial/temporal axes only).

    Parameters
    ----------
    sigma : float
        Standard deviation of the Gaussian in pixels (time steps).
    truncate : float
        The kernel is cut at ``truncate * sigma``, as in ``scipy.ndimage.gaussian_filter``
        (whose ``mode="nearest"`` result this reproduces).
    """

    sigma: float = 2.0
    truncate: float = 4.0

    def fill(self, x: Tensor, mask: Tensor, generator: torch.Generator) -> Tensor:
        _require_spatial(x, "removal by blurring")
        return gaussian_blur(x, self.sigma, truncate=self.truncate)


def gaussian_blur(x: Tensor, sigma: float, *, truncate: float = 4.0) -> Tensor:
    """Blur ``x`` ``(N, C, *spatial)`` with a Gaussian along each spatial axis.

    Borders are extended by repeating the edge value (``mode="nearest"`` in SciPy).
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    radius = int(truncate * sigma + 0.5)
    grid = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (grid / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(device=x.device, dtype=x.dtype).view(1, 1, -1)
    out = x
    for axis in range(2, x.ndim):
        moved = out.movedim(axis, -1)
        shape = moved.shape
        lines = moved.reshape(-1, 1, shape[-1])
        if radius > 0:
            lines = F.pad(lines, (radius, radius), mode="replicate")
        lines = F.conv1d(lines, kernel)
        out = lines.reshape(shape).movedim(-1, axis)
    return out


@dataclass(frozen=True)
class Inpaint(Removal):
    """Replace removed pixels by biharmonic inpainting from the pixels that remain.

    Uses :func:`skimage.restoration.inpaint_biharmonic` (scikit-image) per sample, on
    the CPU; the channels of an input are inpainted together. Where every element of a
    sample is removed there is nothing to inpaint from and ``fallback`` is used.

    Parameters
    ----------
    fallback : float
        Value used for a sample whose elements are all removed.
    """

    depends_on_mask: ClassVar[bool] = True
    fallback: float = 0.0

    def fill(self, x: Tensor, mask: Tensor, generator: torch.Generator) -> Tensor:
        _require_spatial(x, "removal by inpainting")
        from skimage.restoration import inpaint_biharmonic

        xs = x.detach().to("cpu", torch.float64).numpy()
        # a position is inpainted when all its channels are removed; the others keep values
        ms: np.ndarray = np.asarray(mask.detach().cpu().numpy().all(axis=1))
        out = np.array(xs, copy=True)
        for i in range(len(xs)):
            m = ms[i]
            if not m.any():
                continue
            if m.all():
                out[i] = self.fallback
                continue
            out[i] = inpaint_biharmonic(xs[i], m, channel_axis=0)
        filled = torch.from_numpy(out).to(device=x.device, dtype=x.dtype)
        # elements removed in only some channels get the fallback value
        partial = mask & ~torch.from_numpy(ms).to(mask.device).unsqueeze(1)
        return torch.where(partial, torch.full_like(filled, self.fallback), filled)


@dataclass(frozen=True)
class Uniform(Removal):
    """Replace by uniform noise, drawn once per call from a local generator.

    The range is ``[low, high]``, by default each sample's own minimum and maximum
    (the region-perturbation experiments of Samek et al., 2017).
    """

    low: float | None = None
    high: float | None = None

    def fill(self, x: Tensor, mask: Tensor, generator: torch.Generator) -> Tensor:
        flat = x.reshape(len(x), -1)
        shape = (len(x),) + (1,) * (x.ndim - 1)
        low = flat.min(1).values.view(shape) if self.low is None else torch.tensor(self.low)
        high = flat.max(1).values.view(shape) if self.high is None else torch.tensor(self.high)
        noise = torch.rand(x.shape, generator=generator, dtype=torch.float64)
        noise = noise.to(device=x.device, dtype=x.dtype)
        return low.to(x) + (high.to(x) - low.to(x)) * noise


def as_removal(removal: Any) -> Removal:
    """Build a :class:`Removal` from a name, a number, a tensor or a removal object.

    Parameters
    ----------
    removal : str, float, tensor or Removal
        ``"constant"`` (zero), ``"blur"``, ``"inpaint"``, ``"uniform"``; a number or a
        tensor broadcastable to one input (a constant); or a :class:`Removal`.
    """
    if isinstance(removal, Removal):
        return removal
    if isinstance(removal, bool):
        raise TypeError("removal must be a name, a number, a tensor or a Removal, not a bool")
    if isinstance(removal, int | float | np.floating | np.integer):
        if not math.isfinite(float(removal)):
            raise ValueError(f"the removal value must be finite, got {removal}")
        return Constant(float(removal))
    if isinstance(removal, Tensor | np.ndarray):
        return Constant(torch.as_tensor(removal))
    if isinstance(removal, str):
        key = removal.lower()
        if key in ("constant", "zero", "zeros"):
            return Constant(0.0)
        if key == "blur":
            return Blur()
        if key in ("inpaint", "inpainting", "biharmonic"):
            return Inpaint()
        if key in ("uniform", "noise", "random"):
            return Uniform()
    raise ValueError(
        f"unknown removal {removal!r}; use one of {', '.join(REMOVALS)}, a number or a tensor "
        "(a constant), or a xaikit.evaluate.Removal object"
    )
