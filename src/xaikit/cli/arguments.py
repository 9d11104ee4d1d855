"""The command line's arguments: naming a model, its inputs and a method, and parsing values.

Kept free of torch so that ``xaikit --help`` and argument errors answer at once; the
files are read by :mod:`xaikit.cli.loading`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from xaikit.cli.errors import CLIError, one_line

MODEL_FORMATS: tuple[str, ...] = ("auto", "state_dict", "torchscript", "export", "huggingface")


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it parses (numbers, booleans, lists, objects), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_options(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``["key=value", ...]`` to a dict, values parsed with :func:`parse_value`."""
    options: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise CLIError(f"option {pair!r} is not of the form key=value (for example steps=32)")
        options[key] = parse_value(value)
    return options


def parse_target(text: str | None) -> Any:
    """``None``/``predicted``/``logodds``, one class index, or comma-separated indices."""
    if text is None or text in ("predicted", "logodds"):
        return text
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise CLIError(
            f"target {text!r} is not 'predicted', 'logodds', a class index or a comma-separated list"
        ) from None
    if len(values) == 1:
        return values[0]
    import torch

    return torch.tensor(values)


def add_model_arguments(parser: argparse.ArgumentParser, *, inputs_help: str, many: bool) -> None:
    """The arguments naming a model, its inputs and the method, shared by the explain commands."""
    parser.add_argument("model", help="model file: state dict (with --model-class or --arch), TorchScript or "
                        "torch.export; or a Hugging Face model folder (save_pretrained, safetensors)")
    parser.add_argument("inputs", nargs="+" if many else None, help=inputs_help)
    parser.add_argument("--arch", help="architecture of a state dict (xaikit.models.reference_model name)")
    parser.add_argument("--model-class", metavar="MODULE:CLASS",
                        help="your architecture for a state dict (.pt or .safetensors), imported by name")
    parser.add_argument(
        "--arch-option", action="append", default=[], metavar="KEY=VALUE",
        help="constructor option of --arch or --model-class (repeatable; values parsed as JSON when possible)",
    )
    parser.add_argument(
        "--format", dest="model_format", choices=MODEL_FORMATS, default="auto",
        help="model file format (default: detected)",
    )
    parser.add_argument(
        "--trust-code", action="store_true",
        help="load a torch.export file even if it holds pickles or code (runs that code)",
    )
    parser.add_argument("--method", default="lrp", help="registered method name (see `xaikit methods`)")
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="method option (repeatable; values parsed as JSON when possible, e.g. steps=32)",
    )


def method_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--option`` values, checked against ``--method`` before any work."""
    from xaikit.core.registry import make_method

    options = parse_options(args.option)
    try:
        make_method(args.method, **options)  # unknown method or option: fail before any work
    except (ValueError, TypeError) as error:
        raise CLIError(one_line(error)) from None
    return options
