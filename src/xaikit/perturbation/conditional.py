"""Conditional sampling of removed pixels from a Gaussian fitted on training data (Zintgraf,
Cohen, Adel and Welling, ICLR 2017: prediction difference analysis).

For a removed window the pixels around it (a frame of ``padding`` pixels) are what the
sample still shows; the window's values are drawn from the Gaussian of the window given
the frame, fitted on the training data over the window and its frame together:
``x_w | x_o ~ N(mu_w + S_wo S_oo^-1 (x_o - mu_o), S_ww - S_wo S_oo^-1 S_ow)``. The model
output is then averaged over the draws (an expectation over ``samples`` rows). The fitted
conditional of each window shape and place is cached, so a sliding window pays the fit
once per position for the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from xaikit.perturbation.removal import Removal
from xaikit.utils.errors import InputError

__all__ = ["ConditionalGaussian"]

#: Added to the covariance's diagonal, in units of its mean variance (keeps the solve stable).
RIDGE = 1e-6


@dataclass(frozen=True, eq=False)
class ConditionalGaussian(Removal):
    """Replace removed pixels by draws from their Gaussian conditional on the surrounding frame.

    Parameters
    ----------
    data : torch.Tensor
        Training samples ``(M, C, H, W)`` (or series ``(M, C, T)``), the Gaussian's data.
    samples : int
        Draws per removed window (model evaluations averaged).
    padding : int
        Width of the frame around the removed pixels that they are conditioned on.

    Notes
    -----
    The removed pixels of one masked copy are treated as one window: the frame is the
    removed set dilated by ``padding`` pixels, all channels. Draws use the generator the
    masking engine passes (local randomness).
    """

    depends_on_mask: ClassVar[bool] = True
    data: Tensor
    samples: int = 10
    padding: int = 2
    _cache: dict[bytes, tuple[Tensor, Tensor, Tensor, Tensor, Tensor]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.data, Tensor) or self.data.ndim not in (3, 4) or len(self.data) < 2:
            raise InputError("conditional sampling needs training data (M, C, T) or (M, C, H, W) with M >= 2 samples")
        if not isinstance(self.samples, int) or self.samples < 1:
            raise InputError(f"samples must be a positive integer, got {self.samples!r}")
        if not isinstance(self.padding, int) or self.padding < 1:
            raise InputError(f"padding must be a positive integer, got {self.padding!r}")

    @property
    def expectation(self) -> bool:
        """The output is averaged over the draws."""
        return True

    @property
    def rows(self) -> int:
        """Draws per masked input."""
        return self.samples

    def _frame(self, removed: Tensor) -> Tensor:
        """The pixels within ``padding`` of a removed one, ``removed``'s shape (any channel counts)."""
        spatial = removed.any(0, keepdim=True).to(torch.float64)[None]
        size = 2 * self.padding + 1
        if spatial.ndim == 3:
            grown = F.max_pool1d(spatial, size, stride=1, padding=self.padding)
        else:
            grown = F.max_pool2d(spatial, size, stride=1, padding=self.padding)
        return grown[0].bool().expand_as(removed)

    def _conditional(self, removed: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """``(window index, outer index, mean_w, gain, cholesky)`` of one removed set (cached)."""
        key = removed.cpu().numpy().tobytes()
        if key in self._cache:
            return self._cache[key]
        frame = self._frame(removed)
        window = torch.nonzero(removed.flatten()).squeeze(1)
        outer = torch.nonzero((frame & ~removed).flatten()).squeeze(1)
        rows = self.data.detach().to(torch.float64).flatten(1)
        values = rows[:, torch.cat([window, outer])]
        mean = values.mean(0)
        centred = values - mean
        covariance = centred.T @ centred / (len(rows) - 1)
        covariance += RIDGE * covariance.diagonal().mean().clamp(min=1e-12) * torch.eye(len(covariance), dtype=torch.float64)
        k = len(window)
        s_ww, s_wo, s_oo = covariance[:k, :k], covariance[:k, k:], covariance[k:, k:]
        gain = torch.linalg.solve(s_oo, s_wo.T).T if len(outer) else torch.zeros(k, 0, dtype=torch.float64)
        conditional = s_ww - gain @ s_wo.T
        cholesky = torch.linalg.cholesky(conditional + RIDGE * conditional.diagonal().mean().clamp(min=1e-12)
                                         * torch.eye(k, dtype=torch.float64))
        found = (window, outer, mean, gain, cholesky)
        self._cache[key] = found
        return found

    def fill(self, x: Tensor, mask: Tensor, generator: torch.Generator) -> Tensor:
        """``(B, samples, ...)`` copies of each input with its removed pixels drawn conditionally."""
        if x.ndim not in (3, 4) or tuple(x.shape[1:]) != tuple(self.data.shape[1:]):
            raise InputError(f"the inputs {tuple(x.shape)} do not match the training data "
                             f"{tuple(self.data.shape)} of the conditional sampler")
        out = x.detach().to(torch.float64)[:, None].repeat(1, self.samples, *([1] * (x.ndim - 1)))
        flat = out.flatten(2)
        for b in range(len(x)):
            removed = mask[b].cpu()
            if not bool(removed.any()):
                continue
            window, outer, mean, gain, cholesky = self._conditional(removed)
            k = len(window)
            observed = x[b].detach().to("cpu", torch.float64).flatten()[outer]
            centre = mean[:k] + gain @ (observed - mean[k:])
            noise = torch.randn((self.samples, k), generator=generator, dtype=torch.float64)
            flat[b][:, window.to(flat.device)] = (centre + noise @ cholesky.T).to(flat.device)
        return out.to(x.dtype)
