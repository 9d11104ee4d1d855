"""CONTRIBUTING.md's worked examples (a rule, an operation, a method, a metric) run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "CONTRIBUTING.md"
TEXT = GUIDE.read_text(encoding="utf-8")
SECTIONS = dict(re.findall(r"^## Add (an? \w+)\n(.*?)(?=^## |\Z)", TEXT, flags=re.DOTALL | re.MULTILINE))


def test_the_guide_walks_through_the_four_extensions() -> None:
    assert sorted(SECTIONS) == ["a method", "a metric", "a rule", "an operation"]


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_worked_example_runs(section: str) -> None:
    blocks = re.findall(r"```python\n(.*?)```", SECTIONS[section], flags=re.DOTALL)
    assert blocks, f"the section 'Add {section}' has no worked example"
    for code in blocks:
        exec(compile(code, f"{GUIDE}:{section}", "exec", dont_inherit=True), {"__name__": "contributing"})
