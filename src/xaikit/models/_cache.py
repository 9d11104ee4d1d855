"""The on-disk cache of trained weights: checked location, checksummed file, finite weights.

A cache file is the model's ``state_dict`` plus one more entry, :data:`CHECKSUM_KEY`:
the SHA-256 of every other entry's name, dtype, shape and bytes, as a ``uint8`` tensor.
It is read with ``torch.load(..., weights_only=True)``, so it never runs code.

What happens with a bad cache:

- a cache folder that is a file, or a cache file that is a folder: an error before any
  training (writing the trained weights could not succeed);
- a file that is not a mapping of names to tensors (so probably not xaikit's): an error
  naming it, without overwriting it;
- an xaikit cache that is unreadable, corrupted (checksum mismatch), lacks the checksum
  (written by an older xaikit), holds non-finite weights or does not fit the
  architecture: a :class:`RuntimeWarning` saying so, then the model is trained again
  (training is deterministic) and the file replaced.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import torch
from torch import Tensor, nn

from xaikit.utils.digest import tensors_digest

CHECKSUM_KEY = "xaikit.sha256"

_M = TypeVar("_M", bound=nn.Module)


def state_digest(state: Mapping[str, Tensor]) -> bytes:
    """SHA-256 of a state dict's entries (names, dtypes, shapes, bytes), checksum left out.

    Parameters
    ----------
    state : mapping of str to torch.Tensor
        The weights.

    Returns
    -------
    bytes
        The 32-byte digest; the same for equal weights whatever the dict's order.
    """
    return tensors_digest(state, skip=(CHECKSUM_KEY,))


def check_location(path: Path) -> None:
    """Raise before any training if the cache file could not be written at ``path``.

    Parameters
    ----------
    path : pathlib.Path
        Where the cache file goes.

    Raises
    ------
    IsADirectoryError
        If ``path`` is a folder.
    NotADirectoryError
        If the cache folder, or a folder above it, is a file.
    PermissionError
        If the nearest existing folder cannot be written.
    """
    fix = "pass cache_dir= (or set XAIKIT_CACHE) to another folder"
    if path.is_dir():
        raise IsADirectoryError(
            f"the model cache file {str(path)!r} is a folder; remove or rename that folder, or {fix}"
        )
    for folder in path.parents:
        if folder.exists():
            if not folder.is_dir():
                raise NotADirectoryError(
                    f"the model cache folder {str(path.parent)!r} cannot be created: {str(folder)!r} "
                    f"is a file; move that file away, or {fix}"
                )
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(f"the model cache folder {str(folder)!r} is not writable; {fix}")
            return


def _retrain_warning(path: Path, problem: str) -> None:
    warnings.warn(
        f"the cached weights {str(path)!r} {problem}; training the model again and replacing them",
        RuntimeWarning,
        stacklevel=5,  # the caller of digits_cnn or digits_vgg
    )


def load_cached(path: Path, factory: Callable[[], _M]) -> _M | None:
    """The model in the cache file, or ``None`` (with a warning) if it must be trained again.

    Parameters
    ----------
    path : pathlib.Path
        The cache file (it may be missing).
    factory : callable
        Builds the untrained architecture. It runs under :func:`torch.random.fork_rng`,
        so loading leaves the global random state as it was.

    Returns
    -------
    torch.nn.Module or None
        The loaded model; ``None`` if the file is missing or, with a
        :class:`RuntimeWarning`, unreadable, corrupted, without checksum, non-finite or
        stale.

    Raises
    ------
    ValueError
        If the file holds something other than a mapping of names to tensors.
    """
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # the safe unpickler raises many types on a damaged file
        if isinstance(error, MemoryError):
            raise
        _retrain_warning(path, f"cannot be read as a PyTorch weights file ({type(error).__name__})")
        return None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()
    ):
        raise ValueError(
            f"the model cache file {str(path)!r} holds a {type(state).__name__} that is not a "
            "mapping of names to tensors, so it was not written by xaikit; move or delete it, "
            "or pass retrain=True to overwrite it"
        )
    stored = state.pop(CHECKSUM_KEY, None)
    if stored is None:
        _retrain_warning(path, "have no checksum (written by an older xaikit)")
        return None
    if stored.dtype != torch.uint8 or bytes(stored.tolist()) != state_digest(state):
        _retrain_warning(path, "are corrupted (their SHA-256 checksum does not match)")
        return None
    if not all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point()):
        _retrain_warning(path, "hold NaN or infinite values")
        return None
    with torch.random.fork_rng(devices=[]):  # the initialisation draws from the global RNG
        model = factory()
    try:
        model.load_state_dict(state)
    except RuntimeError:
        _retrain_warning(path, f"do not fit the current {type(model).__name__}")
        return None
    return model


def save_cached(state: Mapping[str, Tensor], path: Path) -> None:
    """Write ``state`` and its checksum to ``path`` atomically (a temporary file, then a rename).

    Parameters
    ----------
    state : mapping of str to torch.Tensor
        The weights.
    path : pathlib.Path
        The cache file; its folder is created if missing.
    """
    entries = dict(state)
    entries[CHECKSUM_KEY] = torch.tensor(list(state_digest(entries)), dtype=torch.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(entries, fh)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
