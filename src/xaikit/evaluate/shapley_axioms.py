"""The Shapley axioms as checks that any attribution method can be run through.

Shapley values are the only attribution of a cooperative game that satisfies efficiency,
symmetry, dummy and linearity (Shapley, 1953), or efficiency, symmetry and strong
monotonicity (Young, 1985); review 004 lists them as the axioms an explanation may be
asked to meet. :func:`shapley_axioms` builds, for each axiom, small ReLU networks on
tabular inputs where the axiom's premise holds by construction, explains them with the
method (baseline: zero, the reference of the games), and reports how far its attributions
are from what the axiom demands:

- **efficiency**: the attributions sum to ``f(x) - f(0)``;
- **symmetry**: two features the network treats alike (``f`` reads only their sum), at
  equal values, get equal attributions;
- **dummy**: a feature the network never reads gets zero;
- **linearity**: the attribution of ``a f + b g`` is ``a`` times that of ``f`` plus ``b``
  times that of ``g``;
- **monotonicity** (Young's strong monotonicity): where ``i``'s marginal contribution to
  ``g`` exceeds that to ``f`` in every coalition (here ``g - f`` grows linearly in ``x_i``
  alone), ``i``'s attribution under ``g`` is not lower than under ``f``.

Errors are relative to the size of the attributions; an axiom holds when its error is
below ``tolerance``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from xaikit.core.targets import ClassTarget
from xaikit.evaluate._common import MethodLike, as_explain_fn
from xaikit.evaluate.axioms import silenced

__all__ = ["AXIOMS", "shapley_axioms"]

AXIOMS = ("efficiency", "symmetry", "dummy", "linearity", "monotonicity")
DT = torch.float64


def _network(features: int, seed: int, reads: Callable[[Tensor], Tensor] | None = None) -> nn.Module:
    """A random two-layer ReLU network with one output, reading ``reads(x)`` (all features by default)."""
    generator = torch.Generator().manual_seed(seed)
    width = 6 if reads is None else reads(torch.zeros(1, features)).shape[1]
    body = nn.Sequential(nn.Linear(width, 8), nn.ReLU(), nn.Linear(8, 1)).to(DT)
    with torch.no_grad():
        for parameter in body.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=DT))
    if reads is None:
        first = nn.Linear(features, 8).to(DT)
        with torch.no_grad():
            first.weight.copy_(torch.randn(8, features, generator=generator, dtype=DT))
            first.bias.copy_(torch.randn(8, generator=generator, dtype=DT))
        body[0] = first
        return body.eval()
    return _Reading(body, reads).eval()


class _Reading(nn.Module):
    """``body(reads(x))``: a network that sees only what ``reads`` selects of the input."""

    def __init__(self, body: nn.Module, reads: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.body, self.reads = body, reads

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.body(self.reads(x))
        return out


def _feature(features: int, index: int) -> nn.Module:
    """``x_index``, as a bias-free dense layer."""
    layer = nn.Linear(features, 1, bias=False).to(DT)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[0, index] = 1.0
    return layer.eval()


class _Combination(nn.Module):
    """``a f(x) + b g(x)``."""

    def __init__(self, first: nn.Module, second: nn.Module, a: float, b: float) -> None:
        super().__init__()
        self.first, self.second, self.a, self.b = first, second, a, b

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.a * self.first(x) + self.b * self.second(x)
        return out


def _relative(error: Tensor, scale: Tensor) -> float:
    return float(error.abs().max() / scale.abs().max().clamp(min=1e-12))


def shapley_axioms(
    method: MethodLike,
    method_options: Mapping[str, Any] | None = None,
    *,
    features: int = 5,
    samples: int = 4,
    tolerance: float = 1e-3,
    seed: int = 0,
) -> pd.DataFrame:
    """Run ``method`` through one constructed game per Shapley axiom.

    Parameters
    ----------
    method : str, Explainer or callable
        The method (a registered name, an explainer, or ``fn(model, inputs, target)``);
        it is given ``baseline=0`` where it takes a baseline and none was set.
    method_options : mapping, optional
        Options of a method given by name.
    features : int
        Input features of the constructed networks (at least 4).
    samples : int
        Inputs per check (drawn in ``[0.2, 1.2]``).
    tolerance : float
        Largest relative error counted as holding.
    seed : int
        Seed of the networks and inputs.

    Returns
    -------
    pandas.DataFrame
        One row per axiom: ``axiom``, ``error`` (relative), ``holds``.
    """
    if features < 4:
        raise ValueError(f"the axiom games need at least 4 features, got {features}")
    options = dict(method_options or {})
    if isinstance(method, str):
        from xaikit.core.registry import get_method

        if "baseline" in get_method(method).__init__.__code__.co_varnames:
            options.setdefault("baseline", 0.0)
    explain = as_explain_fn(method, options or None)

    def attribute(model: nn.Module, x: Tensor) -> Tensor:
        with silenced():
            return explain(model, x, _output_zero(len(x))).detach().to(DT)

    generator = torch.Generator().manual_seed(seed)
    x = 0.2 + torch.rand(samples, features, generator=generator, dtype=DT)
    errors: dict[str, float] = {}

    f = _network(features, seed)
    phi = attribute(f, x)
    with torch.no_grad():
        gap = f(x)[:, 0] - f(torch.zeros_like(x))[:, 0]
    errors["efficiency"] = _relative(phi.sum(1) - gap, gap)

    twins = x.clone()
    twins[:, 1] = twins[:, 0]
    symmetric = _network(features, seed + 1, reads=lambda v: torch.cat([v[:, :1] + v[:, 1:2], v[:, 2:]], dim=1))
    phi_s = attribute(symmetric, twins)
    errors["symmetry"] = _relative(phi_s[:, 0] - phi_s[:, 1], phi_s)

    dummy = _network(features, seed + 2, reads=lambda v: v[:, :-1])
    phi_d = attribute(dummy, x)
    errors["dummy"] = _relative(phi_d[:, -1], phi_d)

    g = _network(features, seed + 3)
    phi_g = attribute(g, x)
    combined = _Combination(f, g, 2.0, -0.5).eval()
    errors["linearity"] = _relative(attribute(combined, x) - (2.0 * phi - 0.5 * phi_g), phi)

    # f - 3 x_2 against f - 1.5 x_2: feature 2's marginal contribution grows by 1.5 x_2 > 0 in every
    # coalition, so its attribution must not fall (a method blind to the sign, |gradient|, lets it fall)
    base = _Combination(f, _feature(features, 2), 1.0, -3.0).eval()
    boosted = _Combination(f, _feature(features, 2), 1.0, -1.5).eval()
    drop = (attribute(base, x)[:, 2] - attribute(boosted, x)[:, 2]).clamp(min=0)
    errors["monotonicity"] = _relative(drop, phi)
    return pd.DataFrame({"axiom": list(errors), "error": list(errors.values()),
                         "holds": [bool(e <= tolerance) for e in errors.values()]})


def _output_zero(n: int) -> ClassTarget:
    """The networks' one output, for every sample."""
    return ClassTarget(torch.zeros(n, dtype=torch.long))


def axiom_table(methods: Mapping[str, MethodLike], **options: Any) -> pd.DataFrame:
    """:func:`shapley_axioms` for several methods: one row per method, one column per axiom (its error)."""
    rows = {name: shapley_axioms(method, **options).set_index("axiom")["error"] for name, method in methods.items()}
    return pd.DataFrame(rows).T[list(AXIOMS)].astype(np.float64)
