"""Data log-densities to use as the likelihood regularizer of activation maximization.

``log p(x)`` favours inputs that look like data: maximizing ``log p(c|x) + log p(x)``
finds the most *typical* input of class ``c`` rather than an extreme one. Both priors
here are fitted to a data set and evaluate differentiably in torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["GaussianMixturePrior", "GaussianPrior"]


def _as_matrix(data: Tensor | np.ndarray) -> np.ndarray:
    array = data.detach().cpu().double().numpy() if isinstance(data, Tensor) else np.asarray(data, dtype=np.float64)
    if array.ndim < 2 or array.shape[0] < 2:
        raise ValueError(
            f"fit the prior on a data set of shape (M, ...) with M >= 2 samples, got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ValueError("the data contain NaN or inf; clean them before fitting a prior")
    return array.reshape(array.shape[0], -1)


class GaussianPrior:
    """A multivariate Gaussian ``N(mu, Sigma + shrinkage * I)`` fitted to data.

    Parameters
    ----------
    mean : torch.Tensor
        ``(D,)`` mean of the flattened samples.
    covariance : torch.Tensor
        ``(D, D)`` covariance (positive definite).

    Examples
    --------
    >>> import torch
    >>> prior = GaussianPrior.fit(torch.randn(100, 3))
    >>> prior(torch.zeros(2, 3)).shape
    torch.Size([2])
    """

    def __init__(self, mean: Tensor, covariance: Tensor) -> None:
        self.mean = mean.double()
        self.covariance = covariance.double()
        self._cholesky = torch.linalg.cholesky(self.covariance)
        dim = self.mean.numel()
        self._norm = -0.5 * dim * math.log(2 * math.pi) - torch.log(torch.diagonal(self._cholesky)).sum()

    @classmethod
    def fit(cls, data: Tensor | np.ndarray, shrinkage: float = 1e-3) -> GaussianPrior:
        """Fit mean and covariance of ``data`` ``(M, ...)``, adding ``shrinkage`` to the diagonal."""
        array = _as_matrix(data)
        mean = array.mean(0)
        cov = np.atleast_2d(np.cov(array, rowvar=False)) + shrinkage * np.eye(array.shape[1])
        return cls(torch.from_numpy(mean), torch.from_numpy(cov))

    def __call__(self, x: Tensor) -> Tensor:
        """``log p(x)`` per sample of a batch ``(B, ...)``, shape ``(B,)``."""
        flat = x.flatten(1)
        mean = self.mean.to(flat.device, flat.dtype)
        chol = self._cholesky.to(flat.device, flat.dtype)
        white = torch.linalg.solve_triangular(chol, (flat - mean).T, upper=False)
        return self._norm.to(flat.device, flat.dtype) - 0.5 * white.pow(2).sum(0)


class GaussianMixturePrior:
    """A Gaussian mixture (full covariances) fitted with scikit-learn.

    Parameters
    ----------
    weights : torch.Tensor
        ``(K,)`` mixture weights.
    means : torch.Tensor
        ``(K, D)`` component means.
    covariances : torch.Tensor
        ``(K, D, D)`` component covariances.
    """

    def __init__(self, weights: Tensor, means: Tensor, covariances: Tensor) -> None:
        self.components = [GaussianPrior(m, c) for m, c in zip(means, covariances)]
        self.log_weights = torch.log(weights.double())

    @classmethod
    def fit(
        cls, data: Tensor | np.ndarray, n_components: int = 3, seed: int | None = 0, reg_covar: float = 1e-3
    ) -> GaussianMixturePrior:
        """Fit a mixture of ``n_components`` Gaussians to ``data`` ``(M, ...)``."""
        from sklearn.mixture import GaussianMixture

        array = _as_matrix(data)
        gmm = GaussianMixture(n_components, covariance_type="full", reg_covar=reg_covar, random_state=seed).fit(array)
        return cls(torch.from_numpy(gmm.weights_), torch.from_numpy(gmm.means_), torch.from_numpy(gmm.covariances_))

    def __call__(self, x: Tensor) -> Tensor:
        """``log p(x)`` per sample of a batch ``(B, ...)``, shape ``(B,)``."""
        parts = torch.stack([c(x) for c in self.components], 1)
        return torch.logsumexp(parts + self.log_weights.to(parts.device, parts.dtype), 1)
