"""The catalogue ``xaikit methods`` prints: every built-in method, its summary and options.

Listing the methods live imports every method family (and torch: seconds); the command
line reads this catalogue instead, written from the live registry into ``methods.json``
beside this module. ``tests/cli/test_cli_commands.py`` fails when the file is stale;
rewrite it with ``python -m xaikit.cli.methods_catalogue``.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

CATALOGUE = Path(__file__).with_name("methods.json")


def _required(cls: type, name: str) -> bool:
    parameter = inspect.signature(cls.__init__).parameters.get(name)  # type: ignore[misc]
    return parameter is not None and parameter.default is inspect.Parameter.empty


def live_catalogue() -> dict[str, Any]:
    """The catalogue built from the live registry (imports every method family).

    Returns
    -------
    dict
        ``{"methods": {name: {"summary", "aliases", "options", "shown"}}, "composites": [...]}``:
        ``options`` as ``xaikit methods --json`` prints them (defaults as JSON, others as
        text), ``shown`` as the text listing prints them (``<required>`` where there is no
        default).
    """
    from xaikit.core.registry import get_method, methods
    from xaikit.lrp import composites
    from xaikit.report.blocks import format_setting

    details = methods(details=True)
    assert isinstance(details, dict)
    listed: dict[str, Any] = {}
    for name, info in details.items():
        cls = get_method(name)
        listed[name] = {
            "summary": info["summary"],
            "aliases": info["aliases"],
            "options": json.loads(json.dumps(info["options"], default=str)),
            "shown": [
                f"{option}=<required>" if _required(cls, option) else f"{option}={format_setting(default)}"
                for option, default in info["options"].items()
            ],
        }
    return {"methods": listed, "composites": list(composites())}


def read_catalogue() -> dict[str, Any]:
    """The catalogue shipped beside this module (falls back to :func:`live_catalogue`)."""
    try:
        catalogue: dict[str, Any] = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return live_catalogue()
    return catalogue


def write_catalogue(path: Path = CATALOGUE) -> None:
    """Write :func:`live_catalogue` to ``path`` (the shipped ``methods.json`` by default)."""
    text = json.dumps(live_catalogue(), indent=1, sort_keys=True) + "\n"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    write_catalogue()
    print(f"wrote {CATALOGUE}")
