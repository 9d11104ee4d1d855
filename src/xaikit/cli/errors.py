"""The error the command line reports as one line with a non-zero exit status."""

from __future__ import annotations

from xaikit.utils import errors


class CLIError(errors.XaikitError):
    """Bad input or a failed step, reported as ``xaikit <command>: error: <message>``.

    Parameters
    ----------
    message : str
        One line saying what is wrong and, where possible, what to do.
    status : int
        Exit status (2 for bad usage or input, 1 for a failed computation).
    """

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def one_line(error: BaseException) -> str:
    """The first non-empty line of an exception's message, prefixed by its type if bare.

    Parameters
    ----------
    error : BaseException
        The exception.

    Returns
    -------
    str
        See :func:`xaikit.utils.errors.one_line`; a :class:`CLIError`'s message is shown
        without its type.
    """
    return errors.one_line(error, plain=(CLIError,))
