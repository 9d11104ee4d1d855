"""Errors raised by the propagation engine."""

from __future__ import annotations

from xaikit.utils.errors import ModelError, XaikitError


class UnsupportedOperationError(XaikitError, NotImplementedError):
    """An operation on a tensor that carries relevance has no propagation rule.

    Not a ``TypeError`` on purpose: torch turns a ``TypeError`` raised inside a binary
    operator such as ``Tensor.__mul__`` into ``NotImplemented``, which would hide the message.
    """


class ModelModeError(ModelError):
    """The model runs an operation in training mode, where explanations would be wrong."""
