"""The exception types xaikit raises on purpose, and error messages shortened to one line.

Every error xaikit raises about its caller's input, model or files is a
:class:`XaikitError`, and its message names the problem and the fix. The subclasses
also derive from the built-in types such an error was before (``ValueError``,
``TypeError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = ["InputError", "ModelError", "ModelOutputError", "NonFiniteError", "TargetError", "XaikitError", "one_line"]


class XaikitError(Exception):
    """Base of the errors xaikit raises on purpose: the message names the problem and the fix."""


class InputError(XaikitError, TypeError, ValueError):
    """The inputs cannot be explained as given (type, shape, device, values)."""


class TargetError(XaikitError, TypeError, ValueError):
    """The target does not name an output of the model."""


class ModelError(XaikitError, ValueError):
    """The model does something under which an explanation would be wrong.

    For example: it drops the batch dimension, returns class indices, is random in
    inference, writes its input in place, or computes part of its output where the
    method cannot see it.
    """


class ModelOutputError(ModelError, TypeError):
    """The model returns something other than one tensor of scores (a tuple, dict, scalar).

    Also a ``TypeError``, as before. (:class:`ModelError` itself is not one: the engine
    raises it inside tensor operators, where torch would turn a ``TypeError`` into
    ``NotImplemented`` and hide the message.)
    """


class NonFiniteError(ModelError):
    """NaN or infinity arose in the model's output, its weights or the attribution."""



def one_line(error: BaseException, *, plain: tuple[type[BaseException], ...] = ()) -> str:
    """The first non-empty line of an exception's message, prefixed by its type if needed.

    Parameters
    ----------
    error : BaseException
        The exception.
    plain : tuple of exception types
        Types whose message is shown without the type name, in addition to
        :class:`ValueError` and :class:`FileNotFoundError` (whose messages say what is
        wrong on their own).

    Returns
    -------
    str
        ``"message"`` for the plain types, ``"TypeName: message"`` otherwise, and the
        type name alone for an empty message.

    Examples
    --------
    >>> one_line(RuntimeError("out of memory\\nwhile allocating"))
    'RuntimeError: out of memory'
    >>> one_line(ValueError("bad shape\\n  (3, 4)"))
    'bad shape'
    """
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    if not text:
        return type(error).__name__
    if isinstance(error, (ValueError, FileNotFoundError, *plain)):
        return text
    return f"{type(error).__name__}: {text}"
