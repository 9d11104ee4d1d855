"""The metrics :func:`xaikit.evaluate.evaluate` can run, by name, and what each one sees.

A metric is a function of one :class:`Context` (the model, the inputs, the resolved
target, one method's attribution, the metric's options) returning :class:`Scores` (or
a number, or one number per sample). One decorator line registers it::

    @register_metric("my_metric", options=("k",))
    def my_metric(ctx: Context) -> Scores: ...

``options`` declares the options the metric takes (as names, or as the functions whose
keyword parameters they are); :func:`evaluate` refuses unknown ones before running
anything, with the list of valid ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor

from xaikit.core.base import Model
from xaikit.core.targets import ResolvedTarget, Target
from xaikit.evaluate._common import as_fixed_target
from xaikit.evaluate.specs import MethodSpec
from xaikit.utils.registry import Registry

#: Parameters a metric's functions receive from the :class:`Context`, not from options.
CONTEXT_PARAMETERS = frozenset(
    {"model", "x", "attribution", "target", "method", "method_options", "masks", "explanation", "self"}
)


@dataclass
class Context:
    """What every metric of one :func:`~xaikit.evaluate.evaluate` call sees."""

    model: Model
    x: Tensor
    target: ResolvedTarget
    spec: MethodSpec
    attribution: Tensor
    masks: Any
    options: Mapping[str, Any]
    seed: int
    batch_size: int | None
    progress: bool | None
    cache: dict[Any, Any]

    @property
    def fixed_target(self) -> Target:
        """The resolved target as a :class:`Target` meaning the same classes for every model."""
        return as_fixed_target(self.target)


@dataclass
class Scores:
    """Rows and raw results produced by one metric for one method."""

    rows: list[tuple[str, str, int | None, float]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def add(self, score: str, values: Any, detail: str = "") -> None:
        """Add one row per sample (an array) or one aggregate row (a number)."""
        array = np.asarray(values, dtype=np.float64)
        if array.ndim == 0:
            self.rows.append((score, detail, None, float(array)))
        else:
            self.rows.extend((score, detail, i, float(v)) for i, v in enumerate(array))


Metric = Callable[[Context], Any]


@dataclass(frozen=True)
class MetricEntry:
    """A registered metric: its function and the options it accepts (``None``: any)."""

    name: str
    run: Metric
    options: tuple[str, ...] | None

    def scores(self, ctx: Context) -> Scores:
        """Run the metric; a number or an array becomes one score named after the metric."""
        result = self.run(ctx)
        if isinstance(result, Scores):
            return result
        out = Scores()
        out.add(self.name, result)
        return out


_METRICS: Registry[MetricEntry] = Registry("metric")


def _option_names(options: Iterable[str | Callable[..., Any]] | None) -> tuple[str, ...] | None:
    if options is None:
        return None
    names: list[str] = []
    for item in options:
        if isinstance(item, str):
            names.append(item)
            continue
        for p in inspect.signature(item).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in CONTEXT_PARAMETERS:
                names.append(p.name)
    return tuple(dict.fromkeys(names))


def register_metric(
    name: str, *, options: Iterable[str | Callable[..., Any]] | None = ()
) -> Callable[[Metric], Metric]:
    """Register ``metric(ctx)`` under ``name`` for :func:`~xaikit.evaluate.evaluate`.

    Parameters
    ----------
    name : str
        The name used in ``evaluate(..., metrics=[name])``.
    options : iterable of str or callables, optional
        The option names the metric accepts, or functions whose keyword parameters (other
        than the context's: model, x, attribution, target, method, ...) are its options;
        ``None`` accepts any option. Default: none.
    """

    return _METRICS.decorator(
        name, lambda metric: MetricEntry(name, metric, _option_names(options)), lambda entry: entry.run
    )


def unregister_metric(name: str) -> None:
    """Remove the metric ``name`` (``KeyError`` if it is not registered)."""
    _METRICS.remove(name)


def metric_names() -> list[str]:
    """Names of the registered metrics, in registration order."""
    return _METRICS.names()


def get_metric(name: str) -> MetricEntry:
    """The registered metric ``name``; ``ValueError`` listing the metrics otherwise."""
    return _METRICS.get(name)


class _MetricView(Mapping[str, Metric]):
    """The registered metric functions by name (a live, read-only view)."""

    def __getitem__(self, key: str) -> Metric:
        if key not in _METRICS:
            raise KeyError(key)
        return _METRICS.get(key).run

    def __iter__(self) -> Iterator[str]:
        return iter(_METRICS)

    def __len__(self) -> int:
        return len(_METRICS)

    def __repr__(self) -> str:
        return f"METRICS({_METRICS.names()})"


#: The registered metric functions by name (a live view, for reading).
METRICS: Mapping[str, Metric] = _MetricView()
