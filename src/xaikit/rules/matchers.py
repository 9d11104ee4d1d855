"""Matchers: which operations a composite's rule applies to.

A matcher is called with the :class:`~xaikit.engine.LayerInfo` of an operation and
returns whether it matches. Matchers that can only ever match some operation kinds
declare them in ``kinds`` (``None``: any kind), so that a composite can check at
construction that the rule it pairs with a matcher serves those kinds.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from xaikit.engine.kinds import LAYER_KINDS, OpKind
from xaikit.engine.layer import LayerInfo

Matcher = Callable[[LayerInfo], bool]


def kinds_of(matcher: Matcher) -> frozenset[OpKind] | None:
    """The kinds ``matcher`` can match (``None``: it does not say, so any kind)."""
    kinds = getattr(matcher, "kinds", None)
    if kinds is None:
        return None
    return frozenset(OpKind.parse(k) for k in kinds)


@dataclass(frozen=True)
class Kind:
    """Match operations by kind (see :class:`~xaikit.engine.OpKind`): ``Kind("conv", "dense")``.

    A name that is not a kind raises ``ValueError`` listing the kinds.
    """

    kinds: frozenset[OpKind]

    def __init__(self, *kinds: str | OpKind) -> None:
        if not kinds:
            raise ValueError("Kind() needs at least one operation kind")
        object.__setattr__(self, "kinds", frozenset(OpKind.parse(k) for k in kinds))

    def __call__(self, info: LayerInfo) -> bool:
        return info.kind in self.kinds

    def __repr__(self) -> str:
        return f"Kind({', '.join(repr(k.value) for k in sorted(self.kinds, key=lambda k: k.value))})"


@dataclass(frozen=True)
class LayerType:
    """Match operations performed by modules of the given types (for example ``nn.Conv2d``).

    Every operation inside such a module matches (its layer, and also its activations or
    residual sum); a rule paired with it applies to the operations of the kinds it serves.
    """

    types: tuple[type[nn.Module], ...]

    def __init__(self, *types: type[nn.Module]) -> None:
        object.__setattr__(self, "types", types)

    def __call__(self, info: LayerInfo) -> bool:
        return info.module is not None and isinstance(info.module, self.types)


@dataclass(frozen=True)
class LayerName:
    """Match operations performed by modules whose qualified name matches a glob pattern."""

    patterns: tuple[str, ...]

    def __init__(self, *patterns: str) -> None:
        object.__setattr__(self, "patterns", patterns)

    def __call__(self, info: LayerInfo) -> bool:
        return any(fnmatch.fnmatchcase(info.name, p) for p in self.patterns)


@dataclass(frozen=True)
class FirstLayer:
    """Match the first parametric layer (dense or convolution) in forward order."""

    kinds = LAYER_KINDS

    def __call__(self, info: LayerInfo) -> bool:
        return info.is_first


@dataclass(frozen=True)
class KindIndexBelow:
    """Match layers of ``kind`` whose position among that kind is below ``limit``."""

    kind: OpKind
    limit: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", OpKind.parse(self.kind))

    @property
    def kinds(self) -> frozenset[OpKind]:
        """The one kind matched."""
        return frozenset({self.kind})

    def __call__(self, info: LayerInfo) -> bool:
        return info.kind == self.kind and 0 <= info.kind_index < self.limit


@dataclass(frozen=True)
class All:
    """Match when every given matcher matches."""

    matchers: tuple[Matcher, ...]

    def __init__(self, *matchers: Matcher) -> None:
        object.__setattr__(self, "matchers", matchers)

    @property
    def kinds(self) -> frozenset[OpKind] | None:
        """The kinds every sub-matcher can match."""
        out: frozenset[OpKind] | None = None
        for matcher in self.matchers:
            kinds = kinds_of(matcher)
            if kinds is not None:
                out = kinds if out is None else out & kinds
        return out

    def __call__(self, info: LayerInfo) -> bool:
        return all(m(info) for m in self.matchers)
