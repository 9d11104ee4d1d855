"""The Zarr layout of an explanation store, and :class:`ExplanationStore`, which reads one.

A store is a Zarr (format 3) group; every per-sample array is chunked along the sample
axis with the run's ``chunk_size`` and compressed with Zarr's default codec (Zstandard)::

    store.zarr/
      zarr.json                  attributes["xaikit"]: format, version, spec, provenance
      inputs                     (N, ...)   the inputs explained (unless store_inputs=False)
      logits                     (N, ...)   the model's output
      prediction                 (N,)       argmax of logits (classifiers: logits of shape (N, C))
      label                      (N,)       the labels, when given
      methods/<name>/attribution (N, ...)   one group per method
      methods/<name>/output      (N,)       the explained output per sample
      methods/<name>/target      (N,)       the class explained (-1 for a non-class target)
      methods/<name>/delta       (N,)       explained output minus the attribution's sum
      chunks/input_sha256        (chunks, 32)  SHA-256 of each chunk's inputs
      chunks/sha256              (chunks, 32)  SHA-256 of each chunk's arrays; zeros: not done

A chunk counts as done only when its row of ``chunks/sha256`` matches the digest of
what is read back: a chunk interrupted while being written, or corrupted later, is
found and computed again. Zarr writes each chunk file atomically (a temporary file
renamed), so readers and concurrent writers never see a torn chunk; a new store is
made in a hidden sibling folder and renamed into place, so none is seen half made.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xaikit.core.explanation import Explanation
from xaikit.utils.digest import tensors_digest
from xaikit.utils.errors import XaikitError
from xaikit.utils.headers import check_header

__all__ = ["FORMAT", "VERSION", "ExplanationStore", "StoreError", "open_store"]

FORMAT = "xaikit.explanation_store"
VERSION = 1
#: The per-method arrays, in digest order.
METHOD_FIELDS = ("attribution", "output", "target", "delta")
DIGEST_BYTES = 32


#: Codecs a store's arrays may use: those xaikit writes and Zarr's other built-in ones,
#: none of which can run code (unlike, say, a pickle codec).
SAFE_CODECS = frozenset({"bytes", "zstd", "blosc", "gzip", "crc32c", "transpose"})
#: Data types a store's arrays may hold: numbers and booleans.
SAFE_DTYPES = frozenset({
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
})


class StoreError(XaikitError, ValueError):
    """A store cannot be used as asked: another run's results, an unknown format, a missing entry."""


