"""SpRAy's clustering: a sparse k-nearest-neighbour graph (memory O(N k)), the spectrum of
its normalized Laplacian, the number of clusters by the eigengap, and k-means on the
spectral embedding (Ng, Jordan and Weiss)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from xaikit.utils.errors import InputError

__all__ = ["SpectralClusters", "knn_graph", "spectral_clusters"]

#: Up to this many samples the eigenproblem is solved densely (exact, and fast when small).
DENSE_LIMIT = 600


def knn_graph(points: np.ndarray, neighbors: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """The symmetric 0/1 k-nearest-neighbour graph of ``points``, and each point's neighbour distances.

    Parameters
    ----------
    points : numpy.ndarray
        ``(N, d)``.
    neighbors : int
        k; an edge joins two points when either is among the other's k nearest.

    Returns
    -------
    graph : scipy.sparse.csr_matrix
        ``(N, N)`` with at most ``2 N k`` entries.
    distances : numpy.ndarray
        ``(N, k)`` Euclidean distances to the k nearest neighbours.
    """
    from sklearn.neighbors import NearestNeighbors

    count = len(points)
    if not 1 <= neighbors < count:
        raise InputError(f"neighbors must be between 1 and the number of samples - 1 ({count - 1}), got {neighbors}")
    distances, indices = NearestNeighbors(n_neighbors=neighbors + 1).fit(points).kneighbors(points)
    # the nearest is the point itself, unless duplicates tie with it: drop self wherever it is
    keep = indices != np.arange(count)[:, None]
    keep[keep.sum(1) > neighbors, -1] = False
    rows = np.repeat(np.arange(count), neighbors)
    cols = indices[keep].reshape(count, neighbors).reshape(-1)
    graph = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(count, count))
    graph = graph.maximum(graph.T).tocsr()
    return graph, distances[keep].reshape(count, neighbors)


@dataclass(frozen=True)
class SpectralClusters:
    """The result of :func:`spectral_clusters`.

    Attributes
    ----------
    labels : numpy.ndarray
        The cluster of each node, numbered by size (largest first).
    eigenvalues : numpy.ndarray
        The smallest eigenvalues of the normalized Laplacian, ascending.
    eigenvectors : numpy.ndarray
        ``(nodes, len(eigenvalues))``: their eigenvectors (signs fixed).
    eigengap_clusters : int
        The number of clusters the eigengap chose.
    """

    labels: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    eigengap_clusters: int


def eigengap(eigenvalues: np.ndarray, most: int) -> int:
    """The number of clusters k (1..most) after which the normalized Laplacian's spectrum jumps most.

    Parameters
    ----------
    eigenvalues : numpy.ndarray
        Ascending, at least ``most + 1`` of them.
    most : int
        The largest k allowed.

    Returns
    -------
    int
        ``argmax_k (lambda_{k+1} - lambda_k)`` over ``k = 1..most``.
    """
    gaps = np.diff(eigenvalues[: most + 1])
    return int(np.argmax(gaps)) + 1


def _spectrum(graph: sp.csr_matrix, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` smallest eigenvalues of ``I - D^-1/2 A D^-1/2`` and their eigenvectors."""
    degree = np.asarray(graph.sum(1)).reshape(-1)
    scale = sp.diags(1.0 / np.sqrt(np.maximum(degree, 1e-12)))
    similarity = (scale @ graph @ scale).tocsr()
    size = graph.shape[0]
    if size <= DENSE_LIMIT or count >= size - 1:
        from scipy.linalg import eigh

        values, vectors = eigh(similarity.toarray())
        values, vectors = values[::-1][:count], vectors[:, ::-1][:, :count]
    else:
        from scipy.sparse.linalg import eigsh

        start = np.random.default_rng(seed).standard_normal(size)
        values, vectors = eigsh(similarity, k=count, which="LA", v0=start, tol=1e-10)
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
    # fix each eigenvector's sign (first non-negligible entry positive): deterministic output
    pivot = np.abs(vectors).argmax(0)
    vectors = vectors * np.sign(vectors[pivot, np.arange(vectors.shape[1])])
    return np.clip(1.0 - values, 0.0, 2.0), vectors


def spectral_clusters(
    graph: sp.csr_matrix, clusters: int | None = None, *, max_clusters: int = 10, seed: int = 0
) -> SpectralClusters:
    """Cluster the nodes of an affinity graph spectrally.

    Parameters
    ----------
    graph : scipy.sparse matrix
        Symmetric non-negative affinities.
    clusters : int, optional
        The number of clusters; by default the eigengap's choice among ``1..max_clusters``.
    max_clusters : int
        The most clusters the eigengap may choose.
    seed : int
        Seed of the eigensolver's start vector and of k-means.

    Returns
    -------
    SpectralClusters
    """
    size = graph.shape[0]
    if clusters is not None and not 1 <= clusters < size:
        raise InputError(f"clusters must be between 1 and the number of samples - 1 ({size - 1}), got {clusters}")
    if max_clusters < 1:
        raise InputError(f"max_clusters must be at least 1, got {max_clusters}")
    most = min(max(max_clusters, clusters or 1), size - 1)
    values, vectors = _spectrum(graph, min(most + 1, size), seed)
    chosen = eigengap(values, most)
    k = chosen if clusters is None else int(clusters)
    if k == 1:
        labels = np.zeros(size, dtype=np.int64)
    else:
        from sklearn.cluster import KMeans

        embedded = vectors[:, :k]
        embedded = embedded / np.maximum(np.linalg.norm(embedded, axis=1, keepdims=True), 1e-12)
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(embedded).astype(np.int64)
        # clusters numbered by size, largest first (ties by first member): stable names
        sizes = np.bincount(labels, minlength=k)
        first = np.array([np.flatnonzero(labels == c)[0] for c in range(k)])
        order = np.lexsort((first, -sizes))
        labels = np.argsort(order)[labels]
    return SpectralClusters(labels, values, vectors, chosen)
