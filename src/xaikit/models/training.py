"""Deterministic training of small classifiers, leaving the global random state unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xaikit.utils.progress_bars import progress as progress_bar

__all__ = ["fit_classifier"]

_M = TypeVar("_M", bound=nn.Module)


def fit_classifier(
    factory: Callable[[], _M],
    inputs: Tensor,
    labels: Tensor,
    *,
    seed: int = 0,
    epochs: int = 20,
    lr: float = 3e-3,
    batch_size: int = 32,
    progress: bool = False,
    desc: str = "training",
) -> _M:
    """Train ``factory()`` with Adam, a cosine schedule and cross-entropy; return it in eval mode.

    The initialisation (and dropout) draw from the global torch generator inside
    ``torch.random.fork_rng``, which restores it afterwards; shuffling uses a local
    generator. The result is deterministic given ``seed``.

    Parameters
    ----------
    factory : callable
        Builds the untrained model.
    inputs, labels : torch.Tensor
        Training samples ``(N, ...)`` and class indices ``(N,)``.
    seed : int
        Seed of the initialisation and the shuffling.
    epochs, lr, batch_size : int, float, int
        The recipe.
    progress : bool
        Show a bar over epochs.
    desc : str
        The bar's label.

    Returns
    -------
    torch.nn.Module
        The trained model, in eval mode.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        model = factory()
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        count = inputs.shape[0]
        model.train()
        for _ in progress_bar(range(epochs), desc=desc, enabled=progress):
            order = torch.randperm(count, generator=generator)
            for start in range(0, count, batch_size):
                batch = order[start : start + batch_size]
                optimizer.zero_grad(set_to_none=True)
                F.cross_entropy(model(inputs[batch]), labels[batch]).backward()
                optimizer.step()
            schedule.step()
    return model.eval()
