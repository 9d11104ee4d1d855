"""SHA-256 digests of tensors and arrays: names, dtypes, shapes and bytes.

Used where xaikit must tell whether two sets of weights or data are the same: the
checksum of the trained-weights cache, and the fingerprints of an explanation store
(the model explained, each chunk of its inputs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["array_bytes", "tensors_digest"]


def array_bytes(value: Tensor | np.ndarray) -> bytes:
    """The raw bytes of a tensor or array in C order (bfloat16 by its bit pattern).

    Parameters
    ----------
    value : torch.Tensor or numpy.ndarray

    Returns
    -------
    bytes
    """
    if isinstance(value, Tensor):
        tensor = value.detach().cpu().contiguous()
        return tensor.reshape(-1).view(torch.uint8).numpy().tobytes()
    return np.ascontiguousarray(value).tobytes()


def tensors_digest(entries: Mapping[str, Any] | Iterable[tuple[str, Any]], *, skip: Iterable[str] = ()) -> bytes:
    """SHA-256 of named tensors or arrays: each name, dtype, shape and bytes, in name order.

    Parameters
    ----------
    entries : mapping or iterable of (str, tensor or array)
        The named values (a ``state_dict``, the arrays of one chunk).
    skip : iterable of str
        Names left out (a checksum stored among the entries).

    Returns
    -------
    bytes
        The 32-byte digest; the same for equal values whatever the order given.
    """
    items = dict(entries.items() if isinstance(entries, Mapping) else entries)
    left_out = set(skip)
    digest = hashlib.sha256()
    for key in sorted(items):
        if key in left_out:
            continue
        value = items[key]
        dtype = value.dtype
        digest.update(f"{key}\0{dtype}\0{tuple(value.shape)}\0".encode())
        digest.update(array_bytes(value))
    return digest.digest()
