"""SpRAy's normalization of explanations: channels summed, blurred, pooled to a small
size and scaled per sample, so that clustering sees strategies, not pixel noise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from xaikit.utils.errors import InputError

__all__ = ["Normalization"]

SCALES = ("l2", "max", "sum", "zscore", None)


@dataclass(frozen=True)
class Normalization:
    """How explanations are made comparable before clustering.

    Parameters
    ----------
    channels : {"sum", "abs", None}
        For ``(C, ...)`` samples of images or series (3 or more dimensions with the
        sample axis): sum the channels, sum their absolute values, or keep them.
    size : tuple of int, optional
        Resize the spatial (or time) axes to this size by block averaging with
        anti-aliasing (``skimage.transform.resize``); ``None`` keeps the size.
    blur : float
        Standard deviation (in pixels of the original size) of a Gaussian blur over the
        spatial or time axes; ``0`` for none.
    scale : {"l2", "max", "sum", "zscore", None}
        Per sample: unit Euclidean norm (default), maximum of absolute values one, sum of
        absolute values one, zero mean and unit variance, or unscaled.
    """

    channels: str | None = "sum"
    size: Sequence[int] | None = None
    blur: float = 0.0
    scale: str | None = "l2"

    def __post_init__(self) -> None:
        if self.channels not in ("sum", "abs", None):
            raise InputError(f"channels must be 'sum', 'abs' or None, got {self.channels!r}")
        if self.scale not in SCALES:
            raise InputError(f"scale must be one of {SCALES}, got {self.scale!r}")
        if not self.blur >= 0:
            raise InputError(f"blur must be a non-negative standard deviation, got {self.blur!r}")

    def shape(self, sample_shape: Sequence[int]) -> tuple[int, ...]:
        """The shape of one normalized explanation."""
        shape = tuple(sample_shape)
        if len(shape) >= 2 and self.channels is not None:
            shape = shape[1:]
        if self.size is not None:
            spatial = len(shape) - (1 if len(shape) >= 2 and self.channels is None else 0)
            if len(self.size) != spatial:
                raise InputError(f"size={tuple(self.size)} has {len(self.size)} axes; the explanations have {spatial}")
            shape = shape[: len(shape) - spatial] + tuple(int(n) for n in self.size)
        return shape

    def __call__(self, relevance: np.ndarray) -> np.ndarray:
        """Normalize a block ``(n, ...)`` of explanations to ``(n, prod(shape))`` float32."""
        values = np.asarray(relevance, dtype=np.float64)
        if values.ndim >= 3 and self.channels is not None:
            values = (np.abs(values) if self.channels == "abs" else values).sum(1)
        spatial = values.ndim - 1 - (1 if values.ndim >= 3 and self.channels is None else 0)
        axes = tuple(range(values.ndim - spatial, values.ndim))
        if self.blur > 0 and values.ndim > 1:
            from scipy.ndimage import gaussian_filter

            sigma = [0.0] * values.ndim
            for axis in axes:
                sigma[axis] = self.blur
            values = gaussian_filter(values, sigma=sigma, mode="constant")
        if self.size is not None and tuple(values.shape[values.ndim - spatial :]) != tuple(self.size):
            from skimage.transform import resize

            shape = (*values.shape[: values.ndim - spatial], *self.size)
            values = resize(values, shape, order=1, anti_aliasing=True, preserve_range=True, mode="constant")
        flat = values.reshape(len(values), -1)
        return _scaled(flat, self.scale).astype(np.float32)


def _scaled(flat: np.ndarray, scale: str | None) -> np.ndarray:
    if scale is None:
        return flat
    if scale == "zscore":
        centred = flat - flat.mean(1, keepdims=True)
        spread = centred.std(1, keepdims=True)
        return centred / np.where(spread > 0, spread, 1.0)
    norm = {"l2": np.linalg.norm(flat, axis=1), "max": np.abs(flat).max(1), "sum": np.abs(flat).sum(1)}[scale]
    return flat / np.where(norm > 0, norm, 1.0)[:, None]
