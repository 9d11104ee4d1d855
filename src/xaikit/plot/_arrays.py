"""Conversions shared by the plotting functions: tensors to arrays, channel layouts."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

Reduce = Literal["sum", "mean", "abs", "norm"]


def to_numpy(values: Any, *, name: str = "values") -> np.ndarray:
    """Return ``values`` (tensor, array or nested sequence) as a float64 NumPy array.

    Parameters
    ----------
    values : torch.Tensor, numpy.ndarray or array-like
        Tensors are detached and copied to the CPU first.
    name : str
        Name used in error messages.

    Raises
    ------
    TypeError
        If the values are not numeric.
    """
    if hasattr(values, "detach") and hasattr(values, "cpu"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    return array.astype(np.float64, copy=False)


def reduce_channels(attribution: np.ndarray, how: Reduce = "sum") -> np.ndarray:
    """Collapse the channel axis of a ``(C, H, W)`` attribution to ``(H, W)``.

    Parameters
    ----------
    attribution : numpy.ndarray
        ``(H, W)`` (returned as is) or ``(C, H, W)``.
    how : {"sum", "mean", "abs", "norm"}
        ``"sum"`` keeps relevance conservation (the literature's choice for LRP),
        ``"mean"`` the same up to a factor, ``"abs"`` sums absolute values (sign lost),
        ``"norm"`` takes the Euclidean norm over channels (sign lost).
    """
    if attribution.ndim == 2:
        return attribution
    if attribution.ndim != 3:
        raise ValueError(
            f"expected an image attribution of shape (H, W) or (C, H, W), got {attribution.shape}"
        )
    if how == "sum":
        return attribution.sum(0)
    if how == "mean":
        return attribution.mean(0)
    if how == "abs":
        return np.abs(attribution).sum(0)
    if how == "norm":
        return np.sqrt((attribution**2).sum(0))
    raise ValueError(f"unknown channel reduction {how!r}; use 'sum', 'mean', 'abs' or 'norm'")


def image_attribution(attribution: Any, *, reduce: Reduce = "sum") -> np.ndarray:
    """An image attribution as a 2-D array, from ``(H, W)``, ``(C, H, W)`` or ``(1, C, H, W)``."""
    array = to_numpy(attribution, name="attribution")
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim not in (2, 3):
        raise ValueError(
            f"expected an image attribution of shape (H, W), (C, H, W) or (1, C, H, W), "
            f"got {array.shape}; select one sample first, e.g. explanation.attribution[0]"
        )
    return reduce_channels(array, reduce)


def display_image(image: Any) -> np.ndarray:
    """An input image ready for ``imshow``: ``(H, W)`` gray or ``(H, W, 3)`` RGB in [0, 1].

    Accepts ``(H, W)``, ``(C, H, W)`` with one or three channels (the PyTorch layout),
    ``(H, W, 3)`` or ``(H, W, 4)``, and a leading batch axis of size one. Values outside
    [0, 1] are rescaled to [0, 1] by their minimum and maximum.
    """
    array = to_numpy(image, name="image")
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    shape = array.shape
    if array.ndim == 3 and shape[0] in (1, 3):
        array = array[0] if shape[0] == 1 else np.moveaxis(array, 0, -1)
    elif array.ndim == 3 and shape[-1] in (3, 4):
        array = array[..., :3]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 3)):
        raise ValueError(
            f"cannot show an image of shape {shape}; expected (H, W), (1 or 3, H, W) or (H, W, 3)"
        )
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        array = (array - low) / (high - low) if high > low else np.zeros_like(array)
    return array


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luminance of a display image (``(H, W)`` returned as is)."""
    if image.ndim == 2:
        return image
    weights = np.array([0.299, 0.587, 0.114])
    return np.asarray(image[..., :3] @ weights)
