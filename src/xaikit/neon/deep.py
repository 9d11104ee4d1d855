"""Neuralized heads on top of a deep feature extractor (Montavon et al., 2022, appendix A).

When the unsupervised model is fitted on the activations ``a`` of some layer of a
network (one data point per spatial location), the relevance that reaches the head's
first layer is split into a part expressed by *activated* neurons, propagated with

- outlierness: ``R_k^dot = p_k a^T (a - u_k)``, ``R_i = sum_k a_i (a_i - u_ik) / (a^T (a - u_k)) R_k^dot``;
- clusters: ``R_k^dot = p_k a^T w_k``, ``R_i = sum_k a_i w_ik / (a^T w_k) R_k^dot``,

and a residual that no pixel pattern can carry (it is dissipated, and reported by
:meth:`DeepClusterHead.decompose` / :meth:`DeepOutlierHead.decompose`). Deactivated
neurons (``a_i = 0``) get no relevance; standard LRP rules then take the relevance
down to the pixels.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from xaikit.neon.base import Neuralized
from xaikit.neon.composite import NeonComposite, neon_composite
from xaikit.neon.functional import (
    PoolSpec,
    dot_cluster_evidence,
    dot_outlierness,
    pairwise_squared_distances,
    pool_value,
    pool_weights,
)
from xaikit.neon.kde import KDEOutlierness
from xaikit.neon.kmeans import NeuralizedKMeans

__all__ = ["DeepClusterHead", "DeepOutlierHead", "OnFeatures", "on_features"]


def _locations(a: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    """``(N, C, *S)`` activations as ``(N * prod(S), C)`` points, and ``(N, *S)``."""
    if a.ndim < 2:
        raise ValueError(f"activations must have shape (N, C, ...), got {tuple(a.shape)}")
    n, c = a.shape[:2]
    spatial = tuple(a.shape[2:])
    if not spatial:
        return a, (n,)
    perm = (0, *range(2, a.ndim), 1)
    return a.permute(perm).reshape(-1, c), (n, *spatial)


class DeepClusterHead(nn.Module):
    """K-means cluster evidence of every location of an activation map (appendix A.3).

    Parameters
    ----------
    kmeans : NeuralizedKMeans
        The neuralized k-means fitted on the activation vectors (``d = C``).
    """

    weight: Tensor
    bias: Tensor

    def __init__(self, kmeans: NeuralizedKMeans) -> None:
        super().__init__()
        k = kmeans.n_clusters
        layer = kmeans.differences
        self.register_buffer("weight", layer.weight.view(k, k - 1, -1).clone())
        self.register_buffer("bias", layer.bias.view(k, k - 1).clone())
        self.beta = kmeans.beta

    @property
    def n_clusters(self) -> int:
        """Number of clusters ``K``."""
        return int(self.weight.shape[0])

    def forward(self, a: Tensor) -> Tensor:
        """Evidence ``f_c`` per location: ``(N, C, *S) -> (N, K, *S)``."""
        points, shape = _locations(a.to(self.weight.dtype))
        f = dot_cluster_evidence(points, self.weight, self.bias, self.beta)
        out = f.reshape(*shape, self.n_clusters)
        return out.permute(0, out.ndim - 1, *range(1, out.ndim - 1)) if out.ndim > 2 else out

    def decompose(self, a: Tensor) -> tuple[Tensor, Tensor]:
        """The propagated part ``sum_k p_k a^T w_ck`` and the residual ``f_c - dot``.

        Returns
        -------
        dot, residual : torch.Tensor
            Each ``(N * prod(S), K)``, one row per location; ``dot + residual = f_c``.
        """
        with torch.no_grad():
            points, _ = _locations(a.to(self.weight.dtype))
            k, m, c = self.weight.shape
            z = (points @ self.weight.reshape(k * m, c).T).view(-1, k, m)
            h = z + self.bias
            p = pool_weights(h, PoolSpec("min", None, self.beta))
            dot = (p * z).sum(-1)
            return dot, h.amin(-1) - dot


class DeepOutlierHead(nn.Module):
    """KDE / one-class SVM outlierness of every location of an activation map (appendix A.1).

    Parameters
    ----------
    outlierness : KDEOutlierness
        The neuralized model fitted on the activation vectors (or a
        :class:`~xaikit.neon.OneClassSVMOutlierness`).
    """

    support: Tensor
    log_weights: Tensor | None

    def __init__(self, outlierness: KDEOutlierness) -> None:
        super().__init__()
        if outlierness.leave_one_out:
            raise ValueError(
                "a leave-one-out outlierness model cannot be put on features (the activation "
                "vectors of a location are not training points); set model.leave_one_out = False"
            )
        self.register_buffer("support", outlierness.support.clone())
        lw = outlierness.pool.log_weights
        self.register_buffer("log_weights", None if lw is None else lw.clone())
        self.spec = outlierness.pool.spec

    def forward(self, a: Tensor) -> Tensor:
        """Outlierness per location: ``(N, C, *S) -> (N, *S)``."""
        points, shape = _locations(a.to(self.support.dtype))
        return dot_outlierness(points, self.support, self.spec, self.log_weights).reshape(shape)

    def decompose(self, a: Tensor) -> tuple[Tensor, Tensor]:
        """The propagated part ``sum_k p_k a^T (a - u_k)`` and the residual ``o - dot``.

        Returns
        -------
        dot, residual : torch.Tensor
            Each ``(N * prod(S),)``; ``dot + residual = o``.
        """
        with torch.no_grad():
            points, _ = _locations(a.to(self.support.dtype))
            h = pairwise_squared_distances(points, self.support)
            p = pool_weights(h, self.spec, self.log_weights)
            dot = (points * (points - p @ self.support)).sum(-1)
            return dot, pool_value(h, self.spec, self.log_weights) - dot


class OnFeatures(Neuralized):
    """A feature extractor followed by a neuralized head, explained down to the input.

    Parameters
    ----------
    features : torch.nn.Module
        Maps inputs ``(N, ...)`` to activations ``(N, C, *S)`` (typically after a ReLU).
    head : DeepClusterHead or DeepOutlierHead
        The neuralized model on the activation vectors.
    pool : {"sum", "none"}, default "sum"
        ``"sum"`` returns one score per image: for clusters the evidence summed over the
        locations assigned to each cluster, ``sum_p max(0, f_c(a_p))``, ``(N, K)``; for
        outlierness the sum over locations, ``(N,)``. ``"none"`` returns the maps
        (``(N, K, *S)`` or ``(N, *S)``), to explain with a callable target.
    base : str or Composite, default "epsilon_gamma_box"
        LRP composite of the feature extractor.
    """

    def __init__(
        self, features: nn.Module, head: DeepClusterHead | DeepOutlierHead, pool: str = "sum", base: Any = "epsilon_gamma_box"
    ) -> None:
        super().__init__()
        if pool not in ("sum", "none"):
            raise ValueError(f"pool must be 'sum' or 'none', got {pool!r}")
        self.features = features
        self.head = head
        self.pool = pool
        self.base = base
        self.input_space = "the input of the feature extractor"

    @property
    def dtype(self) -> torch.dtype:
        """Floating-point type of the feature extractor's parameters."""
        for p in self.features.parameters():
            return p.dtype
        return torch.float32

    def maps(self, x: Tensor) -> Tensor:
        """The head's per-location scores, without pooling."""
        with torch.no_grad():
            return self.head(self.features(x))

    def forward(self, x: Tensor) -> Tensor:
        """Scores per input (``pool="sum"``) or per location (``pool="none"``)."""
        m = self.head(self.features(x))
        if self.pool == "none":
            return m
        if isinstance(self.head, DeepClusterHead):
            return torch.relu(m).flatten(2).sum(2) if m.ndim > 2 else torch.relu(m)
        return m.flatten(1).sum(1) if m.ndim > 1 else m

    def composite(self, rule: str | None = None, base: Any = None) -> NeonComposite:
        """NEON composite with ``base`` (default :attr:`base`) for the feature extractor."""
        return neon_composite(rule=rule or self.default_rule, base=base if base is not None else self.base)


