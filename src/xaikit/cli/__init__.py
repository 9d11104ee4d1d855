"""The ``xaikit`` command line: ``demo``, ``explain``, ``explain-dataset``, ``methods`` and ``report``.

Every command prints a one-line cause and exits non-zero on bad input (``2``) or a
failed computation (``1``); pass ``--debug`` for the full traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

from xaikit._version import __version__
from xaikit.cli import cmd_demo, cmd_explain, cmd_explain_dataset, cmd_methods, cmd_report
from xaikit.cli.errors import CLIError, one_line

__all__ = ["CLIError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``xaikit`` with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="xaikit",
        description="Explain deep networks and unsupervised models, evaluate the explanations, "
        "and report them. Start with `xaikit demo`.",
    )
    parser.add_argument("--version", action="version", version=f"xaikit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (cmd_demo, cmd_explain, cmd_explain_dataset, cmd_methods, cmd_report):
        module.add_parser(subparsers)
    return parser


@contextlib.contextmanager
def _progress_off(off: bool) -> Iterator[None]:
    """Turn progress bars off for the command (``--no-progress``), restoring the setting after."""
    from xaikit.utils.progress_bars import progress_disabled

    with progress_disabled() if off else contextlib.nullcontext():
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (``sys.argv[1:]`` when omitted).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    command = f"xaikit {args.command}"
    try:
        with _progress_off(getattr(args, "no_progress", False)):
            status: int = args.run(args)
    except CLIError as error:
        if args.debug:
            raise
        print(f"{command}: error: {one_line(error)}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a program that stopped reading (e.g. head)
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # silence the flush at exit
        return 1
    except Exception as error:
        if args.debug:
            raise
        # imported only on this path, which keeps the start-up light
        from xaikit.report.staging import OutputFolderError

        if isinstance(error, OutputFolderError):
            print(f"{command}: error: {one_line(error)}", file=sys.stderr)
            return 2
        print(f"{command}: error: {one_line(error)} (run with --debug for details)", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
