"""Small helpers for the sentences that end each demo section ("What to conclude")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def ranked(values: Mapping[str, float], *, higher_first: bool = True) -> list[tuple[str, float]]:
    """``values`` as ``(name, value)`` pairs, best first (NaN last).

    Parameters
    ----------
    values : mapping of str to float
        A score per method (or group).
    higher_first : bool
        Whether a larger value is better.

    Returns
    -------
    list of (str, float)
    """
    def key(item: tuple[str, float]) -> tuple[bool, float]:
        value = item[1]
        missing = value != value  # NaN
        return missing, 0.0 if missing else (-value if higher_first else value)

    return sorted(values.items(), key=key)


def enumeration(names: Iterable[str], *, empty: str = "none") -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"`` (``empty`` when there is none)."""
    items = list(names)
    if not items:
        return empty
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} and {items[-1]}"
