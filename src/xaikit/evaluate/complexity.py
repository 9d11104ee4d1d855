"""Complexity of a heatmap: how much a human has to take in.

- :func:`jpeg_size`: bytes of the heatmap encoded as JPEG at quality 75 with Pillow, the
  human-interpretability proxy of Samek et al. (2021, section IV-B): a coarse map
  compresses well, a map in which every pixel carries information does not.
- :func:`gini`: Gini index of the absolute relevance (sparseness; Chalasani et al., 2020).
- :func:`entropy`: Shannon entropy of the normalized absolute relevance (Bhatt et al., 2020).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import torch

from xaikit.evaluate._common import AttributionLike, attribution_tensor, to_map

_RESAMPLE = {"nearest": 0, "bilinear": 2, "bicubic": 3}  # PIL.Image.Resampling values


def heatmap_image(map_: np.ndarray, *, cmap: str | None = None) -> np.ndarray:
    """Render one 2-D heatmap as 8-bit pixels, zero at mid-grey, scaled by the largest magnitude.

    Returns ``(H, W)`` grey levels, or ``(H, W, 3)`` colours with a matplotlib ``cmap``
    (for example ``"bwr"``).
    """
    peak = np.abs(map_).max()
    unit = map_ / peak if peak > 0 else np.zeros_like(map_)
    level = (unit + 1) / 2
    if cmap is None:
        return np.round(level * 255).astype(np.uint8)
    from matplotlib import colormaps

    rgb = colormaps[cmap](level)[..., :3]
    return np.round(rgb * 255).astype(np.uint8)


def _flat_magnitudes(attribution: AttributionLike, reduce_channels: bool | None) -> torch.Tensor:
    """``|map|`` of each sample flattened to ``(N, P)``, float64 on the CPU."""
    t = attribution_tensor(attribution)
    return to_map(t, reduce_channels).reshape(len(t), -1).abs()


def jpeg_size(
    attribution: AttributionLike,
    *,
    quality: int = 75,
    cmap: str | None = None,
    size: int | Sequence[int] | None = None,
    resample: str = "bilinear",
    reduce_channels: bool | None = None,
) -> np.ndarray:
    """File size in bytes of each heatmap encoded as JPEG (Pillow, quality 75 by default).

    Parameters
    ----------
    attribution : tensor, array or Explanation
        Attributions ``(N, d)``, ``(N, C, T)`` or ``(N, C, H, W)`` (channels summed).
        Tabular maps are encoded as one row of pixels, time series as a ``C x T`` image.
    quality : int
        JPEG quality (75 is Pillow's default and the literature's setting).
    cmap : str, optional
        Encode a colour rendering with this matplotlib colormap instead of grey levels.
    size : int or (int, int), optional
        Render the heatmap at this height and width before encoding, as it would be
        displayed; useful for maps of a few pixels, which fit in one 8x8 JPEG block.
    resample : {"bilinear", "nearest", "bicubic"}
        Interpolation used with ``size``. Nearest-neighbour upscaling by a multiple of 8
        turns every map pixel into a flat JPEG block and measures only the block means.
    reduce_channels : bool, optional
        Sum image channels first (default for images).

    Returns
    -------
    numpy.ndarray
        Bytes per sample, ``(N,)``.
    """
    from PIL import Image

    if resample not in _RESAMPLE:
        raise ValueError(f"resample must be one of {sorted(_RESAMPLE)}, got {resample!r}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    maps = to_map(attribution_tensor(attribution), reduce_channels).numpy()
    sizes = []
    for m in maps:
        plane = m[None] if m.ndim == 1 else m.reshape(-1, m.shape[-1])
        img = Image.fromarray(heatmap_image(plane, cmap=cmap))
        if size is not None:
            h, w = (size, size) if isinstance(size, int) else tuple(size)
            img = img.resize((int(w), int(h)), _RESAMPLE[resample])
        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=int(quality))
        sizes.append(buffer.tell())
    return np.asarray(sizes, dtype=np.int64)


def gini(attribution: AttributionLike, *, reduce_channels: bool | None = None) -> np.ndarray:
    """Gini index of the absolute relevance per sample, in ``[0, 1]`` (1: all on one feature).

    ``G = sum_i (2i - n - 1) a_(i) / (n sum_i a_(i))`` with ``a_(i)`` sorted ascending
    (Hurley and Rickard, 2009). A map of zeros has Gini index 0.

    Parameters
    ----------
    attribution : tensor, array or Explanation
        Attributions ``(N, ...)``.
    reduce_channels : bool, optional
        Sum image channels first (default for images).

    Returns
    -------
    numpy.ndarray
        Gini index per sample, ``(N,)``; invariant to the scale and sign of the map.
    """
    a = _flat_magnitudes(attribution, reduce_channels)
    values = torch.sort(a, dim=1).values
    n = values.shape[1]
    weights = 2 * torch.arange(1, n + 1, dtype=torch.float64) - n - 1
    total = values.sum(1)
    g = (values * weights).sum(1) / (n * torch.where(total > 0, total, torch.ones_like(total)))
    return g.numpy()


def entropy(
    attribution: AttributionLike, *, normalize: bool = False, reduce_channels: bool | None = None
) -> np.ndarray:
    """Shannon entropy (nats) of ``|a| / sum |a|`` per sample; lower means more concentrated.

    With ``normalize`` the entropy is divided by ``log(d)``, giving ``[0, 1]``. A map of
    zeros gets the maximal entropy (nothing is singled out).

    Parameters
    ----------
    attribution : tensor, array or Explanation
        Attributions ``(N, ...)``.
    normalize : bool
        Divide by ``log(d)``, ``d`` the number of map elements.
    reduce_channels : bool, optional
        Sum image channels first (default for images).

    Returns
    -------
    numpy.ndarray
        Entropy per sample, ``(N,)``.
    """
    a = _flat_magnitudes(attribution, reduce_channels)
    d = a.shape[1]
    total = a.sum(1, keepdim=True)
    p = torch.where(total > 0, a / torch.where(total > 0, total, torch.ones_like(total)), torch.full_like(a, 1.0 / d))
    h = -(p * torch.log(torch.where(p > 0, p, torch.ones_like(p)))).sum(1)
    if normalize:
        h = h / np.log(d) if d > 1 else torch.zeros_like(h)
    return h.numpy()
