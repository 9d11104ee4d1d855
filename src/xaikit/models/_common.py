"""Helpers shared by the reference architectures: channel scaling, initialisation, docs."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

_F = TypeVar("_F", bound=Callable[..., Any])


def scaled_channels(n: int, width: float) -> int:
    """Scale a channel count by a width multiplier.

    Parameters
    ----------
    n : int
        Channel count at width 1.
    width : float
        Width multiplier.

    Returns
    -------
    int
        ``round(n * width)``, at least 1.
    """
    return max(1, round(n * width))


def init_weights(model: nn.Module, linear_std: float | None = None) -> None:
    """Initialise convolutions, batch norms and (optionally) linear layers in place.

    Modules are visited in :meth:`torch.nn.Module.modules` order, so a seeded run draws
    the same weights every time.

    Parameters
    ----------
    model : torch.nn.Module
        The network; every ``Conv2d`` gets Kaiming-normal weights (``fan_out``, ReLU
        gain) and zero bias, every ``BatchNorm2d`` unit scale and zero shift.
    linear_std : float or None, default None
        If given, every ``Linear`` gets ``N(0, linear_std**2)`` weights and zero bias;
        ``None`` keeps PyTorch's default initialisation of linear layers.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)


def append_doc_sections(sections: str, **fields: object) -> Callable[[_F], _F]:
    """Return a decorator that appends numpydoc ``sections`` to a function's docstring.

    Lets several public functions with the same parameters share one text while
    ``help()`` still shows each one complete.

    Parameters
    ----------
    sections : str
        The sections (``Parameters``, ``Returns``, ...), not indented. Each ``{name}`` is
        replaced by ``fields[name]`` or else by the decorated function's default value
        of its parameter ``name``, so documented defaults follow the signature.
    **fields
        Further values for the placeholders.

    Returns
    -------
    callable
        The decorator; it returns the function itself with the extended ``__doc__``.
    """

    def decorate(fn: _F) -> _F:
        defaults = {
            name: p.default
            for name, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty
        }
        text = sections.format(**{**defaults, **fields})
        fn.__doc__ = f"{inspect.cleandoc(fn.__doc__ or '')}\n\n{text}"
        return fn

    return decorate
