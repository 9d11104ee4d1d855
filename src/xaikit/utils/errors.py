"""Error messages shortened to one line, for reports and the command line."""

from __future__ import annotations

__all__ = ["one_line"]


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
