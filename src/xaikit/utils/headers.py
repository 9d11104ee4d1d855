"""The check every xaikit file format makes first: its JSON header names the format and a
version this xaikit reads (explanation files, run folders, explanation stores)."""

from __future__ import annotations

from typing import Any

__all__ = ["check_header"]


def check_header(record: Any, *, name: str, version: int, what: str, error: type[Exception]) -> dict[str, Any]:
    """Return ``record`` if it is a dict with ``format == name`` and ``version == version``.

    Parameters
    ----------
    record : object
        The decoded JSON header.
    name : str
        The format's name, for example ``"xaikit.explanation"``.
    version : int
        The version this xaikit reads.
    what : str
        The file or folder, and what it should be ("x.npz: not an xaikit explanation file").
    error : type of Exception
        Raised with a message naming the problem.

    Returns
    -------
    dict
    """
    if not isinstance(record, dict):
        raise error(f"{what} (malformed metadata)")
    if record.get("format") != name:
        raise error(f"{what} (format {record.get('format')!r})")
    if record.get("version") != version:
        raise error(
            f"{what.split(':')[0]}: format {name!r} version {record.get('version')!r} is not supported "
            f"(this xaikit reads version {version}); use the xaikit version that wrote it"
        )
    return record
