"""Modes of files and folders written through temporary names.

``tempfile.mkstemp`` creates files readable by their owner only (0600) and
``tempfile.mkdtemp`` such folders (0700), whatever the umask; renamed into place, a report
or store written that way could not be opened by anyone else. :func:`as_if_created`
gives them the mode a plain ``open`` or ``mkdir`` would have (0666 or 0777 less the umask).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["as_if_created", "current_umask"]


def current_umask() -> int:
    """The process's umask, read without changing it where the system tells (Linux), else set and restored."""
    try:
        match = re.search(r"^Umask:\s+([0-7]+)$", Path("/proc/self/status").read_text(), flags=re.MULTILINE)
    except OSError:
        match = None
    if match is not None:
        return int(match.group(1), 8)
    mask = os.umask(0o022)  # pragma: no cover - not Linux
    os.umask(mask)  # pragma: no cover
    return mask  # pragma: no cover


def as_if_created(path: str | os.PathLike[str]) -> None:
    """Give ``path`` the mode ``open``/``mkdir`` would have given it: 0666 (files) or 0777 (folders) less the umask.

    Parameters
    ----------
    path : str or os.PathLike
        A file or folder just made by ``tempfile``.
    """
    target = Path(path)
    base = 0o777 if target.is_dir() else 0o666
    os.chmod(target, base & ~current_umask())
