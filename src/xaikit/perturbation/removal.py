"""What replaces a removed feature: one kind of object for every explainer and metric.

Removing a feature means replacing its value. Every way of doing so is a :class:`Removal`,
with one interface: :meth:`Removal.fill` gives the replacement values for a batch and a
mask of removed elements (drawing any random numbers from a local generator), and
:attr:`Removal.expectation` says whether the value of a masked input is the *average*
model output over several replacement rows (:attr:`Removal.rows`) rather than the output
on one replaced input. The masking engine (:mod:`xaikit.perturbation.masking`) prepares a
removal once per batch (:meth:`Removal.prepare`) and then only indexes the result, unless
the replacement depends on the mask (inpainting).

The removals:

- :class:`Reference`: explicit values, ``(1, ...)`` shared by all samples, ``(N, ...)``
  one per sample, or ``(M, ...)`` background rows averaged over (an expectation). It is
  what the explainers' ``baseline=`` option resolves to (a number, a tensor; see
  :func:`xaikit.perturbation.baseline.resolve_baseline`);
- :class:`~xaikit.perturbation.Background`: a background data set, replaced by the
  expectation over its rows or by its mean (the SHAP conventions);
- :class:`Constant`: a number, or a tensor broadcastable to one input (zero, a
  per-feature mean such as ``x_train.mean(0)``) or of the batch shape;
- :class:`Blur` (a Gaussian-blurred copy), :class:`Inpaint` (biharmonic inpainting from
  the remaining pixels), :class:`NoisyLinear` (ROAD's neighbour-mean imputation plus
  noise) and :class:`Uniform` (noise from a local generator).

A constant creates edges the model never saw; the literature therefore blurs or inpaints
removed pixels (Samek et al., 2021, section IV-A). :func:`as_removal` builds a removal
from the short names the evaluation metrics take (``removal=``).
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

from xaikit.perturbation.imputation import linear_imputation
from xaikit.utils.errors import InputError

__all__ = [
    "REMOVALS",
    "Blur",
    "Constant",
    "Inpaint",
    "NoisyLinear",
    "Reference",
    "Removal",
    "Uniform",
    "as_removal",
    "gaussian_blur",
    "replace",
]

#: The names :func:`as_removal` accepts (besides their aliases).
REMOVALS = ("constant", "blur", "inpaint", "uniform", "noisy_linear")


def replace(x: Tensor, mask: Tensor, fill: Tensor, expectation: bool = False) -> Tensor:
    """``x`` with the elements where ``mask`` is true taken from ``fill`` (a new tensor).

    Parameters
    ----------
    x : torch.Tensor
        Inputs ``(B, ...)``.
    mask : torch.Tensor
        Bool, true where an element is removed; broadcastable to ``x``. A floating mask
        is the removed share of each element (``x + mask * (fill - x)``: RISE's soft masks).
    fill : torch.Tensor
        Replacement values of ``x``'s shape (broadcastable), or ``(M, ...)`` rows of one
        input's shape when ``expectation`` is true (``(B, M, ...)``: rows for each input,
        as conditional sampling draws them).
    expectation : bool
        Whether ``fill`` holds rows to average over.

    Returns
    -------
    torch.Tensor
        ``x``'s shape; ``(B, M, ...)`` for an expectation: each input completed by every row.
    """
    rows = fill if not expectation or fill.ndim == x.ndim + 1 else fill[None]
    if mask.is_floating_point():
        share = mask.to(x.dtype)
        if expectation:
            return x[:, None] + share[:, None] * (rows - x[:, None])
        return x + share * (fill - x)
    if expectation:
        return torch.where(mask[:, None], rows, x[:, None])
    return torch.where(mask, fill, x)


class Removal(ABC):
    """A way of replacing removed input elements.

    Subclasses implement :meth:`fill`, the values put where the mask is true. A removal
    whose :attr:`expectation` is true fills with :attr:`rows` replacement rows and the
    value of a masked input is the mean of the model's outputs over them.
    """

    #: Whether the replacement depends on which elements are removed (inpainting does).
    depends_on_mask: ClassVar[bool] = False

    @property
    def expectation(self) -> bool:
        """Whether the value of a masked input is averaged over :attr:`rows` replacement rows."""
        return False

    @property
    def rows(self) -> int:
        """Model evaluations per masked input (the rows of an expectation, else 1)."""
        return 1

    @abstractmethod
    def fill(self, x: Tensor, mask: Tensor, generator: torch.Generator) -> Tensor:
        """Replacement values for the elements of ``x`` where ``mask`` is true.

        Parameters
        ----------
        x : torch.Tensor
            The inputs ``(N, ...)``.
        mask : torch.Tensor
            Bool of ``x``'s shape, true where an element is removed.
        generator : torch.Generator
            Local generator for random replacement values (the global state is never used).

        Returns
        -------
        torch.Tensor
            ``x``'s shape (a broadcast view where the values are shared); for an
            expectation the ``(M, ...)`` replacement rows.
        """

    def apply(self, x: Tensor, mask: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``x`` with the elements where ``mask`` is true replaced (a new tensor).

        Parameters
        ----------
        x, mask
            As for :meth:`fill`.
        generator : torch.Generator, optional
            As for :meth:`fill`; a generator seeded with 0 if omitted.

        Returns
        -------
        torch.Tensor
            ``x``'s shape; ``(N, M, ...)`` for an expectation over ``M`` rows.
        """
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        return replace(x, mask, self.fill(x, mask, gen), self.expectation)

    def prepare(self, inputs: Tensor, generator: torch.Generator | None = None) -> Reference | None:
        """The replacement values of the batch ``inputs``, computed once.

        Parameters
        ----------
        inputs : torch.Tensor
            The batch ``(N, ...)`` whose copies will be masked.
        generator : torch.Generator, optional
            Local generator (random values are drawn once per batch, here); a generator
            seeded with 0 if omitted.

        Returns
        -------
        Reference or None
            The values for every sample (shared values stay one row), or ``None`` when
            the replacement depends on the mask and is computed for every masked copy.
        """
        if self.depends_on_mask:
            return None
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        values = self.fill(inputs, torch.ones_like(inputs, dtype=torch.bool), gen)
        if not self.expectation and len(values) > 1 and values.stride(0) == 0:
            values = values[:1]  # one value for all samples (a broadcast view): not copied per row
        return Reference(values, self.expectation)


