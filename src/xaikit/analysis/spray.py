"""Spectral relevance analysis (SpRAy; Lapuschkin et al., Nature Communications 2019;
review 001, Algorithm 4): cluster the normalized explanations of many samples to find
the model's prototypical decision strategies, and the samples that follow none."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xaikit.analysis.normalize import Normalization
from xaikit.analysis.rows import as_rows
from xaikit.analysis.spectral import knn_graph, spectral_clusters
from xaikit.utils.errors import InputError

__all__ = ["SprayResult", "spray"]

EMBEDDINGS = ("tsne", "umap", "spectral", None)


@dataclass(frozen=True)
class SprayResult:
    """What SpRAy found.

    Attributes
    ----------
    indices : numpy.ndarray
        The samples analysed (indices into the relevance given).
    labels : numpy.ndarray
        The cluster of each sample analysed; clusters are numbered by size, largest first.
    clusters : int
        The number of clusters.
    eigengap_clusters : int
        The number the eigengap chose (``clusters`` unless set by hand).
    eigenvalues : numpy.ndarray
        The smallest eigenvalues of the kNN graph's normalized Laplacian, ascending; a
        jump after the k-th means k well-separated groups.
    embedding : numpy.ndarray or None
        ``(n, 2)`` coordinates for a scatter plot (t-SNE, UMAP or spectral).
    embedding_method : str or None
        Which: ``"tsne"``, ``"umap"``, ``"spectral"`` or ``None``.
    outlier_score : numpy.ndarray
        Mean distance to the k nearest neighbours over its median: well above 1 for
        explanations unlike any other.
    mean_relevance : numpy.ndarray
        ``(clusters, *shape)``: each cluster's mean normalized explanation.
    prototypes : dict of int to numpy.ndarray
        Per cluster, sample indices nearest to its mean explanation, nearest first.
    spectral : numpy.ndarray
        ``(n, m)`` eigenvectors of the smallest eigenvalues (the spectral embedding).
    shape : tuple of int
        The shape of one normalized explanation.
    """

    indices: np.ndarray
    labels: np.ndarray
    clusters: int
    eigengap_clusters: int
    eigenvalues: np.ndarray
    embedding: np.ndarray | None
    embedding_method: str | None
    outlier_score: np.ndarray
    mean_relevance: np.ndarray
    prototypes: dict[int, np.ndarray] = field(default_factory=dict)
    spectral: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    shape: tuple[int, ...] = ()

    @property
    def sizes(self) -> np.ndarray:
        """Samples per cluster."""
        return np.bincount(self.labels, minlength=self.clusters)

    def members(self, cluster: int) -> np.ndarray:
        """The sample indices in ``cluster``."""
        return self.indices[self.labels == cluster]

    def best_match(self, flags: Any) -> tuple[int, float, float]:
        """The cluster that best matches a set of samples: ``(cluster, purity, recall)``.

        Parameters
        ----------
        flags : array of bool
            One per analysed sample (in the order of :attr:`indices`): the samples to find,
            for example those carrying an artefact.

        Returns
        -------
        tuple
            The cluster with the highest F1 score against ``flags``, its purity (fraction
            of its members flagged) and recall (fraction of flagged samples in it).
        """
        flags = np.asarray(flags, dtype=bool)
        if flags.shape != self.labels.shape:
            raise InputError(f"flags must have one entry per analysed sample ({len(self.labels)}), got {flags.shape}")
        best = (0, 0.0, 0.0, -1.0)
        for cluster in range(self.clusters):
            inside = self.labels == cluster
            hits = int((inside & flags).sum())
            purity = hits / max(int(inside.sum()), 1)
            recall = hits / max(int(flags.sum()), 1)
            f1 = 2 * purity * recall / (purity + recall) if hits else 0.0
            if f1 > best[3]:
                best = (cluster, purity, recall, f1)
        return best[0], best[1], best[2]


def _indices(samples: Any, count: int) -> np.ndarray:
    if samples is None:
        return np.arange(count)
    picks = np.asarray(samples)
    if picks.dtype == bool:
        if picks.shape != (count,):
            raise InputError(f"a sample mask must have one entry per sample ({count}), got shape {picks.shape}")
        return np.flatnonzero(picks)
    if picks.ndim != 1 or picks.dtype.kind not in "iu" or ((picks < 0) | (picks >= count)).any():
        raise InputError(f"samples must be a boolean mask or indices in [0, {count}), got {picks.dtype} {picks.shape}")
    return np.sort(picks.astype(np.int64))


def _embedding(kind: str | None, points: np.ndarray, vectors: np.ndarray, seed: int) -> np.ndarray | None:
    if kind is None:
        return None
    if kind == "spectral":
        return np.asarray(vectors[:, 1:3])
    if kind == "umap":
        try:
            import umap
        except ImportError as error:
            raise ImportError("embedding='umap' needs umap-learn; install xaikit[umap], or use 'tsne'") from error
        return np.asarray(umap.UMAP(n_components=2, random_state=seed).fit_transform(points))
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (len(points) - 1) / 3)))
    return np.asarray(TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity).fit_transform(points))


def spray(
    relevance: Any,
    *,
    samples: Any = None,
    method: str | None = None,
    normalization: Normalization | None = None,
    neighbors: int = 10,
    clusters: int | None = None,
    max_clusters: int = 10,
    embedding: str | None = "tsne",
    prototypes: int = 8,
    seed: int = 0,
) -> SprayResult:
    """Spectral relevance analysis of many explanations.

    1. normalize each explanation (:class:`Normalization`: channels summed, optional blur
       and resizing, unit norm);
    2. join each to its ``neighbors`` nearest (a sparse graph: memory O(N k), not O(N^2));
    3. cluster the graph spectrally, the number of clusters chosen by the eigengap of its
       normalized Laplacian (or given);
    4. embed in 2-D, score outliers, and average each cluster's explanations.

    Parameters
    ----------
    relevance : array, tensor, Explanation or ExplanationStore
        ``(N, ...)`` explanations: images, time series or tabular data.
    samples : array of bool or int, optional
        The samples to analyse (for example one class: ``store.read("label") == 3``).
    method : str, optional
        The store's method.
    normalization : Normalization, optional
        Default: channels summed, unit Euclidean norm.
    neighbors : int
        k of the k-nearest-neighbour graph.
    clusters : int, optional
        Fix the number of clusters instead of the eigengap's choice.
    max_clusters : int
        The most clusters the eigengap may choose.
    embedding : {"tsne", "umap", "spectral", None}
        The 2-D embedding (UMAP needs ``umap-learn``).
    prototypes : int
        Prototype samples kept per cluster.
    seed : int
        Seed of the eigensolver, k-means and the embedding.

    Returns
    -------
    SprayResult

    Notes
    -----
    The eigengap counts groups of explanations that are tight compared with the distances
    between groups: on the digits with a planted corner mark it finds the two strategies
    (the digit, the mark) for every training seed tried (0-4). Where explanations vary
    continuously within a strategy (events at varying times, strengths varying feature by
    feature), the spectrum rises gradually and the largest gap can come later: look at
    :attr:`SprayResult.eigenvalues` and set ``clusters``.
    """
    if embedding not in EMBEDDINGS:
        raise InputError(f"embedding must be one of {EMBEDDINGS}, got {embedding!r}")
    rows = as_rows(relevance, method)
    indices = _indices(samples, rows.samples)
    if len(indices) < 3:
        raise InputError(f"SpRAy needs at least 3 samples, got {len(indices)}")
    norm = normalization or Normalization()
    shape = norm.shape(rows.sample_shape)
    points = np.concatenate([norm(block) for _, block in rows.blocks(indices)])
    k = min(neighbors, len(indices) - 1)
    graph, distances = knn_graph(points, k)
    found = spectral_clusters(graph, clusters, max_clusters=max_clusters, seed=seed)
    count = int(found.labels.max()) + 1
    spread = distances.mean(1)
    outlier = spread / max(float(np.median(spread)), 1e-12)
    means = np.stack([points[found.labels == c].mean(0) for c in range(count)])
    nearest = {
        c: indices[found.labels == c][np.argsort(np.linalg.norm(points[found.labels == c] - means[c], axis=1))][:prototypes]
        for c in range(count)
    }
    return SprayResult(
        indices=indices,
        labels=found.labels,
        clusters=count,
        eigengap_clusters=found.eigengap_clusters,
        eigenvalues=found.eigenvalues,
        embedding=_embedding(embedding, points, found.eigenvectors, seed),
        embedding_method=embedding,
        outlier_score=outlier,
        mean_relevance=means.reshape(count, *shape),
        prototypes=nearest,
        spectral=found.eigenvectors,
        shape=shape,
    )
