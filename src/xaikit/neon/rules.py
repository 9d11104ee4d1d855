"""The midpoint rule for the difference layers of neuralized clustering models."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from xaikit.engine import LayerRule, LinearOp, relevance_ratio, stabilize, times_input

__all__ = ["Midpoint"]


@dataclass(frozen=True)
class Midpoint(LayerRule):
    """``R_i = sum_k w_ik (x_i - m_ik) / h_k R_k`` with ``m_k`` a root point of ``h_k``.

    For k-means ``m_k = (mu_c + mu_k) / 2`` (the midpoint between the two centroids,
    where ``h_k = 0``), so that ``h_k = w_k^T (x - m_k)`` and the rule is the first-order
    Taylor expansion of ``h_k`` at ``m_k``: a feature on which ``x`` sits at the
    midpoint gets no relevance. The root points are read from the layer's ``roots``
    attribute (:class:`xaikit.neon.DifferenceLayer`) unless given.

    Parameters
    ----------
    roots : torch.Tensor, optional
        Root points, same shape as the layer's weight ``(M, d)``.
    epsilon : float, default 0.0
        Relative stabilizer of the denominator ``h_k`` (``eps * mean_k |h_k|`` per
        sample). With ``0`` the rule conserves relevance exactly; an output with
        ``h_k = 0`` exactly passes none on.
    """

    roots: Tensor | None = None
    epsilon: float = 0.0

    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        """``sum_k w_ik (x_i - m_ik) / h_k R_k`` as a graph of ``a``."""
        roots = self.roots if self.roots is not None else getattr(op.info.module, "roots", None)
        if not isinstance(roots, Tensor) or roots.shape != op.weight.shape:
            where = type(op.info.module).__name__ if op.info.module is not None else "a function"
            raise ValueError(
                f"the midpoint rule needs root points of shape {tuple(op.weight.shape)} for the layer "
                f"in {where}; use it on xaikit.neon.DifferenceLayer (k-means layers) or pass "
                "Midpoint(roots=...)"
            )
        roots = roots.to(dtype=a.dtype, device=a.device)
        ones = torch.ones_like(a)
        u = op(times_input(a), op.weight, None) - op(times_input(a, ones, ones), op.weight * roots, None)
        return relevance_ratio(u, stabilize(u.detach(), self.epsilon, True), op.value(a))
