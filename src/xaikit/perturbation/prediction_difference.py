"""Prediction difference analysis (Zintgraf, Cohen, Adel and Welling, ICLR 2017).

Occlusion's question, asked with a model of the data: how much does the class's evidence
change when a window of pixels is *unknown*, that is replaced by plausible values and
averaged over them? The relevance of a pixel is the mean change over the windows that
contain it, in weight of evidence,

    WE = log2 odds p(c | x) - log2 odds p(c | x without the window),

with ``p(c | x without w) = E_{x_w ~ p(x_w | ...)} p(c | x)``. *Marginal* sampling draws
the window from training images at the same place (a background set, the output averaged
over it); *conditional* sampling (CPDA) draws it from a Gaussian of the window given the
frame of pixels around it (:class:`~xaikit.perturbation.conditional.ConditionalGaussian`).
With ``evidence="output"`` the differences are of the raw explained output instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from xaikit.core.base import Attribution, Model
from xaikit.core.registry import register_method
from xaikit.core.targets import Target
from xaikit.perturbation.baseline import Background
from xaikit.perturbation.conditional import ConditionalGaussian
from xaikit.perturbation.occlusion import Occlusion
from xaikit.utils.errors import InputError

__all__ = ["PredictionDifference"]

SAMPLINGS = ("marginal", "conditional")
EVIDENCE = ("log_odds", "output")
#: Probabilities are clipped to ``[TINY, 1 - TINY]`` before the log-odds (the paper's Laplace correction
#: plays this role for a finite number of classes).
TINY = 1e-12


class _Probabilities(nn.Module):
    """The model's softmax probabilities, for the weight of evidence."""

    def __init__(self, model: Model) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.model(x).softmax(1)
        return out


def _log2_odds(p: Tensor) -> Tensor:
    p = p.clamp(TINY, 1 - TINY)
    return torch.log2(p) - torch.log2(1 - p)


@register_method("prediction_difference", aliases=("pda", "prediction_difference_analysis", "cpda"))
class PredictionDifference(Occlusion):
    """Prediction difference analysis (Zintgraf et al., 2017), marginal or conditional (CPDA).

    Parameters
    ----------
    data : torch.Tensor
        Training samples ``(M, ...)`` (the marginal's rows, or the conditional Gaussian's data).
    sampling : {"conditional", "marginal"}
        Draw windows from a Gaussian conditional on the surrounding frame (CPDA, default) or
        from training images at the same place.
    window : int or sequence of int
        The sliding window (the paper's ``k``), over the spatial dimensions.
    samples : int
        Draws per window (the paper's 10); marginal sampling uses the first ``samples`` rows
        of ``data``.
    padding : int
        The conditional frame's width (the paper's ``l``).
    evidence : {"log_odds", "output"}
        Weight of evidence of the class probability (the paper), or the raw output.
    batch_size, progress
        As in :class:`~xaikit.perturbation.Occlusion`.
    """

    def __init__(self, data: Tensor, sampling: str = "conditional", window: int | Sequence[int] = 4,
                 samples: int = 10, padding: int = 2, evidence: str = "log_odds", batch_size: int | None = None,
                 progress: bool | None = None) -> None:
        if sampling not in SAMPLINGS:
            raise InputError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
        if evidence not in EVIDENCE:
            raise InputError(f"evidence must be one of {EVIDENCE}, got {evidence!r}")
        if not isinstance(data, Tensor) or len(data) < 2:
            raise InputError("prediction difference analysis needs training samples data=(M, ...) with M >= 2")
        if not isinstance(samples, int) or samples < 1:
            raise InputError(f"samples must be a positive integer, got {samples!r}")
        baseline = (Background(data[:samples]) if sampling == "marginal"
                    else ConditionalGaussian(data, samples=samples, padding=padding))
        super().__init__(patch=window, stride=1, baseline=baseline, batch_size=batch_size, progress=progress)
        self.data, self.sampling, self.window, self.samples = data, sampling, window, samples
        self.padding, self.evidence = padding, evidence

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        if inputs.ndim < 3:
            raise InputError("prediction difference analysis slides windows over series or images; "
                             f"got inputs of shape {tuple(inputs.shape)}")
        if self.evidence == "output":
            return super().attribute(model, inputs, target)
        return super().attribute(_Probabilities(model), inputs, target)

    def _differences(self, value: Tensor, masked: Tensor) -> Tensor:
        if self.evidence == "output":
            return value - masked
        return _log2_odds(value.double()) - _log2_odds(masked.double())