@dataclass(frozen=True, eq=False)
class Reference(Removal):
    """Explicit replacement values, resolved against a batch.

    Parameters
    ----------
    values : torch.Tensor
        ``(1, ...)`` shared by all samples, ``(N, ...)`` one per sample, or ``(M, ...)``
        background rows when ``expectation`` is true; on the inputs' device and dtype.
    expectation : bool
        Whether model outputs are averaged over the rows of ``values``.
    """

    values: Tensor
    expectation: bool = False

    @property
    def rows(self) -> int:
        """Model evaluations per masked input (``M`` for an expectation, else 1)."""
        return int(self.values.shape[0]) if self.expectation else 1

    def for_samples(self, ids: Tensor) -> Tensor:
        """The replacement values of the samples ``ids``: ``(B, ...)``, or the rows of an expectation."""
        if self.expectation:
            return self.values
        if self.values.shape[0] == 1:
            return self.values.expand(len(ids), *self.values.shape[1:])
        return self.values[ids]

    def fill(self, x: Tensor, mask: Tensor, generator: torch.Generator) -> Tensor:
        if self.expectation:
            return self.values
        self._check_samples(len(x))
        return self.values.expand(x.shape)

    def prepare(self, inputs: Tensor, generator: torch.Generator | None = None) -> Reference:
        if not self.expectation:
            self._check_samples(len(inputs))
        return self

    def _check_samples(self, n: int) -> None:
        if self.values.shape[0] not in (1, n):
            raise ValueError(
                f"the reference holds {self.values.shape[0]} per-sample values but the batch has "
                f"{n} samples"
            )


