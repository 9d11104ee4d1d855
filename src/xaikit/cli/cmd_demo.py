"""``xaikit demo``: the main job (explain digits, evaluate, neuralize; write a report)."""

from __future__ import annotations

import argparse
from typing import Any

from xaikit.cli.command import add_command
from xaikit.cli.errors import CLIError

HELP = "run the demonstration and write report.html (the main job)"
DESCRIPTION = """\
Train (or load the cached) digits CNN, explain test digits with LRP composites and every
other registered method, run the evaluation metrics and the wholesale neuralization
example where available, and write heatmaps and a self-contained report.html. No
network; a few minutes on 2 CPU cores.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``demo`` subcommand."""
    parser = add_command(subparsers, "demo", run, help=HELP, description=DESCRIPTION)
    parser.add_argument("--out", default="xaikit-output", help="output folder (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="fewer samples and steps (about a third of the time)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--force", action="store_true", help="replace a non-empty --out not written by xaikit")
    parser.add_argument(
        "--only", action="append", default=[], metavar="SECTION",
        help="run only this section (repeatable; see --list-sections)",
    )
    parser.add_argument("--skip", action="append", default=[], metavar="SECTION", help="skip a section (repeatable)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default: 1, fastest for the small models)"
    )
    parser.add_argument("--list-sections", action="store_true", help="list the demo's sections and exit")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns 0, or 1 if a section failed (the report is written either way)."""
    from xaikit.demo import DemoError, available_sections, run_demo

    if args.list_sections:
        for section in available_sections():
            print(f"{section.name:24s} {section.title}")
        return 0
    try:
        result = run_demo(
            args.out, quick=args.quick, progress=not args.no_progress,
            only=args.only or None, skip=args.skip, force=args.force, threads=args.threads,
        )
    except DemoError as error:
        raise CLIError(str(error)) from None
    print(result.report)
    if result.failed:
        raise CLIError(
            f"section(s) failed: {', '.join(result.failed)} (see the report for the cause)", status=1
        )
    return 0
