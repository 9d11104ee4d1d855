"""Similarity of two batches of heatmaps, sample by sample.

All functions take two tensors ``a`` and ``b`` of the same shape ``(N, ...)`` and
return one score per sample, shape ``(N,)`` (float64). Heatmaps are what
:func:`xaikit.evaluate.to_map` returns: ``(N, d)`` tabular, ``(N, C, T)`` time series,
``(N, 1, H, W)`` images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from xaikit.evaluate.correlation import pearson_rows, spearman_rows
from xaikit.evaluate.correlation import rank_rows as rank

Similarity = Callable[[Tensor, Tensor], Tensor]


def _check_pair(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    if a.shape != b.shape:
        raise ValueError(f"heatmaps to compare differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.ndim < 2:
        raise ValueError(f"heatmaps must be a batch (N, ...), got shape {tuple(a.shape)}")
    return a.detach().to(torch.float64), b.detach().to(torch.float64)


def scale_unit(a: Tensor) -> Tensor:
    """Scale each sample's map linearly to ``[0, 1]`` (min to 0, max to 1; a constant map to 0)."""
    flat = a.reshape(len(a), -1)
    low = flat.min(1, keepdim=True).values
    span = flat.max(1, keepdim=True).values - low
    scaled = (flat - low) / torch.where(span > 0, span, torch.ones_like(span))
    return scaled.reshape(a.shape)


