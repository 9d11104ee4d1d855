"""Explaining chunks on a Dask cluster: the model and the data source go to every worker
once; each task explains one chunk and writes its own region of the store (no gather of
explanations on one node)."""

from __future__ import annotations

import hashlib
import logging
import pickle
from typing import Any

from xaikit.core.base import Model
from xaikit.store.chunks import Job, explain_chunk
from xaikit.store.sources import DataSource
from xaikit.utils.progress_bars import progress as progress_bar

__all__ = ["local_cluster", "run_on_dask"]

#: Models unpickled in this (worker) process, by the SHA-256 of their pickle.
_MODELS: dict[str, Model] = {}


def _explain_shipped(job: Job, model_bytes: bytes, digest: str, source: DataSource, index: int) -> int:
    """A task: the model is unpickled once per worker process, then reused by its tasks."""
    model = _MODELS.get(digest)
    if model is None:
        _MODELS.clear()  # one model at a time per worker
        model = _MODELS[digest] = pickle.loads(model_bytes)  # our own pickle of the caller's model
    return explain_chunk(job, model, source, index)


def local_cluster(workers: int) -> Any:
    """A ``dask.distributed.LocalCluster`` of ``workers`` single-threaded worker processes.

    Dask starts its workers with one math thread each (``OMP_NUM_THREADS=1``), so the
    processes do not compete for cores.

    Parameters
    ----------
    workers : int
        The number of worker processes.

    Returns
    -------
    dask.distributed.LocalCluster
    """
    from dask.distributed import LocalCluster

    return LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=logging.ERROR,
    )


def run_on_dask(
    job: Job,
    model: Model,
    source: DataSource,
    pending: list[int],
    *,
    workers: int | None,
    client: Any,
    progress: bool | None,
) -> None:
    """Explain chunks ``pending`` as Dask tasks, on ``client`` or on a new local cluster.

    Parameters
    ----------
    job : Job
        What to compute and where to write.
    model : torch.nn.Module or callable
        Shipped to each worker once (``Client.scatter(..., broadcast=True)``).
    source : DataSource
        Shipped once as well; each task reads its own chunk from it.
    pending : list of int
        The chunks to compute.
    workers : int, optional
        The size of the local cluster to start when ``client`` is ``None``.
    client : dask.distributed.Client, optional
        The cluster to use.
    progress : bool, optional
        Show a progress bar over finished chunks.
    """
    from dask.distributed import Client, as_completed

    cluster = None
    if client is None:
        cluster = local_cluster(int(workers or 2))
        client = Client(cluster)
    try:
        # Dask's own torch serializer rebuilds modules without their hook dicts, so the
        # model travels as one pickle (cloudpickle: classes defined in __main__ too).
        import cloudpickle

        model_bytes = cloudpickle.dumps(model)
        digest = hashlib.sha256(model_bytes).hexdigest()
        shipped_model, shipped_source, shipped_job = (
            client.scatter(value, broadcast=True, hash=False) for value in (model_bytes, source, job)
        )
        futures = [
            client.submit(_explain_shipped, shipped_job, shipped_model, digest, shipped_source, index, pure=False)
            for index in pending
        ]
        try:
            for future in progress_bar(as_completed(futures), total=len(futures), desc="explaining chunks",
                                       enabled=progress):
                future.result()  # raises a task's error here
        except BaseException:
            client.cancel(futures)  # on the caller's own cluster too: no orphaned tasks keep writing
            raise
    finally:
        if cluster is not None:
            client.close()
            cluster.close()
