"""``import xaikit`` stays cheap: the slow optional libraries are imported on first use.

scikit-learn, SciPy, pandas, matplotlib, Jinja2 and scikit-image together take longer
to import than torch. Functions that need them import them inside; the module level
only names them under ``if TYPE_CHECKING:``. Nothing is timed here (timings depend on
the machine); the test checks, in a fresh interpreter, which modules got imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Top-level packages that ``import xaikit`` must not import.
LAZY = ("sklearn", "scipy", "pandas", "matplotlib", "jinja2", "skimage")

_PROBE = """
import json, sys
before = set(sys.modules)
{statement}
print(json.dumps(sorted(set(sys.modules) - before)))
"""

#: Imports xaikit and every method family (what a first ``xaikit.explain`` by name does).
_LOAD_ALL = "import xaikit; xaikit.methods()"


def imported_by(statement: str) -> set[str]:
    """The modules that ``statement`` adds to ``sys.modules`` in a fresh interpreter.

    Parameters
    ----------
    statement : str
        Python code, such as ``"import xaikit"``.

    Returns
    -------
    set of str
        The names of the newly imported modules.
    """
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(statement=statement)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def xaikit_modules() -> set[str]:
    return imported_by(_LOAD_ALL)


def test_import_xaikit_alone_imports_not_even_torch() -> None:
    """The names of :mod:`xaikit` load on first use: ``xaikit --help`` needs no torch."""
    loaded = imported_by("import xaikit")
    assert "xaikit" in loaded
    assert not {"torch", "numpy", "xaikit.core", "xaikit.lrp"} & loaded


def test_the_families_register_through_entry_points(xaikit_modules: set[str]) -> None:
    # the probe works: listing the methods imported every family registered in pyproject.toml
    families = {"xaikit.attention", "xaikit.gradients", "xaikit.lrp", "xaikit.neon", "xaikit.perturbation"}
    assert families | {"torch"} <= xaikit_modules


@pytest.mark.parametrize("library", LAZY)
def test_import_xaikit_does_not_import(library: str, xaikit_modules: set[str]) -> None:
    loaded = sorted(m for m in xaikit_modules if m == library or m.startswith(f"{library}."))
    assert not loaded, (
        f"`import xaikit` imports {library} ({len(loaded)} modules: {', '.join(loaded[:5])}, ...); "
        f"import it inside the function that needs it (run `python -X importtime -c \"import xaikit\"` "
        "to see which xaikit module pulls it in)"
    )