def pearson(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation of each pair of maps over all their elements.

    NaN where a map is constant, or constant up to round-off (see
    :mod:`xaikit.evaluate.correlation`, which every correlation of the library goes through).

    Parameters
    ----------
    a, b : torch.Tensor
        Heatmaps of the same shape ``(N, ...)``.

    Returns
    -------
    torch.Tensor
        ``(N,)`` float64 correlations in ``[-1, 1]``.
    """
    a, b = _check_pair(a, b)
    return pearson_rows(a.reshape(len(a), -1), b.reshape(len(b), -1))


def spearman(a: Tensor, b: Tensor, *, absolute: bool = False) -> Tensor:
    """Spearman rank correlation of each pair of maps (of their absolute values if ``absolute``).

    Ties get average ranks, as in :func:`scipy.stats.spearmanr`; NaN where all the values
    of a map are equal (:func:`xaikit.evaluate.correlation.spearman_rows`).

    Parameters
    ----------
    a, b : torch.Tensor
        Heatmaps of the same shape ``(N, ...)``.
    absolute : bool
        Rank the absolute values (ignores the sign of the relevance).

    Returns
    -------
    torch.Tensor
        ``(N,)`` float64 rank correlations.
    """
    a, b = _check_pair(a, b)
    x = a.reshape(len(a), -1)
    y = b.reshape(len(b), -1)
    if absolute:
        x, y = x.abs(), y.abs()
    return spearman_rows(x, y)


def spearman_abs(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation of the absolute values of the maps."""
    return spearman(a, b, absolute=True)


def ssim(
    a: Tensor,
    b: Tensor,
    *,
    win_size: int = 7,
    data_range: float | None = 1.0,
    scale: bool = True,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    """Structural similarity index of each pair of maps.

    By default each map is first scaled to ``[0, 1]`` (:func:`scale_unit`), and the SSIM
    of Wang et al. (2004) is computed as in :func:`skimage.metrics.structural_similarity`
    (uniform ``win_size`` window along the spatial/temporal axes, sample covariance,
    mean over the windows that fit inside the map, channels averaged). Tabular maps
    ``(N, d)`` and maps with an axis shorter than 3 get the global SSIM (one window
    covering the whole map).

    Parameters
    ----------
    a, b : torch.Tensor
        Heatmaps ``(N, d)``, ``(N, C, T)`` or ``(N, C, H, W)``.
    win_size : int
        Side of the sliding window; shrunk to the largest odd size that fits.
    data_range : float, optional
        Dynamic range of the values; 1 for scaled maps. ``None`` uses the range of the
        two maps of each pair (only meaningful with ``scale=False``).
    scale : bool
        Scale each map to ``[0, 1]`` first.
    k1, k2 : float
        Stabilizing constants.

    Returns
    -------
    torch.Tensor
        ``(N,)`` float64 SSIM values (1 for identical maps).
    """
    a, b = _check_pair(a, b)
    if scale:
        a, b = scale_unit(a), scale_unit(b)
    n = len(a)
    if data_range is None:
        both = torch.cat([a.reshape(n, -1), b.reshape(n, -1)], 1)
        rng = both.max(1).values - both.min(1).values
        rng = torch.where(rng > 0, rng, torch.ones_like(rng))
    else:
        rng = torch.full((n,), float(data_range), dtype=torch.float64, device=a.device)
    c1 = (k1 * rng) ** 2
    c2 = (k2 * rng) ** 2
    spatial = a.shape[2:] if a.ndim >= 3 else ()
    win = min([win_size, *spatial]) if spatial else 0
    win = win if win % 2 == 1 else win - 1
    if not spatial or win < 3 or len(spatial) > 3:
        return _global_ssim(a.reshape(n, -1), b.reshape(n, -1), c1, c2)
    channels = a.shape[1]
    pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[len(spatial)]
    x = a.reshape(n * channels, 1, *spatial)
    y = b.reshape(n * channels, 1, *spatial)

    def mean(t: Tensor) -> Tensor:
        return pool(t, win, stride=1)

    ux, uy = mean(x), mean(y)
    uxx, uyy, uxy = mean(x * x), mean(y * y), mean(x * y)
    np_ = win ** len(spatial)
    cov_norm = np_ / (np_ - 1)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    shape = (n * channels,) + (1,) * (ux.ndim - 1)
    c1r = c1.repeat_interleave(channels).view(shape)
    c2r = c2.repeat_interleave(channels).view(shape)
    s = ((2 * ux * uy + c1r) * (2 * vxy + c2r)) / ((ux**2 + uy**2 + c1r) * (vx + vy + c2r))
    return s.reshape(n, -1).mean(1)


def _global_ssim(x: Tensor, y: Tensor, c1: Tensor, c2: Tensor) -> Tensor:
    d = x.shape[1]
    ux, uy = x.mean(1), y.mean(1)
    norm = d / (d - 1) if d > 1 else 1.0
    vx = norm * ((x - ux[:, None]) ** 2).mean(1)
    vy = norm * ((y - uy[:, None]) ** 2).mean(1)
    vxy = norm * ((x - ux[:, None]) * (y - uy[:, None])).mean(1)
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))


def ssim_abs(a: Tensor, b: Tensor) -> Tensor:
    """SSIM of the absolute values of the maps (each scaled to ``[0, 1]``)."""
    return ssim(a.abs(), b.abs())


