"""The layers of neuralized models, as ``torch.nn`` modules.

Parametric linear layers (:class:`DifferenceLayer`, :class:`RandomFeatureMap`) call
``F.linear``, so the propagation engine gives them the composite's rule (see
:func:`xaikit.neon.neon_composite`: w-square or midpoint). The other layers call the
explainable primitives of :mod:`xaikit.neon.functional`, which carry their own rule.
All parameters are buffers (nothing is trained) stored in float64 by default.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xaikit.neon.functional import (
    PoolSpec,
    cosine_features,
    gaussian_kernels,
    soft_pool,
    squared_distances,
    weighted_sum,
)

__all__ = [
    "CosineFeatures",
    "DifferenceLayer",
    "GaussianKernelLayer",
    "RandomFeatureMap",
    "SoftPool",
    "SquaredDistanceLayer",
    "WeightedSum",
]


class DifferenceLayer(nn.Module):
    """Linear layer ``h = W x + b`` with one root point per output, reshaped on output.

    The k-means and kernel k-means layers: each output ``h_k = w_k^T x + b_k`` is a
    difference of squared distances to two points ``p``, ``q`` (``w_k = 2 (p - q)``,
    ``b_k = ||q||^2 - ||p||^2``, plus any constant), and ``roots[k]`` is the point of
    ``{h_k = 0}`` nearest to their midpoint, used by the midpoint rule.

    Parameters
    ----------
    weight : torch.Tensor
        Shape ``(M, d)``.
    bias : torch.Tensor
        Shape ``(M,)``.
    roots : torch.Tensor
        Shape ``(M, d)``, with ``W roots + b = 0`` row-wise.
    shape : tuple of int
        Output shape per sample (its product is ``M``).
    """

    weight: Tensor
    bias: Tensor
    roots: Tensor

    def __init__(self, weight: Tensor, bias: Tensor, roots: Tensor, shape: tuple[int, ...]) -> None:
        super().__init__()
        if weight.ndim != 2 or bias.shape != weight.shape[:1] or roots.shape != weight.shape:
            raise ValueError(
                f"inconsistent shapes: weight {tuple(weight.shape)}, bias {tuple(bias.shape)}, "
                f"roots {tuple(roots.shape)}"
            )
        if math.prod(shape) != weight.shape[0]:
            raise ValueError(f"output shape {shape} does not hold {weight.shape[0]} outputs")
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.register_buffer("roots", roots)
        self.shape = tuple(shape)

    @classmethod
    def from_pairs(cls, first: Tensor, second: Tensor, offset: Tensor | None, shape: tuple[int, ...]) -> DifferenceLayer:
        """The layer ``h_k = ||x - second_k||^2 - ||x - first_k||^2 + offset_k``.

        Parameters
        ----------
        first, second : torch.Tensor
            Shape ``(M, d)``: ``x`` closer to ``first_k`` than to ``second_k`` gives
            ``h_k > offset_k``.
        offset : torch.Tensor, optional
            Constant per output, shape ``(M,)``.
        shape : tuple of int
            Output shape per sample.

        Returns
        -------
        DifferenceLayer
        """
        weight = 2.0 * (first - second)
        bias = (second * second).sum(-1) - (first * first).sum(-1)
        if offset is not None:
            bias = bias + offset
        mid = 0.5 * (first + second)
        norm2 = (weight * weight).sum(-1)
        shift = ((weight * mid).sum(-1) + bias) / torch.where(norm2 > 0, norm2, torch.ones_like(norm2))
        roots = mid - shift[:, None] * weight
        return cls(weight, bias, roots, shape)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, d) -> (N, *shape)``."""
        return F.linear(x, self.weight, self.bias).view(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"in_features={self.weight.shape[1]}, shape={self.shape}"


class _SupportLayer(nn.Module):
    """Compares each point with the support points ``u_k``: ``(N, d) -> (N, K)``.

    A subclass names its scalar parameter in :attr:`parameter` (stored as that attribute)
    and the explainable function of ``(x, support, value)`` in :meth:`compare`.
    """

    support: Tensor
    parameter: ClassVar[str]

    def __init__(self, support: Tensor, value: float) -> None:
        super().__init__()
        self.register_buffer("support", support)
        setattr(self, self.parameter, float(value))

    def compare(self, x: Tensor, value: float) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """``(N, d) -> (N, K)``."""
        return self.compare(x, getattr(self, self.parameter))

    def extra_repr(self) -> str:
        return f"support={tuple(self.support.shape)}, {self.parameter}={getattr(self, self.parameter):g}"


class SquaredDistanceLayer(_SupportLayer):
    """``h_k = ||x - u_k||^2`` with the distance rule ``R_i = sum_k (x_i - u_ik)^2 / (eps + h_k) R_k``.

    Parameters
    ----------
    support : torch.Tensor
        Support points, shape ``(K, d)``.
    eps : float, default 1e-9
        Stabilizer; the share ``eps / (eps + h_k)`` of ``R_k`` is dissipated.
    """

    parameter = "eps"
    eps: float

    def __init__(self, support: Tensor, eps: float = 1e-9) -> None:
        if eps < 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        super().__init__(support, eps)

    def compare(self, x: Tensor, value: float) -> Tensor:
        return squared_distances(x, self.support, value)


class GaussianKernelLayer(_SupportLayer):
    """``h_k = exp(-gamma ||x - u_k||^2)`` with uniform redistribution over the features.

    Parameters
    ----------
    support : torch.Tensor
        Support points, shape ``(K, d)``.
    gamma : float
        Kernel parameter.
    """

    parameter = "gamma"
    gamma: float

    def compare(self, x: Tensor, value: float) -> Tensor:
        return gaussian_kernels(x, self.support, value)


class SoftPool(nn.Module):
    """Min/max pooling (hard or log-sum-exp) with soft-argmin/argmax redistribution.

    Parameters
    ----------
    spec : PoolSpec
        Mode, value temperature, redistribution sharpness and dimension.
    log_weights : torch.Tensor, optional
        Normalized log weights (``-inf`` masks), broadcastable to the input.
    exclude : torch.Tensor, optional
        Coincidence thresholds broadcastable to the input: entries at or below them
        belong to a support point that coincides with the pooled point.
    leave_out : bool, default False
        Leave those entries out (the other weights renormalized); when false they are
        kept and explaining warns (:class:`~xaikit.neon.functional.CoincidentSupportWarning`).
        See :func:`~xaikit.neon.functional.soft_pool`.
    """

    log_weights: Tensor | None
    exclude: Tensor | None

    def __init__(
        self,
        spec: PoolSpec,
        log_weights: Tensor | None = None,
        exclude: Tensor | None = None,
        leave_out: bool = False,
    ) -> None:
        super().__init__()
        if spec.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {spec.mode!r}")
        for name in ("temperature", "beta"):
            value = getattr(spec, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, got {value}")
        self.spec = spec
        self.register_buffer("log_weights", log_weights)
        self.register_buffer("exclude", exclude)
        self.leave_out = bool(leave_out)

    def forward(self, h: Tensor) -> Tensor:
        """Pool ``h`` along ``spec.dim``."""
        return soft_pool(h, self.spec, self.log_weights, self.exclude, self.leave_out)

    def extra_repr(self) -> str:
        s = self.spec
        out = f"mode={s.mode!r}, temperature={s.temperature}, beta={s.beta}, dim={s.dim}"
        return out + (f", leave_out={self.leave_out}" if self.exclude is not None else "")


class RandomFeatureMap(nn.Module):
    """The phases ``z_j = omega_j^T x + b_j`` of random Fourier features (a linear layer).

    Parameters
    ----------
    omega : torch.Tensor
        Frequencies, shape ``(H, d)``.
    phase : torch.Tensor
        Phases ``b_j``, shape ``(H,)``.
    """

    omega: Tensor
    phase: Tensor

    def __init__(self, omega: Tensor, phase: Tensor) -> None:
        super().__init__()
        if omega.ndim != 2 or phase.shape != omega.shape[:1]:
            raise ValueError(f"omega {tuple(omega.shape)} and phase {tuple(phase.shape)} do not match")
        self.register_buffer("omega", omega)
        self.register_buffer("phase", phase)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, d) -> (N, H)``."""
        return F.linear(x, self.omega, self.phase)

    def extra_repr(self) -> str:
        return f"in_features={self.omega.shape[1]}, n_features={self.omega.shape[0]}"


class CosineFeatures(nn.Module):
    """``h_j = sqrt(2) cos(z_j) mu_j`` (relevance passes through unchanged).

    Parameters
    ----------
    mu : torch.Tensor
        Mean feature of the data, shape ``(H,)``.
    """

    mu: Tensor

    def __init__(self, mu: Tensor) -> None:
        super().__init__()
        self.register_buffer("mu", mu)

    def forward(self, z: Tensor) -> Tensor:
        """``(N, H) -> (N, H)``."""
        return cosine_features(z, self.mu)


class WeightedSum(nn.Module):
    """``s = sum_k w_k h_k`` over the last dimension, relevance in proportion to the summands.

    Parameters
    ----------
    weights : torch.Tensor
        Shape ``(K,)``.
    """

    weights: Tensor

    def __init__(self, weights: Tensor) -> None:
        super().__init__()
        self.register_buffer("weights", weights)

    def forward(self, h: Tensor) -> Tensor:
        """``(..., K) -> (...)``."""
        return weighted_sum(h, self.weights)
