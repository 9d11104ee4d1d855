"""Neuralized one-class SVM (RBF kernel): outlierness as weighted log-mean-exp pooling."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from xaikit.neon.base import as_float_tensor
from xaikit.neon.kde import KDEOutlierness

__all__ = ["OneClassSVMOutlierness"]


class OneClassSVMOutlierness(KDEOutlierness):
    """One-class SVM outlier score (Kauffmann, Müller, Montavon, 2020).

    The SVM's ``score_samples(x) = sum_k alpha_k exp(-gamma ||x - s_k||^2)`` over the
    support vectors ``s_k`` becomes ``A exp(-gamma o(x))`` with ``A = sum_k alpha_k`` and
    the outlierness

    ``o(x) = -(1/gamma) log sum_k (alpha_k / A) exp(-gamma ||x - s_k||^2)``,

    a distance layer followed by a weighted log-mean-exp pooling, explained like KDE
    outlierness. ``decision_function(x) = A exp(-gamma o(x)) - offset`` (positive for
    inliers), so ``o`` grows as the decision function falls.

    Parameters
    ----------
    support_vectors : array-like
        Shape ``(K, d)``.
    dual_coef : array-like
        ``alpha_k >= 0``, shape ``(K,)`` (scikit-learn's ``dual_coef_[0]``).
    gamma : float
        RBF kernel parameter.
    offset : float, default 0.0
        scikit-learn's ``offset_`` (``rho``), used by :meth:`decision_function`.
    beta : float, "auto" or None, default "auto"
        Soft-argmin sharpness (``"auto"``: ``gamma``; ``None``: nearest support vector).
    eps : float, default 1e-9
        Stabilizer of the distance rule.
    """

    def __init__(
        self,
        support_vectors: Any,
        dual_coef: Any,
        gamma: float,
        offset: float = 0.0,
        beta: float | str | None = "auto",
        eps: float = 1e-9,
    ) -> None:
        alpha = as_float_tensor(dual_coef, name="dual_coef").reshape(-1)
        super().__init__(support_vectors, gamma, weights=alpha, beta=beta, eps=eps)
        self.total_weight = float(alpha.sum())
        self.offset = float(offset)

    def decision_function(self, x: Tensor) -> Tensor:
        """``A exp(-gamma o(x)) - offset``, equal to ``OneClassSVM.decision_function``, ``(N,)``."""
        with torch.no_grad():
            return self.total_weight * torch.exp(-self.gamma * self.forward(x)) - self.offset

    def outlierness_from_decision(self, decision: Tensor) -> Tensor:
        """Map ``decision_function`` values to ``o(x)`` (they must exceed ``-offset``)."""
        return -torch.log((decision + self.offset) / self.total_weight) / self.gamma

    @property
    def log_total_weight(self) -> float:
        """``log A``."""
        return math.log(self.total_weight)
