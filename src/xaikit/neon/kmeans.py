"""Neuralized k-means: cluster evidence as a linear layer followed by min-pooling."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from xaikit.neon.base import Neuralized, as_float_tensor
from xaikit.neon.functional import PoolSpec
from xaikit.neon.layers import DifferenceLayer, SoftPool

__all__ = ["NeuralizedKMeans", "default_kmeans_beta"]


def default_kmeans_beta(centroids: Tensor) -> float:
    """``1 / mean logit``: the inverse of the mean of ``h_ck`` evaluated at the centroids.

    At ``x = mu_c`` the logit ``h_ck`` equals ``||mu_c - mu_k||^2``, so this is
    ``1 / mean_{c != k} ||mu_c - mu_k||^2``: logits differing by a typical inter-centroid
    squared distance get weights differing by a factor ``e``.

    Parameters
    ----------
    centroids : torch.Tensor
        Shape ``(K, d)``, ``K >= 2``.

    Returns
    -------
    float
    """
    k = centroids.shape[0]
    d2 = torch.cdist(centroids, centroids).pow(2)
    mean = float(d2.sum() / (k * (k - 1)))
    if not mean > 0:
        raise ValueError("all centroids coincide; pass beta explicitly")
    return 1.0 / mean


class NeuralizedKMeans(Neuralized):
    """K-means cluster evidence as a two-layer network (Kauffmann et al., 2022).

    For every cluster ``c`` the output is
    ``f_c(x) = min_{k != c} ||x - mu_k||^2 - ||x - mu_c||^2``, computed as

    - layer 1: ``h_ck = w_ck^T x + b_ck`` with ``w_ck = 2 (mu_c - mu_k)`` and
      ``b_ck = ||mu_k||^2 - ||mu_c||^2`` (:class:`DifferenceLayer`);
    - layer 2: ``f_c = min_{k != c} h_ck`` (exact hard minimum).

    ``f_c > 0`` exactly for the assigned cluster, so the arg-max of the output is
    ``KMeans.predict`` and the default target explains the assigned cluster; pass
    ``target=c`` for any other. Relevance: ``R_k = softmin_beta(h)_k f_c`` in the pool,
    then the w-square rule (``R_i = sum_k w_ik^2 / ||w_k||^2 R_k``) or the midpoint rule
    (``R_i = sum_k w_ik (x_i - m_ik) / h_k R_k``, ``m_k = (mu_c + mu_k) / 2``).

    Parameters
    ----------
    centroids : array-like or torch.Tensor
        Cluster centres, shape ``(K, d)`` with ``K >= 2``.
    beta : float, "auto" or None, default "auto"
        Soft-argmin sharpness; ``"auto"`` is :func:`default_kmeans_beta`
        (``1 / mean_{c != k} ||mu_c - mu_k||^2``), ``None`` the hard argmin.
    rule : {"wsquare", "midpoint"}, default "wsquare"
        Default rule of :meth:`explain` and :meth:`composite`.

    Examples
    --------
    >>> import numpy as np, xaikit
    >>> from xaikit.neon import NeuralizedKMeans
    >>> model = NeuralizedKMeans(np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]]))
    >>> e = model.explain(np.array([[0.5, 0.2]]))
    >>> int(e.target[0]), round(float(e.output[0]), 3)
    (0, 6.0)
    """

    def __init__(self, centroids: Any, beta: float | str | None = "auto", rule: str = "wsquare") -> None:
        super().__init__()
        mu = as_float_tensor(centroids, name="centroids")
        if mu.ndim != 2 or mu.shape[0] < 2:
            raise ValueError(f"centroids must have shape (K, d) with K >= 2, got {tuple(mu.shape)}")
        k = mu.shape[0]
        pairs = [(c, j) for c in range(k) for j in range(k) if j != c]
        first = mu[[c for c, _ in pairs]]
        second = mu[[j for _, j in pairs]]
        if isinstance(beta, str):
            if beta != "auto":
                raise ValueError(f"beta must be a positive float, 'auto' or None, got {beta!r}")
            beta = default_kmeans_beta(mu)
        self.beta = None if beta is None else float(beta)
        self.default_rule = rule
        self.register_buffer("centroids", mu)
        self.differences = DifferenceLayer.from_pairs(first, second, None, (k, k - 1))
        self.pool = SoftPool(PoolSpec("min", None, self.beta))

    @property
    def n_clusters(self) -> int:
        """Number of clusters ``K``."""
        return int(self.differences.shape[0])

    def forward(self, x: Tensor) -> Tensor:
        """Cluster evidence ``f_c(x)`` for every cluster: ``(N, d) -> (N, K)``."""
        out: Tensor = self.pool(self.differences(self._cast(x)))
        return out

    def predict(self, x: Tensor) -> Tensor:
        """Assigned cluster (the arg-max of the evidence, as ``KMeans.predict``), ``(N,)``."""
        with torch.no_grad():
            return self.forward(x).argmax(1)
