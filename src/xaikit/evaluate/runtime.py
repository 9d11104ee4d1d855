"""Runtime: explanations per second of each method on a given model and batch."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from xaikit.core.base import Model
from xaikit.core.targets import TargetLike
from xaikit.core.validation import preserved_model_state
from xaikit.evaluate._common import (
    as_explain_fn,
    explain_batched,
    prepare_inputs,
    resolve_target,
)
from xaikit.evaluate.specs import MethodsLike, method_specs

if TYPE_CHECKING:
    import pandas as pd


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def explanation_rate(
    model: Model,
    x: Tensor,
    methods: MethodsLike,
    target: TargetLike = None,
    *,
    repeats: int = 5,
    warmup: int = 1,
    batch_size: int | None = None,
) -> pd.DataFrame:
    """Measure explanations per second of each method on ``model`` and the batch ``x``.

    Parameters
    ----------
    model : torch.nn.Module or callable
        The model, on its device, in eval mode.
    x : torch.Tensor
        The batch that is explained (moved to the model's device).
    methods : mapping or list
        Methods by label (see :func:`xaikit.evaluate.evaluate` for the accepted forms).
    target : int, tensor, callable, Target or None
        What to explain.
    repeats : int
        Timed runs; the median is reported.
    warmup : int
        Untimed runs first.
    batch_size : int, optional
        Inputs explained per call.

    Returns
    -------
    pandas.DataFrame
        One row per method: ``method``, ``explanations_per_second`` (median),
        ``seconds`` (median time for the batch), ``n`` (batch size), ``repeats``.
    """
    import pandas as pd

    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    xs = prepare_inputs(model, x)
    rows = []
    with preserved_model_state(model):
        rt = resolve_target(model, xs, target, batch_size)
        for spec in method_specs(methods):
            explain = as_explain_fn(spec.method, spec.options)
            for _ in range(warmup):
                explain_batched(explain, model, xs, rt, batch_size)
            _sync(xs.device)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                explain_batched(explain, model, xs, rt, batch_size)
                _sync(xs.device)
                times.append(time.perf_counter() - start)
            seconds = statistics.median(times)
            rows.append(
                {
                    "method": spec.label,
                    "explanations_per_second": len(xs) / seconds,
                    "seconds": seconds,
                    "n": len(xs),
                    "repeats": repeats,
                }
            )
    return pd.DataFrame(rows)
