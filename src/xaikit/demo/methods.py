"""Which methods the demo runs on the digits, and with which options."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xaikit.core.registry import get_method, make_method, methods
from xaikit.demo.context import DemoContext, DigitsData

if TYPE_CHECKING:
    from torch import Tensor

    from xaikit.core.base import Model
    from xaikit.core.explanation import Explanation
    from xaikit.core.targets import TargetLike


@dataclass(frozen=True)
class MethodRun:
    """One explanation method with its options, as the demo runs it.

    Attributes
    ----------
    label : str
        Name in figures and tables (for example ``"LRP epsilon_plus"``).
    method : str
        Registered method name.
    options : dict
        Options passed to :func:`xaikit.explain`.
    """

    label: str
    method: str
    options: dict[str, Any] = field(default_factory=dict)

    def explain(self, model: Model, inputs: Tensor, target: TargetLike = None) -> Explanation:
        """Explain ``model`` on ``inputs`` with this run's method and options.

        The same as ``xaikit.explain(model, inputs, target, method=self.method,
        **self.options)``, made through the method registry: the demo sits below the
        package root and does not import it.

        Parameters
        ----------
        model : torch.nn.Module or callable
            The model, in eval mode.
        inputs : torch.Tensor
            The batch to explain.
        target : int, tensor, callable, Target or None
            What to explain; the predicted class by default.

        Returns
        -------
        Explanation
            The explanation of the batch.
        """
        return make_method(self.method, **self.options)(model, inputs, target)


#: The LRP composites of the literature, for inputs in [0, 1] (z^B bounds low=0, high=1).
LRP_RUNS: tuple[MethodRun, ...] = (
    MethodRun("LRP epsilon_plus", "lrp", {"composite": "epsilon_plus"}),
    MethodRun(
        "LRP epsilon_gamma_box", "lrp",
        {"composite": "epsilon_gamma_box", "composite_options": {"low": 0.0, "high": 1.0}},
    ),
    MethodRun("LRP epsilon_alpha2_beta1", "lrp", {"composite": "epsilon_alpha2_beta1"}),
)

#: Registered methods the demo does not draw as per-digit heatmaps, with the reason.
NOT_PER_INPUT: dict[str, str] = {
    "lrp": "run above with three composites",
    "activation_maximization": "a global explanation (one synthesized input per class), not a per-digit heatmap",
    "dasp": "tabular inputs and dense ReLU networks only (the digits CNN has convolutions)",
}


@dataclass(frozen=True)
class FromData:
    """An option value computed from the digits data when the run is planned."""

    make: Callable[[DigitsData], Any]


def _patches(size: int) -> FromData:
    def make(data: DigitsData) -> Any:
        from xaikit.perturbation import Patches

        return Patches(size)

    return FromData(make)


#: 64 training digits, the background set of methods that average over references.
BACKGROUND = FromData(lambda data: data.x_train[:64])


def _fitted_patterns(data: DigitsData) -> Any:
    from xaikit.gradients import fit_patterns

    return fit_patterns(data.model, data.x_train)


#: PatternNet's and PatternAttribution's signal estimators, fitted on the training digits.
PATTERNS = FromData(_fitted_patterns)
LAST_CONV = FromData(lambda data: "features.2")


#: Options that suit 1x8x8 digits, by method (values, or :class:`FromData`).
#: Perturbation methods play with 2x2 patches (16 players; exact Shapley with 3x3
#: patches, 9 players, since its cost grows as 2^players).
DIGITS_OPTIONS: dict[str, dict[str, Any]] = {
    "integrated_gradients": {"steps": 32},
    "expected_gradients": {"baselines": BACKGROUND, "samples": 32},
    "occlusion": {"patch": 2, "stride": 1},
    "shapley": {"groups": _patches(3)},
    "shapley_sampling": {"groups": _patches(2), "samples": 50},
    "kernel_shap": {"groups": _patches(2), "samples": 1000},
    "lime": {"groups": _patches(2), "samples": 1000},
    "rise": {"masks": 2000, "cells": 4},
    "prediction_difference": {"window": 2, "padding": 1},
    "meaningful_perturbation": {"cells": 4, "iterations": 150, "removal": 0.0},
    "extremal_perturbation": {"cells": 4, "area": 0.2, "iterations": 150, "removal": 0.0},
}

#: Fewer samples in ``--quick`` runs.
QUICK_OPTIONS: dict[str, dict[str, Any]] = {
    "integrated_gradients": {"steps": 16},
    "expected_gradients": {"samples": 16},
    "shapley_sampling": {"samples": 20},
    "kernel_shap": {"samples": 300},
    "lime": {"samples": 300},
    "noise_tunnel": {"samples": 10},
    "rise": {"masks": 500},
    "meaningful_perturbation": {"iterations": 60},
    "extremal_perturbation": {"iterations": 60},
}

#: Reference data for methods that accept these options and would otherwise need them.
DATA_OPTIONS: dict[str, Any] = {"baselines": BACKGROUND, "background": BACKGROUND, "data": BACKGROUND}

#: Values for required options with these names (methods needing others are skipped).
REQUIRED_FILLERS: dict[str, Any] = {
    "layer": LAST_CONV,
    "layer_name": LAST_CONV,
    "target_layer": LAST_CONV,
    "baselines": BACKGROUND,
    "background": BACKGROUND,
    "data": BACKGROUND,
    "patterns": PATTERNS,
}


def _required(cls: type) -> list[str]:
    params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    return [
        name for name, p in params.items()
        if name != "self" and p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def _accepts(cls: type) -> tuple[set[str], bool]:
    params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    return set(params) - {"self"}, any(p.kind is p.VAR_KEYWORD for p in params.values())


def plan_runs(data: DigitsData, *, quick: bool = False) -> tuple[list[MethodRun], dict[str, str]]:
    """The methods to run on the digits and the registered ones left out, with reasons.

    LRP runs with three composites; every other registered method runs with the options
    of :data:`DIGITS_OPTIONS` (those it accepts) and fillers for required options
    (:data:`REQUIRED_FILLERS`); methods taking a reference data set get 64 training
    digits (:data:`DATA_OPTIONS`). A method needing an option the demo cannot supply is
    left out with a note.

    Returns
    -------
    runs : list of MethodRun
        In order: LRP composites, then the other methods by name.
    skipped : dict of str to str
        Method name -> why it is not run.
    """
    runs = list(LRP_RUNS)
    skipped: dict[str, str] = {}
    names = methods()
    assert isinstance(names, list)
    for name in names:
        if name in NOT_PER_INPUT:
            if name != "lrp":
                skipped[name] = NOT_PER_INPUT[name]
            continue
        cls = get_method(name)
        accepted, any_option = _accepts(cls)
        wanted = dict(DIGITS_OPTIONS.get(name, {}))
        if quick:
            wanted.update(QUICK_OPTIONS.get(name, {}))
        options = {k: v for k, v in wanted.items() if any_option or k in accepted}
        for key, value in DATA_OPTIONS.items():
            if key in accepted:
                options.setdefault(key, value)
        missing = [r for r in _required(cls) if r not in options and r not in REQUIRED_FILLERS]
        if missing:
            skipped[name] = f"needs option(s) {', '.join(missing)} that the demo cannot choose"
            continue
        for requirement in _required(cls):
            options.setdefault(requirement, REQUIRED_FILLERS[requirement])
        resolved = {k: (v.make(data) if isinstance(v, FromData) else v) for k, v in options.items()}
        runs.append(MethodRun(name, name, resolved))
    return runs, skipped


def describe_options(options: dict[str, Any]) -> str:
    """Short text of a run's options for tables (tensors shown by their shape)."""
    parts = []
    for key, value in options.items():
        shape = getattr(value, "shape", None)
        text = f"tensor{tuple(shape)}" if shape is not None else repr(value)
        parts.append(f"{key}={text}")
    return ", ".join(parts)


def chosen_runs(
    context: DemoContext, names: tuple[str, ...], lrp: tuple[MethodRun, ...], desc: str
) -> Iterator[MethodRun]:
    """The LRP runs ``lrp``, then the planned runs of the registered ``names``, under a progress bar."""
    from xaikit.utils import progress

    planned, _ = plan_runs(context.digits(), quick=context.quick)
    chosen = {run.method: run for run in planned if run.method in names}
    return progress([*lrp, *(chosen[n] for n in names if n in chosen)], desc=desc, enabled=context.progress)
