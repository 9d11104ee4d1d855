"""The documentation site's sources: configuration, API pages, tutorials, the build step.

These checks are cheap (nothing is built here); the real build, tutorials executed and
warnings as errors, is ``scripts/docs.sh``, which ``scripts/test.sh`` runs before pytest.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIALS = DOCS / "tutorials"

#: The public subpackages, each with an API page generated from its docstrings: the package
#: and every subpackage but the command line and the demo (documented by ``xaikit --help``).
#: A new subpackage fails this test until it has a page.
NOT_IN_API = {"cli", "demo"}
PUBLIC = ("xaikit", *sorted(
    f"xaikit.{p.parent.name}" for p in (ROOT / "src" / "xaikit").glob("*/__init__.py")
    if p.parent.name not in NOT_IN_API
))

#: One tutorial per family: a call each must make.
FAMILIES = {
    "quickstart": ("digits_cnn", "KMeans"),
    "LRP": ('method="lrp"', "Composite"),
    "gradients": ("integrated_gradients", "noise_tunnel"),
    "perturbation": ("occlusion", "kernel_shap"),
    "NEON": ("neuralize", "load_wholesale"),
    "evaluation": ("pixel_flipping", "model_randomization"),
    "transformers": ("transformers.", "NextToken"),
    "datasets": ("explain_dataset", "spray"),
    "concepts": ('method="crp"', "layers=", "reference_samples", "layer_conductance"),
}


def _conf() -> dict[str, Any]:
    """The literal assignments of docs/conf.py, read without running it."""
    values: dict[str, Any] = {}
    for node in ast.parse((DOCS / "conf.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return values


def _toctree(page: Path) -> list[str]:
    """The entries of every toctree on a reST page."""
    entries = []
    for block in re.findall(r"^\.\. toctree::\n((?:(?:   .*)?\n)+)", page.read_text(encoding="utf-8"), re.MULTILINE):
        entries += [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith(":")]
    return entries


def _tutorials() -> list[Path]:
    return sorted(TUTORIALS.glob("*.py"))


def test_conf_sets_the_extensions_and_the_gallery() -> None:
    conf = _conf()
    assert {"sphinx.ext.autodoc", "sphinx.ext.napoleon", "myst_parser", "sphinx_gallery.gen_gallery"} <= set(
        conf["extensions"]
    )
    assert conf["napoleon_numpy_docstring"] is True
    gallery = conf["sphinx_gallery_conf"]
    assert gallery["examples_dirs"] == ["tutorials"] and gallery["gallery_dirs"] == ["auto_tutorials"]
    assert gallery["abort_on_example_error"] is True  # a failing tutorial fails the build
    assert "tutorials" in conf["exclude_patterns"]  # the gallery sources are not pages themselves
    # the scraper is named, not passed as a function, so the configuration stays picklable
    assert all(isinstance(s, str) for s in gallery["image_scrapers"])


def test_every_tutorial_is_collected_by_the_gallery() -> None:
    pattern = re.compile(_conf()["sphinx_gallery_conf"]["filename_pattern"])
    scripts = _tutorials()
    assert scripts, "docs/tutorials has no tutorial"
    for script in scripts:
        assert pattern.search(str(script)), f"{script.name} does not match the gallery's filename_pattern: it would not run"
        doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")))
        assert doc, f"{script.name} needs a docstring with a title (sphinx-gallery reads it)"
        title, underline = doc.splitlines()[:2]
        assert title.strip() and set(underline.strip()) == {"="}, f"{script.name}: the docstring starts with a title"
    assert (TUTORIALS / "GALLERY_HEADER.rst").is_file()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_has_a_tutorial(family: str) -> None:
    calls = FAMILIES[family]
    texts = {p.name: p.read_text(encoding="utf-8") for p in _tutorials()}
    assert any(all(c in text for c in calls) for text in texts.values()), (
        f"no tutorial for {family} (one calling {', '.join(calls)})"
    )


def _statements(code: str) -> list[str]:
    """A script's top-level statements, normalized (comments and layout dropped)."""
    return [ast.unparse(node) for node in ast.parse(code).body]


