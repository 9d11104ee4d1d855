"""One way to check the options of methods, composite presets and metrics.

Every public entry point that takes options by name (``xaikit.explain(..., **options)``,
``composite_options``, ``evaluate(options=...)``, metric keyword arguments) checks them
here: an unknown option raises :class:`OptionError` naming it and listing the valid
ones (with a close match suggested), and an old option name is accepted with a
``DeprecationWarning`` for one release.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from xaikit.utils.errors import XaikitError

F = TypeVar("F", bound=Callable[..., Any])

#: Option names replaced by one name per concept: old name -> new name.
RENAMED_OPTIONS: dict[str, str] = {
    "show_progress": "progress",
    "eps": "epsilon",
}


class OptionError(XaikitError, TypeError, ValueError):
    """An option that the method, preset or metric does not have.

    Both a ``TypeError`` (like a wrong keyword argument) and a ``ValueError``.
    """


def option_names(func: Callable[..., Any]) -> list[str] | None:
    """The keyword options ``func`` (a class: its ``__init__``) accepts; ``None`` if it takes ``**kwargs``."""
    target = func.__init__ if isinstance(func, type) else func  # type: ignore[misc]
    params = inspect.signature(target).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def check_options(
    owner: str, options: Mapping[str, Any], valid: Iterable[str] | None, renamed: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``options`` with deprecated names renamed; raises :class:`OptionError` for unknown ones.

    Parameters
    ----------
    owner : str
        What takes the options, for the message (for example ``"method 'lrp'"``).
    options : mapping
        The options as given.
    valid : iterable of str or None
        The option names accepted; ``None`` accepts any.
    renamed : mapping, optional
        Old names of this owner's options (old -> new), besides :data:`RENAMED_OPTIONS`.
    """
    allowed = None if valid is None else list(valid)
    names = {**RENAMED_OPTIONS, **(renamed or {})}
    out: dict[str, Any] = {}
    for name, value in options.items():
        new = names.get(name)
        if new is not None and (allowed is None or new in allowed) and (allowed is None or name not in allowed):
            warnings.warn(
                f"{owner}: option {name!r} is now called {new!r}; the old name will be removed in the next release",
                DeprecationWarning,
                stacklevel=3,
            )
            if new in options:
                raise OptionError(f"{owner}: got both {name!r} and its new name {new!r}; pass {new!r} only")
            name = new
        out[name] = value
    if allowed is None:
        return out
    unknown = [name for name in out if name not in allowed]
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, allowed, n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        listed = ", ".join(allowed) if allowed else "none"
        raise OptionError(f"{owner} got an unknown option {', '.join(hints)}; its options are: {listed}")
    return out


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an ``int`` if it is a positive integer (not a bool); ``ValueError`` otherwise."""
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_batch_size(value: Any) -> int | None:
    """A ``batch_size`` option: a positive integer, or ``None`` for the automatic size."""
    return None if value is None else check_positive_int(value, "batch_size")


def call_with_options(owner: str, func: Callable[..., Any], options: Mapping[str, Any]) -> Any:
    """``func(**options)`` after :func:`check_options` against ``func``'s signature."""
    return func(**check_options(owner, options, option_names(func), old_names_of(func)))


def accepts_old_names(**old_to_new: str) -> Callable[[F], F]:
    """Decorator: keyword arguments under an old name are renamed, with a ``DeprecationWarning``.

    ``@accepts_old_names(show_progress="progress")`` lets callers still write
    ``show_progress=False`` for one release; giving both names raises :class:`OptionError`.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise OptionError(f"{fn.__qualname__}: got both {old!r} and its new name {new!r}; pass {new!r} only")
                    warnings.warn(
                        f"{fn.__qualname__}: {old!r} is now called {new!r}; the old name will be removed in the next release",
                        DeprecationWarning,
                        stacklevel=2,
                    )
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        wrapper.__xaikit_old_names__ = dict(old_to_new)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def old_names_of(func: Callable[..., Any]) -> dict[str, str]:
    """The old option names ``func`` (a class: its ``__init__``) still accepts, old -> new."""
    target = func.__init__ if isinstance(func, type) else func  # type: ignore[misc]
    return dict(getattr(target, "__xaikit_old_names__", {}))
