"""Relevance read for an analysis: from an array in memory or from an explanation store,
always a bounded number of samples at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import Tensor

from xaikit.core.explanation import Explanation
from xaikit.store.layout import ExplanationStore, StoreError
from xaikit.utils.errors import InputError

__all__ = ["RelevanceRows", "as_rows"]

#: Samples read at once from an array in memory (a store is read by its own chunks).
BLOCK = 4096


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


@dataclass(frozen=True)
class RelevanceRows:
    """Per-sample relevance ``(N, ...)`` with what the analyses need beside it.

    Parameters
    ----------
    source : array-like or ExplanationStore
        The relevance, or the store holding it.
    method : str, optional
        The store's method (the only one by default).
    """

    source: Any
    method: str | None = None
    outputs: Any = None
    targets: Any = None

    @property
    def store(self) -> ExplanationStore | None:
        return self.source if isinstance(self.source, ExplanationStore) else None

    def _array(self) -> Any:
        return self.store.attribution(self.method) if self.store is not None else self.source

    @property
    def samples(self) -> int:
        return int(self._array().shape[0])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self._array().shape[1:])

    def blocks(self, indices: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(sample indices, relevance rows)`` blocks, bounded in size.

        Parameters
        ----------
        indices : numpy.ndarray of int, optional
            The samples to read, in this order (all, in sample order, by default).

        Yields
        ------
        tuple of numpy.ndarray
            The indices of a block and their relevance ``(n, ...)``.
        """
        array = self._array()
        step = self.store.chunk_size if self.store is not None else BLOCK
        if indices is None:
            for start in range(0, self.samples, step):
                stop = min(start + step, self.samples)
                yield np.arange(start, stop), _numpy(array[start:stop])
            return
        for start in range(0, len(indices), step):
            picks = indices[start : start + step]
            if self.store is not None:
                rows = np.asarray(array.get_orthogonal_selection((picks,)))
            else:
                rows = _numpy(array[picks]) if isinstance(array, np.ndarray) else _numpy(array)[picks]
            yield picks, rows

    def per_sample(self, name: str, given: Any = None) -> np.ndarray | None:
        """A per-sample array: ``given`` if any, else the store's ``name`` (``None`` if absent).

        Parameters
        ----------
        name : str
            ``"output"``, ``"delta"`` (of the method) or a store array; also names ``given``
            in error messages.
        given : array-like or str, optional
            Values with one entry per sample, or the name of a store array.

        Returns
        -------
        numpy.ndarray or None
        """
        if given is not None:
            if isinstance(given, str):
                if self.store is None:
                    raise InputError(f"{given!r} names a store array, but the relevance is not a store")
                return self.store.read(given)
            values = _numpy(given)
            if values.shape[:1] != (self.samples,):
                raise InputError(f"{name} must have one entry per sample ({self.samples}), got shape {values.shape}")
            return values
        if self.store is None:
            if name == "delta" and self.outputs is not None:
                return self._deltas()
            return None if name != "output" or self.outputs is None else _numpy(self.outputs)
        path = name if name in self.store.array_names() else f"methods/{self.store.method_name(self.method)}/{name}"
        return self.store.read(path) if path in self.store.array_names() else None

    def _deltas(self) -> np.ndarray:
        """Explained output minus relevance sum per sample (an explanation in memory)."""
        sums = np.concatenate([block.reshape(len(block), -1).astype(np.float64).sum(1) for _, block in self.blocks()])
        return _numpy(self.outputs).astype(np.float64) - sums

    def groups(self, samples: Any) -> np.ndarray | None:
        """The group of each sample: ``None`` (one group), a store array's name or one label per sample.

        Parameters
        ----------
        samples : None, str or array-like
            ``"label"`` reads a store's labels (its predictions when it holds none), or an
            explanation's explained classes.

        Returns
        -------
        numpy.ndarray or None
        """
        if samples is None:
            return None
        if isinstance(samples, str):
            if samples == "label" and self.store is None and self.targets is not None:
                return _numpy(self.targets)  # an explanation's classes
            if self.store is None:
                raise InputError(
                    f"samples={samples!r} names a store array, but the relevance is in memory; give one label "
                    "per sample (or None for one group)"
                )
            names = self.store.array_names()
            if samples == "label" and samples not in names and "prediction" in names:
                samples = "prediction"
            if samples not in names:
                raise InputError(f"the store has no per-sample array {samples!r}; it has {names}")
        return self.per_sample("samples", samples)

    def inputs(self, indices: np.ndarray) -> np.ndarray | None:
        """The inputs of samples ``indices`` when the store holds them (else ``None``).

        Parameters
        ----------
        indices : numpy.ndarray of int

        Returns
        -------
        numpy.ndarray or None
        """
        if self.store is None or "inputs" not in self.store.array_names():
            return None
        return self.store.read("inputs", indices)


def as_rows(relevance: Any, method: str | None = None) -> RelevanceRows:
    """The :class:`RelevanceRows` of an array, tensor, :class:`~xaikit.Explanation` or store.

    Parameters
    ----------
    relevance : array-like, torch.Tensor, Explanation or ExplanationStore
        ``(N, ...)`` relevance; a store must be complete.
    method : str, optional
        The store's method.

    Returns
    -------
    RelevanceRows

    Raises
    ------
    StoreError
        For a store with chunks not done (its rows would be fill values).
    """
    if isinstance(relevance, RelevanceRows):
        return relevance
    if isinstance(relevance, Explanation):
        return RelevanceRows(relevance.attribution, None, relevance.output, relevance.target)
    if isinstance(relevance, ExplanationStore):
        if not relevance.complete:
            missing = int((~relevance.done_chunks()).sum())
            raise StoreError(
                f"the store {relevance.path} is not complete ({missing} of {relevance.chunk_count} chunks not done); "
                "finish it by running explain_dataset again with the same arguments"
            )
    else:
        if method is not None:
            raise InputError("method= names a method of a store; the relevance given is an array")
        shape = getattr(relevance, "shape", None)
        if shape is None or len(shape) < 2:
            raise InputError(
                "relevance must be (N, ...) with one row per sample (an array, a tensor, an Explanation or a store), "
                f"got {type(relevance).__name__} of shape {shape}"
            )
    return RelevanceRows(relevance, method)
