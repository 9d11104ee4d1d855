"""Quadrature rules on ``[0, 1]`` for path integrals (integrated gradients).

Each rule gives nodes ``alpha_k`` and weights ``w_k`` with ``sum_k w_k g(alpha_k) ~ int_0^1 g``.
The conventions (and hence the nodes for a given number of ``steps``) are those of Captum,
so that results can be compared step for step:

``riemann_left``
    ``alpha_k = k / n``, ``k = 0..n-1``, weights ``1/n``.
``riemann_right``
    ``alpha_k = k / n``, ``k = 1..n``, weights ``1/n``.
``riemann_middle``
    ``alpha_k = (k + 1/2) / n``, weights ``1/n``.
``trapezoid``
    ``n`` equally spaced nodes including both ends, ``n - 1`` intervals.
``gauss_legendre``
    The ``n``-point Gauss-Legendre rule mapped to ``[0, 1]``.

Left, right and trapezoid rules are *nested*: doubling the number of intervals keeps the
old nodes and adds the midpoints, so refinement reuses every gradient already computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

RULES = ("riemann_left", "riemann_right", "riemann_middle", "trapezoid", "gauss_legendre")

_ALIASES = {
    "left": "riemann_left",
    "right": "riemann_right",
    "middle": "riemann_middle",
    "midpoint": "riemann_middle",
    "riemann_trapezoid": "trapezoid",
    "gausslegendre": "gauss_legendre",
    "gauss": "gauss_legendre",
}


def rule_name(rule: str) -> str:
    """The canonical name of a quadrature rule (accepting Captum's spellings)."""
    if not isinstance(rule, str):
        raise TypeError(f"rule must be a string, got {type(rule).__name__}")
    key = _ALIASES.get(rule.lower(), rule.lower())
    if key not in RULES:
        raise ValueError(f"unknown quadrature rule {rule!r}; choose one of {', '.join(RULES)}")
    return key


@lru_cache(maxsize=32)
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.special import roots_legendre  # imported on use: scipy is slow to import

    x, w = roots_legendre(n)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


@dataclass(frozen=True)
class Quadrature:
    """A quadrature rule on ``[0, 1]`` with a number of nodes.

    Parameters
    ----------
    rule : str
        One of :data:`RULES`.
    steps : int
        Number of nodes (gradient evaluations); at least 2 for the trapezoid rule.
    """

    rule: str
    steps: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "rule", rule_name(self.rule))
        minimum = 2 if self.rule == "trapezoid" else 1
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < minimum:
            raise ValueError(f"steps must be an integer >= {minimum} for the {self.rule} rule, got {self.steps!r}")

    @property
    def nested(self) -> bool:
        """Whether :meth:`refined` reuses all current nodes."""
        return self.rule in ("riemann_left", "riemann_right", "trapezoid")

    @property
    def intervals(self) -> int:
        """Number of sub-intervals of ``[0, 1]`` (nested rules)."""
        return self.steps - 1 if self.rule == "trapezoid" else self.steps

    def nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Nodes and weights, float64 arrays of length :attr:`steps`."""
        n = self.steps
        if self.rule == "riemann_left":
            return np.arange(n) / n, np.full(n, 1.0 / n)
        if self.rule == "riemann_right":
            return np.arange(1, n + 1) / n, np.full(n, 1.0 / n)
        if self.rule == "riemann_middle":
            return (np.arange(n) + 0.5) / n, np.full(n, 1.0 / n)
        if self.rule == "trapezoid":
            weights = np.full(n, 1.0 / (n - 1))
            weights[[0, -1]] = 0.5 / (n - 1)
            return np.linspace(0.0, 1.0, n), weights
        x, w = _gauss_legendre(n)
        return 0.5 * (x + 1.0), 0.5 * w

    def refined(self) -> Quadrature:
        """The rule with twice as many intervals (nested) or nodes (others)."""
        if self.rule == "trapezoid":
            return Quadrature(self.rule, 2 * (self.steps - 1) + 1)
        return Quadrature(self.rule, 2 * self.steps)

    def refinement_nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """For nested rules: the nodes added by :meth:`refined`, and their weights in it.

        The refined estimate is ``current / 2 + sum_k w_k g(alpha_k)`` over these nodes.
        """
        if not self.nested:
            raise ValueError(f"the {self.rule} rule is not nested; recompute with refined().nodes()")
        m = self.intervals
        return (np.arange(m) + 0.5) / m, np.full(m, 0.5 / m)
