"""``xaikit report``: build the HTML page of a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xaikit.cli.command import add_command
from xaikit.cli.errors import CLIError

HELP = "build the self-contained HTML report of a run folder"
DESCRIPTION = """\
Build report.html from a run folder written by `xaikit demo` or `xaikit explain` (its
run.json), or from any folder of PNG images and CSV tables. The page embeds everything
and needs no network.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``report`` subcommand."""
    parser = add_command(subparsers, "report", run, help=HELP, description=DESCRIPTION)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run folder")
    parser.add_argument("--out", help="HTML file to write (default: RUN_DIR/report.html)")
    parser.add_argument("--title", help="page title (default: the run's)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the page; returns 0."""
    from xaikit.report import RunFolderError, load_run

    try:
        report = load_run(args.run_dir)
    except RunFolderError as error:
        raise CLIError(str(error)) from None
    if args.title:
        report.title = args.title
    target = Path(args.out) if args.out else Path(args.run_dir) / "report.html"
    if target.is_dir():
        raise CLIError(f"--out {str(target)!r} is a folder; give a file name such as report.html")
    path = report.write(target)
    print(path)
    return 0