def hog_features(
    maps: Tensor,
    *,
    orientations: int = 9,
    pixels_per_cell: int | Sequence[int] | None = None,
    cells_per_block: int | Sequence[int] = 2,
) -> np.ndarray:
    """Histogram-of-oriented-gradients descriptors of 2-D maps ``(N, 1, H, W)``, ``(N, F)``.

    Each map is scaled to ``[0, 1]`` first; :func:`skimage.feature.hog` does the rest.
    ``pixels_per_cell`` defaults to ``max(2, min(H, W) // 8)``.
    """
    if maps.ndim != 4 or maps.shape[1] != 1:
        raise ValueError(
            "HOG similarity needs 2-D image heatmaps of shape (N, 1, H, W) (images with the "
            f"channels summed); got shape {tuple(maps.shape)}. For tabular data or time series "
            "use 'ssim' or 'spearman'"
        )
    from skimage.feature import hog

    h, w = maps.shape[2:]
    ppc = max(2, min(h, w) // 8) if pixels_per_cell is None else pixels_per_cell
    ppc_t = (ppc, ppc) if isinstance(ppc, int) else tuple(ppc)
    cpb = (cells_per_block, cells_per_block) if isinstance(cells_per_block, int) else tuple(cells_per_block)
    if h // ppc_t[0] < cpb[0] or w // ppc_t[1] < cpb[1]:
        raise ValueError(
            f"maps of size {h}x{w} are too small for HOG with pixels_per_cell={ppc_t} and "
            f"cells_per_block={cpb}; pass smaller values"
        )
    scaled = scale_unit(maps.detach().to(torch.float64)).cpu().numpy()[:, 0]
    return np.stack(
        [
            hog(m, orientations=orientations, pixels_per_cell=ppc_t, cells_per_block=cpb, feature_vector=True)
            for m in scaled
        ]
    )


def hog_similarity(a: Tensor, b: Tensor, **options: Any) -> Tensor:
    """Pearson correlation of the HOG descriptors of two batches of 2-D maps.

    Parameters
    ----------
    a, b : torch.Tensor
        Image heatmaps ``(N, 1, H, W)``.
    **options
        ``orientations``, ``pixels_per_cell``, ``cells_per_block`` of :func:`hog_features`.

    Returns
    -------
    torch.Tensor
        ``(N,)`` float64 correlations.
    """
    a, b = _check_pair(a, b)
    ha = torch.from_numpy(hog_features(a, **options))
    hb = torch.from_numpy(hog_features(b, **options))
    return pearson(ha, hb).to(a.device)


def mse(a: Tensor, b: Tensor) -> Tensor:
    """Mean squared difference of the maps, each scaled to ``[0, 1]`` (0 for identical maps)."""
    a, b = _check_pair(a, b)
    return ((scale_unit(a) - scale_unit(b)) ** 2).reshape(len(a), -1).mean(1)


#: Similarity functions by name.
SIMILARITIES: dict[str, Similarity] = {
    "ssim": ssim,
    "ssim_abs": ssim_abs,
    "spearman": spearman,
    "spearman_abs": spearman_abs,
    "pearson": pearson,
    "hog": hog_similarity,
    "mse": mse,
}


def against(similarity: Similarity, reference: Tensor) -> Callable[[Tensor], Tensor]:
    """``b -> similarity(reference, b)``, with the work on ``reference`` done once where possible.

    For the rank correlations the ranks of ``reference`` are computed here, once, instead of
    at every comparison (the randomization tests compare one original map with many).

    Parameters
    ----------
    similarity : callable
        A similarity ``(a, b) -> (N,)``.
    reference : torch.Tensor
        The fixed first argument ``a``.

    Returns
    -------
    callable
        ``b -> similarity(reference, b)``.
    """
    if similarity is not spearman and similarity is not spearman_abs:
        return partial(similarity, reference)
    reference64, _ = _check_pair(reference, reference)
    flat = reference64.reshape(len(reference64), -1)
    ranked = rank(flat.abs() if similarity is spearman_abs else flat)

    def compare(b: Tensor) -> Tensor:
        _, other = _check_pair(reference, b)
        flat_b = other.reshape(len(other), -1)
        return pearson_rows(ranked, rank(flat_b.abs() if similarity is spearman_abs else flat_b))

    return compare


def get_similarity(name: str | Similarity) -> Similarity:
    """A similarity function by name (see :data:`SIMILARITIES`), or the callable itself."""
    if callable(name):
        return name
    try:
        return SIMILARITIES[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown similarity {name!r}; use one of {', '.join(SIMILARITIES)} or a callable "
            "(a, b) -> tensor of shape (N,)"
        ) from None


def default_similarities(map_ndim: int) -> tuple[str, ...]:
    """The similarities that make sense for heatmaps with ``map_ndim`` dimensions (batch included).

    SSIM of the absolute maps comes first: it is insensitive to a flip of the sign of the
    whole map (the explained logit of a randomized model may change sign).
    """
    base = ("ssim_abs", "ssim", "spearman", "spearman_abs")
    return (*base, "hog") if map_ndim == 4 else base
