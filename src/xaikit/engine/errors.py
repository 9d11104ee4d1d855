"""Errors raised by the propagation engine."""

from __future__ import annotations


class UnsupportedOperationError(TypeError):
    """An operation on a tensor that carries relevance has no propagation rule."""


class ModelModeError(ValueError):
    """The model runs an operation in training mode, where explanations would be wrong."""
