"""NEON on a small CNN's features of scikit-image's bundled pictures.

Two demonstrations of the deep-feature variant (:mod:`xaikit.neon.deep`):

- :func:`scratch_demo`: KDE outlierness of the feature vectors of a texture with a
  synthetic scratch, the KDE being built on the clean texture; the pixel heatmap
  highlights the scratch (industrial inspection).
- :func:`cluster_demo`: k-means on the spatial feature vectors of one picture, one
  pixel heatmap per cluster.

The feature extractor is a small randomly initialized CNN (no weights are downloaded):
random ReLU convolutions already separate textures well enough for these tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from xaikit.datasets import load_texture
from xaikit.neon.deep import OnFeatures, on_features
from xaikit.neon.kde import KDEOutlierness
from xaikit.neon.kmeans import NeuralizedKMeans
from xaikit.utils.random import as_numpy_rng

__all__ = [
    "ClusterDemo",
    "ScratchDemo",
    "cluster_demo",
    "feature_extractor",
    "location_vectors",
    "median_gamma",
    "paste_scratch",
    "scratch_demo",
]


def feature_extractor(in_channels: int = 1, seed: int = 0, width: int = 16) -> nn.Sequential:
    """A small random CNN: three ReLU convolutions and two max-pools (stride 4 overall).

    ``conv5x5(width) -> ReLU -> MaxPool(2) -> conv3x3(2 width) -> ReLU -> MaxPool(2) ->
    conv3x3(2 width) -> ReLU``. Built under ``torch.random.fork_rng`` with ``seed``, so
    the global random state is left as it was.

    Parameters
    ----------
    in_channels : int, default 1
        Input channels (1 for grayscale, 3 for RGB).
    seed : int, default 0
        Seed of the initialization.
    width : int, default 16
        Channels of the first convolution.

    Returns
    -------
    torch.nn.Sequential
        In eval mode, float32; maps ``(N, C, H, W)`` to ``(N, 2 width, H/4, W/4)``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = nn.Sequential(
            nn.Conv2d(in_channels, width, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.ReLU(),
        )
    return net.eval()


def as_batch(image: np.ndarray) -> Tensor:
    """An ``(H, W)`` or ``(H, W, 3)`` image as a ``(1, C, H, W)`` float32 tensor."""
    t = torch.as_tensor(np.array(image, dtype=np.float32, copy=True))
    return t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]


def location_vectors(features: nn.Module, images: Tensor) -> Tensor:
    """The activation vectors of every location, ``(N * H' * W', C)`` in float64."""
    with torch.no_grad():
        a = features(images)
    return a.permute(0, 2, 3, 1).reshape(-1, a.shape[1]).double()


def median_gamma(points: Tensor) -> float:
    """``1 / median`` of the positive pairwise squared distances (the median heuristic)."""
    d2 = torch.cdist(points, points).pow(2)
    positive = d2[d2 > 0]
    if positive.numel() == 0:
        raise ValueError("all points coincide")
    return 1.0 / float(positive.median())