def on_features(features: nn.Module, model: NeuralizedKMeans | KDEOutlierness, pool: str = "sum", base: Any = "epsilon_gamma_box") -> OnFeatures:
    """Put a neuralized model fitted on activations on top of the feature extractor.

    Parameters
    ----------
    features : torch.nn.Module
        Maps inputs to activations ``(N, C, *S)``; each location's ``C``-vector is one
        data point of ``model``.
    model : NeuralizedKMeans or KDEOutlierness
        A neuralized k-means (cluster evidence) or KDE / one-class SVM (outlierness)
        fitted on such vectors.
    pool : {"sum", "none"}, default "sum"
        See :class:`OnFeatures`.
    base : str or Composite, default "epsilon_gamma_box"
        LRP composite of the feature extractor.

    Returns
    -------
    OnFeatures

    Examples
    --------
    >>> deep = on_features(cnn_features, neuralize(kmeans))          # doctest: +SKIP
    >>> e = deep.explain(images, target=2, preprocess=False)         # doctest: +SKIP
    """
    head: DeepClusterHead | DeepOutlierHead
    if isinstance(model, NeuralizedKMeans):
        head = DeepClusterHead(model)
    elif isinstance(model, KDEOutlierness):
        head = DeepOutlierHead(model)
    else:
        raise TypeError(
            f"on_features supports NeuralizedKMeans and KDEOutlierness/OneClassSVMOutlierness heads, "
            f"got {type(model).__name__}"
        )
    return OnFeatures(features, head, pool=pool, base=base)