@dataclass(frozen=True)
class Constant(Removal):
    """Replace by a constant: a number, or a tensor broadcastable to one input.

    A per-feature reference such as the training mean (``x_train.mean(0)``) is the
    usual choice for tabular data. A tensor of the batch shape gives each sample its own
    values.

    Parameters
    ----------
    value : float or torch.Tensor
        The replacement value(s).
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


def _require_spatial(x: Tensor, what: str) -> None:
    if x.ndim < 3:
        raise ValueError(
            f"{what} needs inputs with spatial or temporal axes, (N, C, T) or (N, C, H, W); "
            f"inputs of shape {tuple(x.shape)} are tabular. Use removal='constant' with a "
            "per-feature reference value instead, for example removal=x_train.mean(0)"
        )


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

    Parameters
    ----------
    x : torch.Tensor
        Inputs with a channel axis and one or more spatial axes.
    sigma : float
        Standard deviation of the Gaussian, in elements.
    truncate : float
        The kernel is cut at ``truncate * sigma``.

    Returns
    -------
    torch.Tensor
        The blurred inputs, ``x``'s shape and dtype.
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
    (the region-perturbation experiments of Samek et al., 2017). The masking engine
    draws the noise once per batch, so all masked copies of a sample share it.

    Parameters
    ----------
    low, high : float, optional
        The range of the noise; each sample's minimum and maximum by default.
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


@dataclass(frozen=True)
class NoisyLinear(Removal):
    """Noisy linear imputation: ROAD's removal (Rong et al., 2022).

    Removed elements become the weighted mean of their neighbours (solved jointly by
    :func:`~xaikit.perturbation.imputation.linear_imputation`), plus Gaussian noise. Each channel is imputed
    on its own (images: the masks of the metrics remove all channels of a pixel alike).

    Parameters
    ----------
    noise : float
        Standard deviation of the noise added to imputed values (ROAD's default 0.01, in
        the units of the inputs); 0 gives plain linear imputation.
    """

    depends_on_mask: ClassVar[bool] = True
    noise: float = 0.01

    def __post_init__(self) -> None:
        if not self.noise >= 0:
            raise InputError(f"noise must be >= 0, got {self.noise!r}")

    def fill(self, x: Tensor, mask: Tensor, generator: torch.Generator) -> Tensor:
        if x.ndim not in (3, 4):
            raise InputError(
                f"noisy linear imputation needs neighbouring elements: series (N, C, T) or images (N, C, H, W), "
                f"got inputs of shape {tuple(x.shape)}; use removal='constant' or a Background for tabular data"
            )
        planes = x.detach().to("cpu", torch.float64).reshape(-1, *x.shape[2:]).numpy()
        removed = mask.detach().cpu().expand(x.shape).reshape(-1, *x.shape[2:]).numpy()
        imputed = torch.from_numpy(linear_imputation(planes, removed)).reshape(x.shape)
        if self.noise > 0:
            imputed = imputed + self.noise * torch.randn(x.shape, generator=generator, dtype=torch.float64)
        return imputed.to(device=x.device, dtype=x.dtype)


def as_removal(removal: Any) -> Removal:
    """Build a :class:`Removal` from a name, a number, a tensor or a removal object.

    Parameters
    ----------
    removal : str, float, tensor or Removal
        ``"constant"`` (zero), ``"blur"``, ``"inpaint"``, ``"uniform"``, ``"noisy_linear"``
        (ROAD's imputation, :class:`~xaikit.perturbation.imputation.NoisyLinear`); a number or a
        tensor broadcastable to one input (a constant); or a :class:`Removal` (for
        example :class:`~xaikit.perturbation.Background` for the expectation over a
        background set).

    Returns
    -------
    Removal
        The removal.
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
        if key in ("noisy_linear", "linear", "road"):
            return NoisyLinear()
    raise ValueError(
        f"unknown removal {removal!r}; use one of {', '.join(REMOVALS)}, a number or a tensor "
        "(a constant), or a xaikit.evaluate.Removal object"
    )
