"""The base of the gradient explainers that draw random samples (noise, references, points on paths)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from xaikit.core.base import Explainer
from xaikit.utils.options import check_batch_size

__all__ = ["SampledExplainer"]


@dataclass(eq=False, repr=False)
class SampledExplainer(Explainer):
    """A dataclass declaring the keyword-only options every sampling gradient method takes.

    ``seed`` (int, torch Generator, or ``None`` for fresh entropy, not reproducible) seeds
    the draws; ``batch_size`` (``None``: all at once) bounds the points per
    forward/backward pass; ``progress`` shows a progress bar (``None``: the package
    default). Subclasses declare their own options as fields and check them in
    ``__post_init__`` after calling this one.
    """

    seed: int | torch.Generator | None = field(default=0, kw_only=True)
    batch_size: int | None = field(default=64, kw_only=True)
    progress: bool | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        self.batch_size = check_batch_size(self.batch_size)