def test_the_quickstart_tutorial_runs_the_readme_quickstarts() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    quickstarts = [b for b in blocks if "digits_cnn(" in b or "KMeans(" in b]
    assert len(quickstarts) == 2
    tutorial = set(_statements((TUTORIALS / "plot_00_quickstart.py").read_text(encoding="utf-8")))
    for block in quickstarts:
        # the same statements, except that the tutorial shows its figures instead of saving them
        # (and spells its imports one per line)
        wanted = [s for s in _statements(block) if "savefig" not in s and not s.startswith(("import ", "from "))]
        assert wanted
        missing = [s for s in wanted if s not in tutorial]
        assert not missing, f"docs/tutorials/plot_00_quickstart.py lacks the README's {missing}"


def test_the_api_covers_the_subpackages_named_in_the_issue() -> None:
    named = {"core", "lrp", "rules", "engine", "gradients", "perturbation", "neon", "attention", "evaluate",
             "store", "analysis", "plot", "report", "models", "datasets"}
    assert {f"xaikit.{n}" for n in named} <= set(PUBLIC)


@pytest.mark.parametrize("package", PUBLIC)
def test_every_public_subpackage_has_an_api_page(package: str) -> None:
    page = DOCS / "api" / f"{package}.rst"
    assert page.is_file(), f"no API page docs/api/{package}.rst"
    text = page.read_text(encoding="utf-8")
    assert re.search(rf"^\.\. automodule:: {re.escape(package)}\n   :members:", text, re.MULTILINE)
    assert package in _toctree(DOCS / "api" / "index.rst")


def test_the_index_links_every_page() -> None:
    entries = _toctree(DOCS / "index.rst")
    assert {"installation", "auto_tutorials/index", "api/index"} <= set(entries)
    notes = {p.stem for p in DOCS.glob("*.md")}
    assert notes and notes <= set(entries), "every Markdown note of docs/ is part of the site"


def test_installation_names_every_extra() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    text = (DOCS / "installation.rst").read_text(encoding="utf-8")
    for extra in extras:
        assert f"``{extra}``" in text, f"docs/installation.rst does not describe the {extra!r} extra"
    # the test command installs dev, so the docs build has what it needs
    name = re.compile(r"^[A-Za-z0-9_.-]+")
    dev = {name.match(r).group(0).lower() for r in extras["dev"]}  # type: ignore[union-attr]
    assert {name.match(r).group(0).lower() for r in extras["docs"]} <= dev  # type: ignore[union-attr]


def test_the_test_command_builds_the_site_with_warnings_as_errors() -> None:
    docs_sh = (ROOT / "scripts" / "docs.sh").read_text(encoding="utf-8")
    assert re.search(r"-m sphinx .*-W .*-b html docs docs/_build/html", docs_sh)
    test_sh = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8").splitlines()
    assert "bash scripts/docs.sh" in test_sh
    assert test_sh.index("bash scripts/docs.sh") < next(i for i, line in enumerate(test_sh) if "pytest" in line)


def test_the_scraper_saves_each_new_figure_once(tmp_path: Path) -> None:
    pytest.importorskip("sphinx_gallery")
    from matplotlib.figure import Figure

    spec = importlib.util.spec_from_file_location("xaikit_gallery", DOCS / "_ext" / "xaikit_gallery.py")
    assert spec is not None and spec.loader is not None
    scraper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scraper)

    import matplotlib.pyplot as plt

    plt.close("all")  # pyplot figures left open by earlier tests in this process would be scraped too
    one, two = Figure(), Figure()
    one.add_subplot().plot([0, 1])
    paths = (tmp_path / f"image_{i}.png" for i in range(10))
    block_vars = {"example_globals": {"fig": one, "axes": two.add_subplot(), "n": 3}, "image_path_iterator": paths}
    conf = {"src_dir": str(tmp_path)}
    first = scraper.scrape_figures(None, block_vars, conf)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["image_0.png", "image_1.png"]
    assert "image_0.png" in first and "image_1.png" in first
    assert scraper.scrape_figures(None, block_vars, conf) == ""  # already shown: not again
