"""The error the command line reports as one line with a non-zero exit status."""

from __future__ import annotations


class CLIError(Exception):
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
    """The first non-empty line of an exception's message, prefixed by its type if bare."""
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    if not text:
        return type(error).__name__
    if isinstance(error, CLIError):
        return text
    return text if isinstance(error, ValueError | FileNotFoundError) else f"{type(error).__name__}: {text}"
