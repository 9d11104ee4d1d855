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
    outlierness.

    **Relation to scikit-learn.** The output is not the SVM's score but the transformed
    outlierness

    ``o(x) = -log(score_samples(x) / A) / gamma``, equivalently
    ``o(x) = -log((decision_function(x) + offset) / A) / gamma``,

    so ``o`` grows as the score falls (:meth:`score_samples`,
    :meth:`decision_function`, :meth:`outlierness_from_score_samples` and
    :meth:`outlierness_from_decision` map between them).

    **Training points.** A training point that is a support vector is one of the ``s_k``;
    its own term takes the pooling weight and the distance rule dissipates its
    relevance (explaining it warns). With ``leave_one_out=True`` the support vectors
    coinciding with ``x`` are left out of the pooling and the other ``alpha_k``
    renormalized: ``o(x) = -(1/gamma) log sum_{k kept} (alpha_k / A') exp(-gamma ||x -
    s_k||^2)`` with ``A' = sum_{k kept} alpha_k``, the soft minimum over the other
    support vectors, and relevance is conserved. This is the SVM's expansion without
    the point's own term (its dual coefficients rescaled to the total ``A``), not a
    refitted SVM; :meth:`score_samples` and :meth:`decision_function` then return
    ``A exp(-gamma o(x))`` and ``A exp(-gamma o(x)) - offset`` of that expansion. A
    training point that is not a support vector coincides with none and is not
    affected (removing it would not change the SVM).

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
    leave_one_out : bool, default False
        Leave the support vectors that coincide with the explained point out.
    coincidence_tol : float, default 1e-12
        Relative tolerance of coincidence (see :class:`~xaikit.neon.KDEOutlierness`).
    """

    def __init__(
        self,
        support_vectors: Any,
        dual_coef: Any,
        gamma: float,
        offset: float = 0.0,
        beta: float | str | None = "auto",
        eps: float = 1e-9,
        *,
        leave_one_out: bool = False,
        coincidence_tol: float = 1e-12,
    ) -> None:
        alpha = as_float_tensor(dual_coef, name="dual_coef").reshape(-1)
        super().__init__(
            support_vectors,
            gamma,
            weights=alpha,
            beta=beta,
            eps=eps,
            leave_one_out=leave_one_out,
            coincidence_tol=coincidence_tol,
        )
        self.total_weight = float(alpha.sum())
        self.offset = float(offset)

    def score_samples(self, x: Tensor) -> Tensor:
        """``A exp(-gamma o(x))``, equal to ``OneClassSVM.score_samples``, ``(M,)``."""
        with torch.no_grad():
            return self.total_weight * torch.exp(-self.gamma * self.forward(x))

    def decision_function(self, x: Tensor) -> Tensor:
        """``A exp(-gamma o(x)) - offset``, equal to ``OneClassSVM.decision_function``, ``(M,)``."""
        return self.score_samples(x) - self.offset

    def outlierness_from_score_samples(self, scores: Any) -> Tensor:
        """``o = -log(scores / A) / gamma`` from ``OneClassSVM.score_samples`` values (positive).

        Parameters
        ----------
        scores : array-like or torch.Tensor
            Scores, shape ``(M,)``.

        Returns
        -------
        torch.Tensor
            Outlierness, ``(M,)``.
        """
        s = as_float_tensor(scores, self.dtype, name="scores")
        return -torch.log(s / self.total_weight) / self.gamma

    def outlierness_from_decision(self, decision: Tensor) -> Tensor:
        """Map ``decision_function`` values to ``o(x)`` (they must exceed ``-offset``)."""
        return -torch.log((decision + self.offset) / self.total_weight) / self.gamma

    @property
    def log_total_weight(self) -> float:
        """``log A``."""
        return math.log(self.total_weight)