def check_safe(path: Path) -> None:
    """Refuse a store whose array metadata names a codec or data type that is not plain numbers.

    Every ``zarr.json`` is read as JSON before Zarr opens anything, so a store crafted to
    decode through a code-running codec (a pickle, a user-defined class) is refused first.
    """
    for metadata in sorted(path.rglob("zarr.json")):
        try:
            record = json.loads(metadata.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise StoreError(f"{metadata}: not valid Zarr metadata ({error})") from None
        if not isinstance(record, dict) or record.get("node_type") != "array":
            continue
        dtype = record.get("data_type")
        codecs = record.get("codecs") or []
        names = [codec.get("name") if isinstance(codec, dict) else codec for codec in codecs]
        unsafe = [name for name in names if name not in SAFE_CODECS]
        if not isinstance(dtype, str) or dtype not in SAFE_DTYPES or unsafe or record.get("storage_transformers"):
            raise StoreError(
                f"{metadata.parent}: data type {dtype!r} with codecs {names} is not one an xaikit store uses "
                f"(numbers and booleans, codecs {sorted(SAFE_CODECS)}); refusing to read it, since other codecs "
                "can run code"
            )


def _zarr() -> Any:
    try:
        import zarr
    except ImportError as error:  # pragma: no cover - the extra is installed in CI
        raise ImportError(
            "explanation stores need zarr (>= 3); install xaikit[datasets]"
        ) from error
    return zarr


def method_arrays(method: str) -> tuple[str, ...]:
    """The array paths of one method's results."""
    return tuple(f"methods/{method}/{field}" for field in METHOD_FIELDS)


def chunk_bounds(index: int, chunk_size: int, samples: int) -> tuple[int, int]:
    """The samples ``start, stop`` of chunk ``index``."""
    start = index * chunk_size
    return start, min(start + chunk_size, samples)


def sample_indices(index: Any, samples: int) -> np.ndarray:
    """Indices or a boolean mask as sample indices (``int64``), checked against ``samples``."""
    picks = np.asarray(index)
    if picks.dtype == bool:
        if picks.shape != (samples,):
            raise StoreError(f"a boolean mask must have one entry per sample ({samples}), got shape {picks.shape}")
        return np.flatnonzero(picks)
    if picks.ndim != 1 or (picks.size and picks.dtype.kind not in "iu"):
        raise StoreError(f"samples are selected by integer indices or a boolean mask, got {picks.dtype} {picks.shape}")
    picks = picks.astype(np.int64)
    if ((picks < -samples) | (picks >= samples)).any():
        raise StoreError(f"sample indices must lie in [-{samples}, {samples}), got {picks.min()}..{picks.max()}")
    return picks % samples if samples else picks


def chunk_digest(values: dict[str, np.ndarray], input_digest: bytes) -> bytes:
    """The SHA-256 that marks a chunk as done: its arrays and its inputs' digest."""
    return tensors_digest({**values, "chunks/input_sha256": np.frombuffer(input_digest, np.uint8)})


class ExplanationStore:
    """An explanation store on disk (see the module docstring for its layout).

    Parameters
    ----------
    path : str or os.PathLike
        The store's folder.
    mode : {"r", "r+"}
        Read only (default) or read and write.

    Examples
    --------
    >>> store = xaikit.store.open_store("digits.zarr")   # doctest: +SKIP
    >>> store.methods, store.samples, store.complete      # doctest: +SKIP
    (('lrp',), 1797, True)
    >>> for start, stop, values in store.chunks(["methods/lrp/attribution", "label"]):  # doctest: +SKIP
    ...     ...
    """

    def __init__(self, path: str | os.PathLike[str], mode: str = "r") -> None:
        zarr = _zarr()
        self.path = Path(path)
        if not (self.path / "zarr.json").is_file():
            raise StoreError(f"{self.path} is not an explanation store (no zarr.json); create one with explain_dataset")
        check_safe(self.path)
        self.group = zarr.open_group(str(self.path), mode=mode)
        self.record: dict[str, Any] = check_header(
            self.group.attrs.get("xaikit"), name=FORMAT, version=VERSION,
            what=f"{self.path}: a Zarr group but not an xaikit explanation store", error=StoreError,
        )

    @property
    def spec(self) -> dict[str, Any]:
        """What decides the contents: samples, shapes, chunk size, model, methods, target."""
        return dict(self.record["spec"])

    @property
    def provenance(self) -> dict[str, Any]:
        """xaikit version, creation and resume times, the model's and methods' descriptions."""
        return dict(self.record["provenance"])

    @property
    def samples(self) -> int:
        """The number of samples N."""
        return int(self.record["spec"]["samples"])

    @property
    def chunk_size(self) -> int:
        """Samples per chunk."""
        return int(self.record["spec"]["chunk_size"])

    @property
    def chunk_count(self) -> int:
        """The number of chunks."""
        return -(-self.samples // self.chunk_size)

    @property
    def methods(self) -> tuple[str, ...]:
        """The names of the methods stored, in the order given."""
        return tuple(self.record["spec"]["methods"])

    def chunk_bounds(self, index: int) -> tuple[int, int]:
        """The samples ``start, stop`` of chunk ``index``."""
        return chunk_bounds(index, self.chunk_size, self.samples)

    def array(self, name: str) -> Any:
        """The Zarr array ``name`` (``"logits"``, ``"methods/lrp/attribution"``, ...), read lazily."""
        try:
            return self.group[name]
        except KeyError:
            raise StoreError(f"the store {self.path} has no array {name!r}; it has {self.array_names()}") from None

    def array_names(self) -> list[str]:
        """The per-sample arrays of the store, in digest order."""
        return list(self.record["spec"]["arrays"])

    def attribution(self, method: str | None = None) -> Any:
        """The attribution array of ``method`` (the only one by default)."""
        return self.array(f"methods/{self.method_name(method)}/attribution")

    def read(self, name: str, index: slice | Sequence[int] | np.ndarray = slice(None)) -> np.ndarray:
        """Samples ``index`` of array ``name`` as a NumPy array.

        Parameters
        ----------
        name : str
            An array of the store (see :meth:`array_names`, and ``chunks/...``).
        index : slice, sequence of int, or array of int or bool
            The samples: a slice, indices (in any order, negative from the end), or a
            boolean mask with one entry per sample.

        Returns
        -------
        numpy.ndarray
        """
        array = self.array(name)
        if isinstance(index, slice):
            return np.asarray(array[index])
        return np.asarray(array.get_orthogonal_selection((sample_indices(index, int(array.shape[0])),)))

    def method_name(self, method: str | None = None) -> str:
        """The name of ``method`` in the store (the only method when ``None``)."""
        if method is None:
            if len(self.methods) != 1:
                raise StoreError(f"the store holds several methods {self.methods}; name one")
            return self.methods[0]
        if method not in self.methods:
            raise StoreError(f"the store holds no method {method!r}; it holds {self.methods}")
        return method

    def chunks(self, names: Sequence[str], *, only_done: bool = True) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
        """Iterate over the store chunk by chunk: ``(start, stop, {name: values})``.

        Memory is bounded by one chunk of the arrays named.

        Parameters
        ----------
        names : sequence of str
            The arrays to read.
        only_done : bool
            Skip chunks not (yet) computed, instead of reading their fill values.
        """
        arrays = {name: self.array(name) for name in names}
        done = self.done_chunks() if only_done else None
        for index in range(self.chunk_count):
            if done is not None and not done[index]:
                continue
            start, stop = self.chunk_bounds(index)
            yield start, stop, {name: np.asarray(array[start:stop]) for name, array in arrays.items()}

    def done_chunks(self) -> np.ndarray:
        """A boolean per chunk: whether its digest is recorded (not verified; see :meth:`verify`)."""
        digests = np.asarray(self.group["chunks/sha256"][:])
        return np.asarray(digests.any(axis=1))

    @property
    def complete(self) -> bool:
        """Whether every chunk is recorded as done."""
        return bool(self.done_chunks().all())

    def chunk_is_valid(self, index: int) -> bool:
        """Whether chunk ``index`` is recorded as done and its arrays read back to its digest."""
        recorded = bytes(np.asarray(self.group["chunks/sha256"][index]))
        if not any(recorded):
            return False
        start, stop = self.chunk_bounds(index)
        try:
            values = {name: np.asarray(self.group[name][start:stop]) for name in self.array_names()}
            input_digest = bytes(np.asarray(self.group["chunks/input_sha256"][index]))
        except Exception:  # a truncated or corrupt chunk file fails to decode
            return False
        return chunk_digest(values, input_digest) == recorded

    def verify(self) -> list[int]:
        """The chunks that are not done or whose contents do not match their digest."""
        return [index for index in range(self.chunk_count) if not self.chunk_is_valid(index)]

    def explanation(self, method: str | None = None, index: slice | Sequence[int] | np.ndarray = slice(None)) -> Explanation:
        """Samples ``index`` of ``method``'s results as an :class:`~xaikit.Explanation` in memory.

        Parameters
        ----------
        method : str, optional
            The method (the only one by default).
        index : slice, sequence of int, or array of int or bool
            The samples, as in :meth:`read`.

        Returns
        -------
        Explanation
            Attribution, explained output, target (``None`` for a non-class target),
            inputs when stored, and the method's name and described options.
        """
        key = self.method_name(method)
        description = self.record["provenance"]["methods"][key]
        fields = {field: torch.from_numpy(self.read(f"methods/{key}/{field}", index)) for field in METHOD_FIELDS}
        inputs = torch.from_numpy(self.read("inputs", index)) if "inputs" in self.array_names() else None
        target = fields["target"]
        return Explanation(
            attribution=fields["attribution"],
            output=fields["output"],
            target=None if bool((target < 0).all()) else target,
            method=str(description.get("method", key)),
            options=dict(description.get("options") or {}),
            inputs=inputs,
        )

    def to_dask(self, name: str) -> Any:
        """Array ``name`` as a Dask array chunked like the store (read lazily, chunk by chunk).

        Parameters
        ----------
        name : str

        Returns
        -------
        dask.array.Array
        """
        import dask.array as da

        return da.from_zarr(self.array(name))

    def __repr__(self) -> str:
        done = int(self.done_chunks().sum())
        return (
            f"ExplanationStore({str(self.path)!r}, samples={self.samples}, methods={self.methods}, "
            f"chunks done={done}/{self.chunk_count})"
        )


def open_store(path: str | os.PathLike[str], mode: str = "r") -> ExplanationStore:
    """Open an explanation store written by :func:`xaikit.explain_dataset`.

    Parameters
    ----------
    path : str or os.PathLike
        The store's folder.
    mode : {"r", "r+"}

    Returns
    -------
    ExplanationStore
    """
    return ExplanationStore(path, mode)
