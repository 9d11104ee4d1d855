"""Class-free backgrounds: smooth random textures to put objects on.

The scikit-learn digits lie on black, and black is also the value a constant removal
fills in, so on them removal looks natural and a fixed fill leaks nothing. Drawing the
digits onto :func:`smooth_noise` textures (``load_digits_split(background="texture")``)
makes every fill value a visible change, as on natural images.
"""

from __future__ import annotations

import numpy as np

__all__ = ["smooth_noise"]


def smooth_noise(
    count: int,
    shape: tuple[int, int],
    *,
    seed: int = 0,
    sigma: float = 1.0,
    low: float = 0.15,
    high: float = 0.65,
) -> np.ndarray:
    """Gaussian-smoothed uniform noise, each image stretched to ``[low, high]``.

    Parameters
    ----------
    count : int
        Number of images.
    shape : tuple of int
        Height and width.
    seed : int
        Seed of a local generator (the global random state is never used).
    sigma : float
        Standard deviation of the smoothing, in pixels.
    low, high : float
        The range of every image's values.

    Returns
    -------
    numpy.ndarray
        ``float32`` images of shape ``(count, height, width)``.

    Examples
    --------
    >>> from xaikit.datasets.backgrounds import smooth_noise
    >>> images = smooth_noise(3, (8, 8))
    >>> images.shape, float(images.min()), float(images.max())
    ((3, 8, 8), 0.15000000596046448, 0.6499999761581421)
    """
    from scipy.ndimage import gaussian_filter

    if not low < high:
        raise ValueError(f"low must be below high, got low={low} and high={high}")
    noise = np.random.default_rng(seed).random((count, *shape))
    smooth = gaussian_filter(noise, sigma=(0, sigma, sigma), mode="reflect")
    lowest = smooth.min(axis=(1, 2), keepdims=True)
    spread = np.maximum(smooth.max(axis=(1, 2), keepdims=True) - lowest, 1e-12)
    return (low + (high - low) * (smooth - lowest) / spread).astype(np.float32)
