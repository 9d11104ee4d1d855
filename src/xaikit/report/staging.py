"""Output written all at once: files and folders are built aside, then renamed into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from xaikit.utils.errors import XaikitError
from xaikit.utils.permissions import as_if_created


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename (never partial).

    Parameters
    ----------
    path : str or Path
        The file; its folder is created if missing.
    data : bytes
        The content.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        as_if_created(tmp)  # mkstemp's 0600 would keep the file from anyone else
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


class OutputFolderError(XaikitError, ValueError):
    """The output folder cannot be (re)placed: it is a file, or a foreign non-empty folder."""


#: A folder holding this file was written by xaikit and may be replaced by a new run.
RUN_MARKER = "run.json"


def check_replaceable(target: Path, *, force: bool) -> None:
    """Raise :class:`OutputFolderError` unless ``target`` is absent, empty, an earlier xaikit run, or ``force`` is set."""
    if not target.exists():
        return
    if not target.is_dir():
        raise OutputFolderError(f"output path {str(target)!r} exists and is not a folder")
    if force or not any(target.iterdir()) or (target / RUN_MARKER).is_file():
        return
    raise OutputFolderError(
        f"output folder {str(target)!r} is not empty and was not written by xaikit; "
        "choose another --out or pass --force to replace it"
    )


@contextlib.contextmanager
def staged_output(target: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``target`` only if the block succeeds.

    On an exception the temporary folder (and any parent folder created for it) is
    removed and ``target`` is left as it was: nothing partial is ever visible.

    Parameters
    ----------
    target : str or Path
        The output folder.
    force : bool
        Replace ``target`` even if it is a non-empty folder not written by xaikit.
    """
    final = Path(target).absolute()
    check_replaceable(final, force=force)
    created: list[Path] = []
    parent = final.parent
    while not parent.exists():
        created.append(parent)
        parent = parent.parent
    for folder in reversed(created):
        folder.mkdir()
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    as_if_created(staging)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        os.replace(final, old / "previous")
    os.replace(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
