"""The one result type returned by every explainer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class Explanation:
    """Attributions of a batch of predictions, with what was explained and how.

    Parameters
    ----------
    attribution : torch.Tensor
        Relevance of each input feature; same shape, dtype and device as the inputs.
    output : torch.Tensor
        The explained value per sample, shape ``(N,)`` (for example the logit of the
        target class, or its log-odds).
    target : torch.Tensor or None
        The explained class per sample (``(N,)`` long), or ``None`` when the target was
        an arbitrary output selection.
    method : str
        Registered name of the method that produced the attribution.
    options : dict
        The method's options, as used.
    inputs : torch.Tensor or None
        The explained inputs (a detached reference, never modified), used by plots.
    extras : dict
        Method-specific results (for example the completeness gap of integrated
        gradients, or per-layer relevances).
    feature_names : sequence of str or None
        Names of the input features for tabular data.
    """

    attribution: Tensor
    output: Tensor
    target: Tensor | None
    method: str
    options: dict[str, Any] = field(default_factory=dict)
    inputs: Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    feature_names: Sequence[str] | None = None

    def __len__(self) -> int:
        return int(self.attribution.shape[0])

    def __getitem__(self, index: int | slice | Tensor | Sequence[int]) -> Explanation:
        """Select samples, keeping the result type."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return replace(
            self,
            attribution=self.attribution[index],
            output=self.output[index],
            target=None if self.target is None else self.target[index],
            inputs=None if self.inputs is None else self.inputs[index],
        )

    @property
    def relevance_sum(self) -> Tensor:
        """Sum of the attribution over all non-batch dimensions, shape ``(N,)``."""
        return self.attribution.flatten(1).sum(1)

    @property
    def delta(self) -> Tensor:
        """``output - relevance_sum``: what the attribution does not account for.

        For LRP this is the relevance absorbed by biases and stabilizers; for
        integrated gradients or DeepLIFT (whose ``output`` is ``f(x) - f(baseline)``)
        it is the completeness gap.
        """
        return self.output - self.relevance_sum

    @property
    def relative_delta(self) -> Tensor:
        """``|delta| / |output|`` per sample (``inf`` where the output is zero)."""
        return self.delta.abs() / self.output.abs()

    def numpy(self) -> np.ndarray:
        """The attribution as a NumPy array (copied to the CPU)."""
        return self.attribution.detach().cpu().numpy()

    def to(self, device: torch.device | str) -> Explanation:
        """A copy with all tensors moved to ``device``."""
        return replace(
            self,
            attribution=self.attribution.to(device),
            output=self.output.to(device),
            target=None if self.target is None else self.target.to(device),
            inputs=None if self.inputs is None else self.inputs.to(device),
        )

    def plot(self, index: int = 0, **kwargs: Any) -> Any:
        """Draw the attribution of sample ``index`` with the picture that fits its shape.

        Images give a heatmap, tabular data a bar chart, time series a coloured curve.
        Returns the matplotlib figure; never calls ``show()``.
        """
        from xaikit.plot import plot_explanation

        return plot_explanation(self, index=index, **kwargs)
