"""What every subcommand of the command line shares: its parser and the function it runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_command(
    subparsers: Any, name: str, run: Callable[[argparse.Namespace], int], **parser_options: Any
) -> argparse.ArgumentParser:
    """Add the subcommand ``name``, carried out by ``run(args)``, and return its parser.

    Parameters
    ----------
    subparsers : argparse action
        What :meth:`argparse.ArgumentParser.add_subparsers` returned.
    name : str
        The subcommand (``xaikit NAME``).
    run : callable
        Called with the parsed arguments; returns the exit status.
    **parser_options
        Passed to ``subparsers.add_parser`` (``help``, ``description``, ``epilog``, ...).

    Returns
    -------
    argparse.ArgumentParser
        The subcommand's parser, to add its arguments to.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(name, **parser_options)
    parser.set_defaults(run=run)
    return parser
