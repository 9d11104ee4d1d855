"""Neuralized kernel k-means: a 4-layer network of differences and nested soft pools."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from xaikit.neon.base import Neuralized, as_float_tensor
from xaikit.neon.functional import PoolSpec
from xaikit.neon.layers import DifferenceLayer, SoftPool

__all__ = ["NeuralizedKernelKMeans"]


class NeuralizedKernelKMeans(Neuralized):
    """Kernel k-means cluster evidence (Samek et al., 2021, sec. VI-A; Kauffmann et al., 2022).

    Cluster ``c`` has the members ``C_c`` and the kernel density
    ``p_c(x) = (1/|C_c|) sum_{i in C_c} exp(-gamma ||x - x_i||^2)``; the soft assignment
    ``P(c | x) ~ p_c(x)^(beta / gamma)`` has the log-odds
    ``log P / (1 - P) = beta * f_c(x)`` with the evidence

    ``f_c(x) = min^beta_{k != c} min^gamma_{j in C_k} max^gamma_{i in C_c} (w_ij^T x + b_ijk)``

    - layer 1: ``w_ij = 2 (x_i - x_j)``, ``b_ijk = ||x_j||^2 - ||x_i||^2 +
      (log |C_k| - log |C_c|) / gamma`` (:class:`DifferenceLayer`);
    - layer 2: soft max-pooling over the members ``i`` of ``c``;
    - layer 3: soft min-pooling over the members ``j`` of each competitor ``k``;
    - layer 4: soft min-pooling over the competitors ``k != c``,

    with ``max^a {z} = (1/a) log sum exp(a z)`` and ``min^a {z} = -max^a {-z}``. The output
    is ``f_c`` for every cluster (exact); its arg-max is the most probable cluster.
    Relevance follows the soft arg-max/arg-min of each pool, then the w-square rule
    (default) or the midpoint rule at layer 1.

    Parameters
    ----------
    support : array-like or torch.Tensor
        The clustered points ``x_i``, shape ``(M, d)``.
    labels : array-like of int
        Cluster of each point, ``0..K-1``, every cluster non-empty, ``K >= 2``.
    gamma : float
        Kernel parameter.
    beta : float, optional
        Stiffness of the assignment (default ``gamma``: ``P(c | x)`` proportional to
        ``p_c(x)``).
    rule : {"wsquare", "midpoint"}, default "wsquare"
        Default rule of the first layer. The midpoint rule divides by ``h_ijk``, which
        the soft pools may route relevance to even when it is near zero; it can then
        give large compensating scores.

    Notes
    -----
    The first layer has ``K^2 J^2`` outputs (``J`` the largest cluster); use a subset of
    representatives per cluster for large data.
    """

    counts: Tensor

    def __init__(
        self, support: Any, labels: Any, gamma: float, beta: float | None = None, rule: str = "wsquare"
    ) -> None:
        super().__init__()
        x = as_float_tensor(support, name="support")
        y = torch.as_tensor(labels).reshape(-1)
        if x.ndim != 2 or y.shape[0] != x.shape[0]:
            raise ValueError(f"support {tuple(x.shape)} and labels {tuple(y.shape)} do not match")
        if y.dtype.is_floating_point or y.dtype == torch.bool:
            raise TypeError("labels must be integers 0..K-1")
        k = int(y.max()) + 1 if len(y) else 0
        counts = torch.bincount(y.long(), minlength=k) if len(y) and int(y.min()) >= 0 else None
        if counts is None or k < 2 or bool((counts == 0).any()):
            raise ValueError("labels must be integers 0..K-1 with K >= 2 and every cluster non-empty")
        gamma = float(gamma)
        if not gamma > 0:
            raise ValueError(f"gamma must be positive, got {gamma}")
        self.gamma = gamma
        self.beta = gamma if beta is None else float(beta)
        self.default_rule = rule
        j = int(counts.max())
        d = x.shape[1]
        members = torch.zeros(k, j, d, dtype=x.dtype)
        valid = torch.zeros(k, j, dtype=torch.bool)
        for c in range(k):
            rows = x[y == c]
            members[c, : len(rows)] = rows
            valid[c, : len(rows)] = True
        log_n = torch.log(counts.to(x.dtype))
        # Entry (c, k, j, i): first = member i of c, second = member j of k.
        off = ~torch.eye(k, dtype=torch.bool)
        use = off[:, :, None, None] & valid[None, :, :, None] & valid[:, None, None, :]
        first = torch.where(use[..., None], members[:, None, None, :, :].expand(k, k, j, j, d), 0.0)
        second = torch.where(use[..., None], members[None, :, :, None, :].expand(k, k, j, j, d), 0.0)
        offset = torch.where(use, ((log_n[None, :] - log_n[:, None]) / gamma)[:, :, None, None], 0.0)
        self.differences = DifferenceLayer.from_pairs(
            first.reshape(-1, d), second.reshape(-1, d), offset.reshape(-1), (k, k, j, j)
        )
        mask_i = torch.where(valid, 0.0, -math.inf).to(x.dtype)[:, None, None, :]
        mask_j = torch.where(valid, 0.0, -math.inf).to(x.dtype)[None, :, :]
        mask_k = torch.where(off, 0.0, -math.inf).to(x.dtype)
        self.members_pool = SoftPool(PoolSpec("max", gamma, gamma), mask_i)
        self.competitor_members_pool = SoftPool(PoolSpec("min", gamma, gamma), mask_j)
        self.competitors_pool = SoftPool(PoolSpec("min", self.beta, self.beta), mask_k)
        self.register_buffer("counts", counts.to(x.dtype))

    @property
    def n_clusters(self) -> int:
        """Number of clusters ``K``."""
        return int(self.counts.shape[0])

    def forward(self, x: Tensor) -> Tensor:
        """Cluster evidence ``f_c(x)``, ``(N, d) -> (N, K)``."""
        h = self.differences(self._cast(x))
        out: Tensor = self.competitors_pool(self.competitor_members_pool(self.members_pool(h)))
        return out

    def log_odds(self, x: Tensor) -> Tensor:
        """``log P(c | x) / (1 - P(c | x)) = beta f_c(x)``, ``(N, K)``."""
        with torch.no_grad():
            return self.beta * self.forward(x)

    def predict(self, x: Tensor) -> Tensor:
        """Most probable cluster (largest kernel density), ``(N,)``."""
        with torch.no_grad():
            return self.forward(x).argmax(1)
