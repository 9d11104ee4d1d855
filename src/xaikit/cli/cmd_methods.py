"""``xaikit methods``: list the registered explanation methods and their options."""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import Any

from xaikit.cli.command import add_command

HELP = "list registered explanation methods and their options"
DESCRIPTION = """\
List every method reachable by name (xaikit.explain(..., method=NAME)), with its summary
and options and their defaults. Pass options to `xaikit explain` as --option NAME=VALUE.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``methods`` subcommand."""
    parser = add_command(subparsers, "methods", run, help=HELP, description=DESCRIPTION)
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the methods (from the shipped catalogue: no method family is imported); returns 0."""
    from xaikit.cli.methods_catalogue import read_catalogue

    catalogue = read_catalogue()
    listed: dict[str, Any] = catalogue["methods"]
    if args.json:
        details = {name: {key: info[key] for key in ("aliases", "options", "summary")} for name, info in listed.items()}
        print(json.dumps(details, indent=2, sort_keys=True))
        return 0
    for name, info in listed.items():
        aliases = f" (aliases: {', '.join(info['aliases'])})" if info["aliases"] else ""
        print(f"{name}{aliases}")
        if info["summary"]:
            print(textwrap.fill(info["summary"], width=96, initial_indent="    ", subsequent_indent="    "))
        if info["shown"]:
            print(textwrap.fill("options: " + "  ".join(info["shown"]), width=96, initial_indent="    ",
                                subsequent_indent="             "))
        if name == "lrp":
            print(textwrap.fill(f"composites: {', '.join(catalogue['composites'])}", width=96,
                                initial_indent="    ", subsequent_indent="                "))
    print(f"\n{len(listed)} methods. Use: xaikit explain MODEL INPUT --method NAME --option KEY=VALUE")
    return 0