def paste_scratch(
    image: np.ndarray, seed: int | np.random.Generator | None = 0, width: int = 2, value: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Paste a synthetic scratch, a thin slanted line, onto a copy of a grayscale image.

    Parameters
    ----------
    image : numpy.ndarray
        Grayscale image ``(H, W)`` with values in ``[0, 1]``.
    seed : int or numpy.random.Generator, optional
        Chooses the position and slant.
    width : int, default 2
        Thickness in pixels.
    value : float, default 1.0
        Intensity of the scratch.

    Returns
    -------
    scratched : numpy.ndarray
        The image with the scratch (float32).
    mask : numpy.ndarray
        Boolean mask of the scratch pixels.
    """
    if image.ndim != 2:
        raise ValueError(f"expected a grayscale image (H, W), got shape {image.shape}")
    rng = as_numpy_rng(seed)
    h, w = image.shape
    rows = np.arange(int(0.15 * h), int(0.85 * h))
    slope = rng.uniform(-0.4, 0.4)
    start = rng.uniform(0.35, 0.65) * w
    cols = np.round(start + slope * (rows - rows.mean())).astype(int)
    mask = np.zeros((h, w), dtype=bool)
    for offset in range(width):
        c = np.clip(cols + offset, 0, w - 1)
        mask[rows, c] = True
    out = np.array(image, dtype=np.float32, copy=True)
    out[mask] = value
    return out, mask


@dataclass(frozen=True)
class ScratchDemo:
    """Result of :func:`scratch_demo`.

    Attributes
    ----------
    image : numpy.ndarray
        The scratched texture ``(H, W)``.
    mask : numpy.ndarray
        The scratch pixels.
    outlierness : numpy.ndarray
        Outlierness of every location of the feature map ``(H/4, W/4)``.
    heatmap : numpy.ndarray
        Pixel relevance of the total outlierness ``(H, W)``.
    model : OnFeatures
        The CNN with the neuralized KDE head.
    """

    image: np.ndarray
    mask: np.ndarray
    outlierness: np.ndarray
    heatmap: np.ndarray
    model: OnFeatures

    def scratch_share(self, margin: int = 3) -> float:
        """Share of the positive relevance within ``margin`` pixels of the scratch."""
        from scipy.ndimage import binary_dilation

        band = binary_dilation(self.mask, iterations=margin) if margin > 0 else self.mask
        positive = np.clip(self.heatmap, 0.0, None)
        total = float(positive.sum())
        return float(positive[band].sum()) / total if total > 0 else 0.0


def scratch_demo(texture: str = "brick", size: int = 128, seed: int = 0, gamma: float | None = None) -> ScratchDemo:
    """Explain KDE outlierness of a scratched texture down to the pixels.

    The KDE is built on the feature vectors of the clean texture (one point per
    location of the CNN's last activation map); the scratched copy is explained.

    Parameters
    ----------
    texture : str, default "brick"
        A grayscale texture of :func:`xaikit.datasets.load_texture` (``"brick"``,
        ``"grass"``, ``"gravel"``).
    size : int, default 128
        Side of the (square) image.
    seed : int, default 0
        Seed of the CNN and of the scratch.
    gamma : float, optional
        Kernel parameter (default: the median heuristic on the clean features).

    Returns
    -------
    ScratchDemo
    """
    clean = load_texture(texture, size=size)
    if clean.ndim != 2:
        raise ValueError(f"{texture!r} is not a grayscale texture; use brick, grass or gravel")
    scratched, mask = paste_scratch(clean, seed=seed)
    features = feature_extractor(1, seed=seed)
    support = location_vectors(features, as_batch(clean))
    kde = KDEOutlierness(support, gamma if gamma is not None else median_gamma(support))
    model = on_features(features, kde)
    x = as_batch(scratched)
    e = model.explain(x, preprocess=False)
    return ScratchDemo(
        image=scratched,
        mask=mask,
        outlierness=model.maps(x)[0].numpy(),
        heatmap=e.attribution[0, 0].numpy(),
        model=model,
    )


@dataclass(frozen=True)
class ClusterDemo:
    """Result of :func:`cluster_demo`.

    Attributes
    ----------
    image : numpy.ndarray
        The picture, ``(H, W)`` or ``(H, W, 3)``.
    assignments : numpy.ndarray
        Cluster of every location of the feature map ``(H/4, W/4)``.
    heatmaps : numpy.ndarray
        Pixel relevance of each cluster's evidence, ``(K, H, W)`` (summed over colour
        channels).
    evidence : numpy.ndarray
        The explained score of each cluster (its evidence summed over its locations).
    model : OnFeatures
        The CNN with the neuralized k-means head.
    """

    image: np.ndarray
    assignments: np.ndarray
    heatmaps: np.ndarray
    evidence: np.ndarray
    model: OnFeatures

    def cluster_share(self, cluster: int) -> float:
        """Share of cluster ``cluster``'s positive relevance on pixels of its own locations."""
        h, w = self.heatmaps.shape[1:]
        a = self.assignments
        up = np.kron(a == cluster, np.ones((h // a.shape[0], w // a.shape[1]), dtype=bool))
        positive = np.clip(self.heatmaps[cluster], 0.0, None)
        total = float(positive.sum())
        return float(positive[up].sum()) / total if total > 0 else 0.0


def cluster_demo(
    picture: str = "astronaut", n_clusters: int = 4, size: int = 96, seed: int = 0, equal_norm: bool = True
) -> ClusterDemo:
    """Cluster the spatial feature vectors of one picture and explain every cluster.

    Parameters
    ----------
    picture : str, default "astronaut"
        A picture of :func:`xaikit.datasets.load_texture`.
    n_clusters : int, default 4
        Number of k-means clusters.
    size : int, default 96
        Side of the (square) image; a multiple of 4.
    seed : int, default 0
        Seed of the CNN and of k-means.
    equal_norm : bool, default True
        Rescale the centroids to their mean norm (as in the literature): the biases
        ``||mu_k||^2 - ||mu_c||^2`` vanish, so the evidence is carried entirely by the
        activations (``R^dot = R``) and nothing is left in the residual. The clusters
        are then those of the rescaled centroids.

    Returns
    -------
    ClusterDemo
    """
    from sklearn.cluster import KMeans

    if size % 4:
        raise ValueError(f"size must be a multiple of 4, got {size}")
    image = load_texture(picture, size=size)
    x = as_batch(image)
    features = feature_extractor(x.shape[1], seed=seed)
    points = location_vectors(features, x)
    kmeans = KMeans(n_clusters, n_init=4, random_state=seed).fit(points.numpy())
    centroids = torch.as_tensor(kmeans.cluster_centers_)
    if equal_norm:
        norms = centroids.norm(dim=1, keepdim=True)
        centroids = centroids / norms * norms.mean()
    model = on_features(features, NeuralizedKMeans(centroids))
    batch = x.expand(n_clusters, *x.shape[1:])
    e = model.explain(batch, target=torch.arange(n_clusters), preprocess=False)
    return ClusterDemo(
        image=image,
        assignments=model.maps(x)[0].argmax(0).numpy(),
        heatmaps=e.attribution.sum(1).numpy(),
        evidence=e.output.numpy(),
        model=model,
    )
