"""A registry of demo sections, so that each analysis of the project contributes its own."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xaikit.utils.registry import Registry

if TYPE_CHECKING:
    from xaikit.demo.context import DemoContext
    from xaikit.report import Section

Builder = Callable[["DemoContext"], "Section"]


class SkipSection(Exception):
    """Raised by a section builder that cannot run here; the reason is shown in the report."""


@dataclass(frozen=True)
class DemoSection:
    """One part of the demo.

    Attributes
    ----------
    name : str
        Key used by ``xaikit demo --only/--skip``.
    title : str
        Heading in the report.
    build : callable
        ``build(context) -> Section``; may raise :class:`SkipSection`.
    order : int
        Position in the report (smaller first).
    requires : tuple of str
        What must exist for the section to run: module names (``"xaikit.neon"``) or
        attributes (``"xaikit.neon:neuralize"``). The section is skipped, with a note
        in the report, while any is missing.
    """

    name: str
    title: str
    build: Builder
    order: int = 100
    requires: tuple[str, ...] = ()

    def missing(self) -> list[str]:
        """The requirements that are not met (empty when the section can run)."""
        absent = []
        for requirement in self.requires:
            module_name, _, attribute = requirement.partition(":")
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                absent.append(requirement)
                continue
            if attribute and not hasattr(module, attribute):
                absent.append(requirement)
        return absent


_SECTIONS: Registry[DemoSection] = Registry("demo section")


def register_section(
    name: str, title: str, *, order: int = 100, requires: tuple[str, ...] = ()
) -> Callable[[Builder], Builder]:
    """Decorator registering a section builder for ``xaikit demo``.

    Parameters
    ----------
    name : str
        Unique key (lowercase, dashes).
    title : str
        Heading in the report.
    order : int
        Position in the report (built-in sections use 10, 20, ...).
    requires : tuple of str
        Modules or ``module:attribute`` the section needs (see :class:`DemoSection`).

    Examples
    --------
    >>> from xaikit.report import Section
    >>> @register_section("hello", "Hello", order=999)  # doctest: +SKIP
    ... def hello(context):
    ...     return Section("Hello").add_text("hi")
    """

    return _SECTIONS.decorator(
        name, lambda build: DemoSection(name, title, build, order, tuple(requires)), lambda section: section.build
    )


def unregister_section(name: str) -> None:
    """Remove the demo section ``name`` (``KeyError`` if it is not registered)."""
    _SECTIONS.remove(name)


def available_sections() -> list[DemoSection]:
    """All registered sections in report order (the built-in ones are loaded first)."""
    importlib.import_module("xaikit.demo.sections")
    return sorted(map(_SECTIONS.get, _SECTIONS), key=lambda s: (s.order, s.name))
