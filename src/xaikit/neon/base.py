"""The base class of neuralized models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from xaikit.core.explanation import Explanation
from xaikit.core.targets import TargetLike
from xaikit.neon.composite import NeonComposite, neon_composite

__all__ = ["Neuralized", "as_float_tensor"]


def as_float_tensor(values: Any, dtype: torch.dtype = torch.float64, name: str = "array") -> Tensor:
    """A detached floating-point copy of an array-like (never a view of the caller's data).

    Raises
    ------
    ValueError
        If the values contain NaN or inf.
    """
    if isinstance(values, Tensor):
        out = values.detach().to(dtype=dtype).clone()
    else:
        out = torch.as_tensor(np.array(values, dtype=np.float64, copy=True)).to(dtype)
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"{name} contains NaN or inf")
    return out


class Neuralized(nn.Module):
    """A fitted unsupervised model rewritten as a network of NEON layers.

    Subclasses set :attr:`default_rule` and build their layers; the forward pass returns
    an explainable score of the model, an exact function of the estimator's own scores
    (each subclass documents the mapping, e.g. KDE outlierness
    ``-(score_samples - log_normalizer) / gamma``). Explain it like any network::

        xaikit.explain(neuralized, x, target, method="lrp", composite=neuralized.composite())

    or with the shortcut :meth:`explain`.

    Attributes
    ----------
    preprocessor : object or None
        The fitted scikit-learn steps before the model when it came from a
        :class:`~sklearn.pipeline.Pipeline`; explanations are in their output space.
    input_space : str
        A description of the space in which the model takes (and explains) its input.
    feature_names : tuple of str or None
        Names of the input features of that space, when known.
    """

    default_rule: str = "wsquare"

    def __init__(self) -> None:
        super().__init__()
        self.preprocessor: Any = None
        self.input_space: str = "the estimator's input features"
        self.feature_names: tuple[str, ...] | None = None

    @property
    def dtype(self) -> torch.dtype:
        """Floating-point type of the parameters (float64 unless converted)."""
        for buffer in self.buffers():
            if buffer.dtype.is_floating_point:
                return buffer.dtype
        return torch.float64

    def _cast(self, x: Tensor) -> Tensor:
        return x if x.dtype == self.dtype else x.to(self.dtype)

    def set_input_space(
        self, preprocessor: Any, input_space: str, feature_names: Sequence[str] | None
    ) -> None:
        """Record where the model's input comes from (used by :func:`xaikit.neon.neuralize`)."""
        self.preprocessor = preprocessor
        self.input_space = input_space
        self.feature_names = None if feature_names is None else tuple(str(f) for f in feature_names)

    def transform(self, X: Any) -> Tensor:
        """Map raw data into the model's input space, as a tensor of the model's dtype.

        Applies :attr:`preprocessor` (the pipeline steps before the model) if any.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Data of shape ``(N, d_raw)``.

        Returns
        -------
        torch.Tensor
            Shape ``(N, d)``.
        """
        if self.preprocessor is not None:
            raw = X.detach().cpu().numpy() if isinstance(X, Tensor) else X
            X = self.preprocessor.transform(raw)
        return as_float_tensor(X, self.dtype, name="X")

    def composite(self, rule: str | None = None, base: Any = None) -> NeonComposite:
        """The NEON composite for this model.

        Parameters
        ----------
        rule : {"wsquare", "midpoint"}, optional
            Rule of the difference layers (default :attr:`default_rule`).
        base : str or Composite, optional
            Rules of other layers (a feature extractor below a neuralized head).

        Returns
        -------
        NeonComposite
        """
        return neon_composite(rule=rule or self.default_rule, base=base)

    def explanation_composite(self, **options: Any) -> NeonComposite:
        """The composite LRP uses on this model when none is given (its NEON composite).

        ``options`` are those of :meth:`composite` (``rule``, ``base``).
        """
        return self.composite(**options)

    def explain(
        self,
        X: Any,
        target: TargetLike = None,
        *,
        rule: str | None = None,
        preprocess: bool = True,
        base: Any = None,
    ) -> Explanation:
        """Explain the model's score on ``X`` with NEON (LRP on the neuralized network).

        Parameters
        ----------
        X : array-like or torch.Tensor
            Points, shape ``(N, d_raw)``; mapped by :meth:`transform` when
            ``preprocess`` is true.
        target : int, tensor, callable or None
            What to explain; for clustering models the assigned cluster by default,
            any cluster on request; for one-output models the score itself.
        rule : {"wsquare", "midpoint"}, optional
            Rule of the difference layers.
        preprocess : bool, default True
            Apply :meth:`transform` first (set to false for data already in the
            model's input space).
        base : str or Composite, optional
            Rules of layers that are not neuralized.

        Returns
        -------
        Explanation
            ``attribution`` in the model's input space (see :attr:`input_space`).
        """
        from xaikit.lrp.explainer import LRP

        x = self.transform(X) if preprocess else X
        return LRP(composite=self.composite(rule, base))(self, x, target, feature_names=self.feature_names)
