"""Errors raised by the propagation engine."""

from __future__ import annotations


class UnsupportedOperationError(NotImplementedError):
    """An operation on a tensor that carries relevance has no propagation rule.

    Not a ``TypeError`` on purpose: torch turns a ``TypeError`` raised inside a binary
    operator such as ``Tensor.__mul__`` into ``NotImplemented``, which would hide the message.
    """


class ModelModeError(ValueError):
    """The model runs an operation in training mode, where explanations would be wrong."""
