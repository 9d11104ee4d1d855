"""Whole data sets: explain every sample into a resumable Zarr store, locally or on Dask.

- :func:`explain_dataset` (also ``xaikit.explain_dataset``) explains a data set chunk
  by chunk into a store, resumable after a crash, on one process or a Dask cluster;
- :class:`ExplanationStore` (:func:`open_store`) reads a store chunk by chunk, as
  explanations in memory, or as Dask arrays;

Needs the ``datasets`` extra (zarr, dask[distributed], h5py).
"""

from xaikit.store.layout import ExplanationStore, StoreError, open_store
from xaikit.store.runner import explain_dataset

__all__ = [
    "ExplanationStore",
    "StoreError",
    "explain_dataset",
    "open_store",
]
