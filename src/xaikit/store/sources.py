"""What ``explain_dataset`` reads: a tensor, an array, an on-disk array or a torch data set.

Every source is read one chunk of consecutive samples at a time, so memory stays bounded
by the chunk size, however many samples there are. A source is picklable, so a Dask
cluster ships it to its workers once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, SequentialSampler

from xaikit.utils.errors import InputError

__all__ = ["Chunk", "DataSource", "as_source"]


@dataclass(frozen=True)
class Chunk:
    """Samples ``start:stop`` of a source: the inputs and, when known, their labels."""

    start: int
    stop: int
    inputs: Tensor
    labels: Tensor | None


def _as_tensor(value: Any, what: str) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach()
    array = np.asarray(value)
    if array.dtype.hasobject:
        raise InputError(f"{what} holds Python objects ({array.dtype}); give numbers")
    array = np.ascontiguousarray(array)
    return torch.from_numpy(array if array.flags.writeable else array.copy())  # a memmap's rows are read-only


def _labels_tensor(labels: Any, samples: int) -> Tensor:
    tensor = _as_tensor(labels, "labels")
    if tensor.ndim != 1 or len(tensor) != samples:
        raise InputError(f"labels must have one entry per sample ({samples}), got shape {tuple(tensor.shape)}")
    if tensor.is_floating_point() or tensor.is_complex():
        raise InputError(f"labels must be integers (class indices), got {tensor.dtype}")
    return tensor.to(torch.long)


class DataSource:
    """Samples read by chunks.

    Parameters
    ----------
    data : tensor, array or array-like
        Anything with ``shape``, ``dtype``, ``len`` and slicing along the first axis: a
        tensor, a NumPy array or memmap, a Zarr or HDF5 array, a Dask array.
    labels : array-like of int, optional
        One class index per sample.
    """

    def __init__(self, data: Any, labels: Any = None) -> None:
        shape = getattr(data, "shape", None)
        if shape is None or len(shape) < 1:
            raise InputError(
                f"cannot read samples from a {type(data).__name__}: give a tensor, an array with a sample "
                "axis first, an array-like with shape and slicing (Zarr, HDF5, memmap), or a torch Dataset"
            )
        self.data = data
        self.samples = int(shape[0])
        self.labels = None if labels is None else _labels_tensor(labels, self.samples)

    def __len__(self) -> int:
        return self.samples

    def read(self, start: int, stop: int) -> Chunk:
        """Samples ``start:stop`` as a CPU tensor (and their labels)."""
        rows = self.data[start:stop]
        if hasattr(rows, "compute"):  # a Dask array
            rows = rows.compute()
        inputs = _as_tensor(rows, "the data")
        labels = None if self.labels is None else self.labels[start:stop]
        return Chunk(start, stop, inputs, labels)


class DatasetSource(DataSource):
    """Samples of a map-style torch ``Dataset``, whose items are inputs or ``(input, label, ...)``.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Must have ``len`` and integer indexing.
    labels : array-like of int, optional
        Labels; by default the second entry of each item when items are tuples.
    """

    def __init__(self, dataset: Dataset[Any], labels: Any = None) -> None:
        if not hasattr(dataset, "__len__"):
            raise InputError("an iterable-style Dataset has no length; give a map-style Dataset (with __len__)")
        self.data = dataset
        self.samples = len(dataset)
        self.labels = None if labels is None else _labels_tensor(labels, self.samples)

    def read(self, start: int, stop: int) -> Chunk:
        items = [self.data[i] for i in range(start, stop)]
        labels: Tensor | None
        if items and isinstance(items[0], Sequence) and not isinstance(items[0], Tensor | str):
            inputs = torch.stack([_as_tensor(item[0], "the data set's inputs") for item in items])
            if self.labels is None and len(items[0]) > 1:
                labels = torch.as_tensor([int(item[1]) for item in items], dtype=torch.long)
            else:
                labels = None if self.labels is None else self.labels[start:stop]
        else:
            inputs = torch.stack([_as_tensor(item, "the data set's items") for item in items])
            labels = None if self.labels is None else self.labels[start:stop]
        return Chunk(start, stop, inputs, labels)


class HDF5Source(DataSource):
    """Samples of an HDF5 dataset, named by file and dataset, opened where they are read.

    An open ``h5py`` dataset cannot be pickled; this source can, so each Dask worker opens
    the file itself (read only).

    Parameters
    ----------
    path : str or os.PathLike
        The HDF5 file.
    dataset : str
        The dataset holding the samples, sample axis first.
    labels : array-like of int, optional
        One class index per sample.
    """

    def __init__(self, path: Any, dataset: str, labels: Any = None) -> None:
        import h5py

        self.path, self.dataset = str(path), dataset
        with h5py.File(self.path, "r") as file:
            if dataset not in file:
                raise InputError(f"{self.path} has no dataset {dataset!r}; it has {list(file)}")
            self.samples = int(file[dataset].shape[0])
        self.data = None
        self.labels = None if labels is None else _labels_tensor(labels, self.samples)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "data": None}  # the open file stays behind

    def read(self, start: int, stop: int) -> Chunk:
        if self.data is None:
            import h5py

            self.data = h5py.File(self.path, "r")[self.dataset]
        return super().read(start, stop)

    def close(self) -> None:
        """Close the file if this process opened it."""
        if self.data is not None:
            self.data.file.close()
            self.data = None


def as_source(data: Any, labels: Any = None) -> DataSource:
    """The :class:`DataSource` reading ``data``.

    Parameters
    ----------
    data : tensor, array, array-like, Dataset or DataLoader
        A ``DataLoader`` is read through its data set, in order; one that shuffles or
        samples is refused (the order must be the same at every pass, or a restarted
        run would mix samples).
    labels : array-like of int, optional
        One class index per sample.

    Returns
    -------
    DataSource
    """
    if isinstance(data, DataSource):
        if labels is not None:
            raise InputError("give the labels to the DataSource itself, not beside it")
        return data
    if isinstance(data, DataLoader):
        if not isinstance(data.sampler, SequentialSampler):
            raise InputError(
                f"the DataLoader draws samples with a {type(data.sampler).__name__}, so each pass gives another "
                "order and a resumed run would mix samples; pass its dataset, or a DataLoader with shuffle=False"
            )
        data = data.dataset
    if isinstance(data, Dataset) and not hasattr(data, "shape"):
        return DatasetSource(data, labels)
    return DataSource(data, labels)
