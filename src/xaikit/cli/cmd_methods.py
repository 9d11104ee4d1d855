"""``xaikit methods``: list the registered explanation methods and their options."""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import Any

from xaikit.cli.command import add_command
from xaikit.report.blocks import format_setting

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


def _required(cls: type, name: str) -> bool:
    import inspect

    parameter = inspect.signature(cls.__init__).parameters.get(name)  # type: ignore[misc]
    return parameter is not None and parameter.default is inspect.Parameter.empty


def run(args: argparse.Namespace) -> int:
    """Print the methods; returns 0."""
    from xaikit.core.registry import get_method, methods
    from xaikit.lrp import composites

    details = methods(details=True)
    assert isinstance(details, dict)
    if args.json:
        print(json.dumps(details, indent=2, default=str, sort_keys=True))
        return 0
    for name, info in details.items():
        aliases = f" (aliases: {', '.join(info['aliases'])})" if info["aliases"] else ""
        print(f"{name}{aliases}")
        if info["summary"]:
            print(textwrap.fill(info["summary"], width=96, initial_indent="    ", subsequent_indent="    "))
        cls = get_method(name)
        shown = [
            f"{option}=<required>" if _required(cls, option) else f"{option}={format_setting(default)}"
            for option, default in info["options"].items()
        ]
        if shown:
            print(textwrap.fill("options: " + "  ".join(shown), width=96, initial_indent="    ",
                                subsequent_indent="             "))
        if name == "lrp":
            print(textwrap.fill(f"composites: {', '.join(composites())}", width=96, initial_indent="    ",
                                subsequent_indent="                "))
    print(f"\n{len(details)} methods. Use: xaikit explain MODEL INPUT --method NAME --option KEY=VALUE")
    return 0
