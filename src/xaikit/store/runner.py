"""``explain_dataset``: explain every sample of a data set into a resumable explanation store."""

from __future__ import annotations

import numbers
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xaikit.core.base import Explainer, Model
from xaikit.core.registry import make_method
from xaikit.core.wrappers import OutputSelector
from xaikit.store.chunks import (
    ChunkResult,
    Job,
    TargetSpec,
    compute_chunk,
    input_digest,
    write_chunk,
)
from xaikit.store.layout import DIGEST_BYTES, FORMAT, VERSION, ExplanationStore, StoreError, _zarr
from xaikit.store.provenance import describe, model_fingerprint, now, spec_differences
from xaikit.store.sources import Chunk, DataSource, as_source
from xaikit.utils.errors import InputError
from xaikit.utils.permissions import as_if_created
from xaikit.utils.progress_bars import progress as progress_bar

__all__ = ["explain_dataset"]

#: Methods as accepted by explain_dataset: a name, an explainer, several, or named ones.
MethodsLike = str | Explainer | Iterable[str | Explainer] | Mapping[str, str | Explainer]


def _explainers(methods: MethodsLike, options: Mapping[str, Any]) -> dict[str, Explainer]:
    """Named explainers; ``options`` go to a single method given by name."""
    if isinstance(methods, str | Explainer):
        methods = [methods]
    named = dict(methods) if isinstance(methods, Mapping) else {
        (m if isinstance(m, str) else m.name): m for m in methods
    }
    if not named:
        raise InputError("give at least one method, for example methods='lrp'")
    if options and (len(named) != 1 or not isinstance(next(iter(named.values())), str)):
        raise InputError(
            "method options as keyword arguments are for one method given by name; for several methods "
            "pass explainer objects, e.g. {'ig': xaikit.make_method('integrated_gradients', steps=64)}"
        )
    explainers = {}
    for key, method in named.items():
        if not isinstance(key, str) or not key or "/" in key:
            raise InputError(f"method names in a store must be non-empty strings without '/', got {key!r}")
        explainers[key] = make_method(method, **options) if isinstance(method, str) else method
        if not isinstance(explainers[key], Explainer):
            raise InputError(f"method {key!r} is a {type(method).__name__}, neither a method name nor an Explainer")
    return explainers


def _target_spec(target: Any, samples: int) -> TargetSpec:
    if target is None:
        return None
    if isinstance(target, str):
        if target == "label":
            return target
        raise InputError(f"target {target!r} is not known: give None (predicted), 'label', a class or one per sample")
    if isinstance(target, numbers.Integral) and not isinstance(target, bool | np.bool_):
        return int(target)
    tensor = torch.as_tensor(np.asarray(target) if not isinstance(target, Tensor) else target)
    if tensor.ndim != 1 or len(tensor) != samples or tensor.is_floating_point():
        raise InputError(
            f"a per-sample target must be integers of shape ({samples},), got {tuple(tensor.shape)} {tensor.dtype}"
        )
    return tensor.to(torch.long).cpu()


def _spec(job: Job, model: Model, first: Chunk) -> dict[str, Any]:
    return {
        "samples": job.samples,
        "sample_shape": list(first.inputs.shape[1:]),
        "input_dtype": str(first.inputs.dtype),
        "labels": first.labels is not None,
        "chunk_size": job.chunk_size,
        "model": model_fingerprint(model),
        "methods": {key: describe(explainer) for key, explainer in job.explainers.items()},
        "target": describe(job.target),
        "output": describe(job.output),
        "store_inputs": job.store_inputs,
    }


def _create(path: Path, spec: dict[str, Any], result: ChunkResult, job: Job) -> ExplanationStore | None:
    """Create the store with its first chunk in a hidden sibling folder, then rename it into place.

    The rename is atomic: readers never see a half-made store, and of two writers creating
    the same store at once one wins; the other gets ``None`` and resumes the winner's.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".creating", dir=path.parent))
    as_if_created(staging)
    try:
        _fill(staging, spec, result, job)
        try:
            os.rename(staging, path)
        except OSError:
            if not (path / "zarr.json").is_file():
                raise
            return None  # another writer created it first
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return ExplanationStore(path, "r+")


def _fill(folder: Path, spec: dict[str, Any], result: ChunkResult, job: Job) -> None:
    """Write a new store's arrays, attributes and first chunk into ``folder``."""
    zarr = _zarr()
    first = result.values
    group = zarr.open_group(str(folder), mode="w")
    chunks = job.chunk_count
    for name, value in first.items():
        group.create_array(
            name, shape=(job.samples, *value.shape[1:]), chunks=(job.chunk_size, *value.shape[1:]),
            dtype=value.dtype, fill_value=0,
        )
    for name in ("chunks/input_sha256", "chunks/sha256"):
        group.create_array(name, shape=(chunks, DIGEST_BYTES), chunks=(1, DIGEST_BYTES), dtype="uint8", fill_value=0)
    from xaikit._version import __version__

    record = {
        "format": FORMAT,
        "version": VERSION,
        "spec": {**spec, "arrays": list(first)},
        "provenance": {
            "xaikit_version": __version__,
            "torch_version": torch.__version__,
            "created": now(),
            "resumed": [],
            "methods": {key: {"method": e.name, "options": describe(e.options)} for key, e in job.explainers.items()},
        },
    }
    group.attrs["xaikit"] = record
    write_chunk(group, result, *job.bounds(result.index))


def _open_existing(path: Path, spec: dict[str, Any], overwrite: bool) -> ExplanationStore | None:
    """The store at ``path`` to resume, or ``None`` when there is none (or it is to be replaced)."""
    if not path.exists():
        return None
    is_store = (path / "zarr.json").is_file()
    if not is_store and path.is_dir() and not any(path.iterdir()):
        path.rmdir()
        return None
    if not is_store:
        raise StoreError(f"{path} exists and is not an explanation store; give a new path (nothing was written)")
    if overwrite:
        shutil.rmtree(path)
        return None
    store = ExplanationStore(path, "r+")
    stored = {k: v for k, v in store.spec.items() if k != "arrays"}
    differences = spec_differences(stored, spec)
    if differences:
        raise StoreError(
            f"the store {path} was made by another run, so resuming would mix results:\n  "
            + "\n  ".join(differences)
            + "\ngive another store path, or overwrite=True to replace it"
        )
    return store


def _check_inputs(store: ExplanationStore, chunk: Chunk, index: int) -> None:
    recorded = bytes(np.asarray(store.group["chunks/input_sha256"][index]))
    if recorded != input_digest(chunk):
        raise StoreError(
            f"the data of samples {chunk.start}:{chunk.stop} differ from those the store {store.path} was made "
            "from, so resuming would mix results; give another store path, or overwrite=True to replace it"
        )


def explain_dataset(
    model: Model,
    data: Any,
    methods: MethodsLike = "lrp",
    *,
    store: str | os.PathLike[str],
    target: Any = None,
    labels: Any = None,
    chunk_size: int = 256,
    output: OutputSelector | None = None,
    store_inputs: bool = True,
    workers: int | None = None,
    client: Any = None,
    progress: bool | None = None,
    overwrite: bool = False,
    **options: Any,
) -> ExplanationStore:
    """Explain every sample of a data set into a chunked, compressed, resumable Zarr store.

    The data are read, explained and written one chunk of ``chunk_size`` samples at a
    time, so memory is bounded by the chunk size, not by the number of samples. Each
    chunk is marked done by a digest written after its arrays: a run that is killed and
    started again with the same arguments computes only the chunks not done (or found
    partial or corrupt) and gives the same store, bit for bit, as an uninterrupted run.
    A restart with other arguments, another model or other data is refused.

    Parameters
    ----------
    model : torch.nn.Module or callable
        The model, in eval mode; never modified.
    data : tensor, array, array-like, torch Dataset or DataLoader
        The samples, first axis the sample axis. Array-likes (Zarr, HDF5, memmap, Dask)
        are read chunk by chunk; a Dataset's items are inputs or ``(input, label)``; a
        DataLoader must not shuffle (its dataset is read in order).
    methods : str, Explainer, list of them, or dict of name to them
        The methods, stored under their names (``methods/<name>/...``).
    store : str or os.PathLike
        The store's folder (created; resumed when it holds this run's store).
    target : None, int, "label" or array of int
        The class explained: the predicted one (default), one class, each sample's
        label, or one per sample.
    labels : array-like of int, optional
        The samples' labels (stored; used by ``target="label"`` and the analyses).
    chunk_size : int
        Samples per chunk: the unit of work, of memory and of resumption.
    output : str, int or callable, optional
        The entry of a model's dict or tuple output to explain (see :func:`xaikit.explain`).
    store_inputs : bool
        Also store the inputs (for galleries and exports).
    workers : int, optional
        Explain on a Dask ``LocalCluster`` of this many worker processes (``> 1``).
    client : dask.distributed.Client, optional
        Explain on this Dask cluster; each task explains one chunk and writes its region
        of the store itself (the store path must be reachable from every worker).
    progress : bool, optional
        Show a progress bar over chunks (default: see :func:`xaikit.utils.set_progress`).
    overwrite : bool
        Replace an existing store at ``store`` instead of resuming it.
    **options
        Options of a single method given by name, as in :func:`xaikit.explain`.

    Returns
    -------
    ExplanationStore
        The finished store.

    Notes
    -----
    A method with an integer ``seed`` option draws chunk ``i``'s random numbers from
    ``numpy.random.SeedSequence([seed, i])``, so results do not depend on which process
    explains which chunk, or in which order (a method with ``seed=None`` warns: its
    store cannot be reproduced).

    Each chunk is moved to the device of the model's first parameter (a GPU model
    explains on the GPU); the store holds CPU arrays.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InputError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InputError(f"workers must be a positive integer, got {workers!r}")
    if workers is not None and client is not None:
        raise InputError("give workers= (a local cluster) or client= (your cluster), not both")
    explainers = _explainers(methods, options)
    unseeded = [key for key, e in explainers.items() if "seed" in e.options and e.options["seed"] is None]
    if unseeded:
        warnings.warn(
            f"{unseeded} draw random numbers without a seed, so a resumed or distributed run cannot give the "
            "same store as an uninterrupted one; pass seed=<int>",
            UserWarning,
            stacklevel=2,
        )
    source = as_source(data, labels)
    samples = len(source)
    if samples == 0:
        raise InputError("the data hold no samples")
    job = Job(
        path=str(Path(store).resolve()), explainers=explainers, target=_target_spec(target, samples),
        output=output, store_inputs=store_inputs, chunk_size=chunk_size, samples=samples, run=uuid.uuid4().hex,
    )
    path = Path(job.path)
    first = source.read(*job.bounds(0))
    spec = _spec(job, model, first)
    opened = _open_existing(path, spec, overwrite)
    created = None
    if opened is None:
        created = _create(path, spec, compute_chunk(job, model, first, 0), job)
        opened = created if created is not None else _open_existing(path, spec, overwrite=False)
    if opened is None:  # pragma: no cover - _create returns None only when the store exists
        raise StoreError(f"the store {path} vanished while being created")
    if created is None:
        opened.group.attrs["xaikit"] = _resumed(opened)
        opened = ExplanationStore(path, "r+")
    pending = _pending(opened, source, job, first)
    if pending:
        if (workers is not None and workers > 1) or client is not None:
            from xaikit.store.distributed import run_on_dask

            run_on_dask(job, model, source, pending, workers=workers, client=client, progress=progress)
        else:
            _run_here(job, model, source, pending, opened, progress)
    return ExplanationStore(path, "r")


def _resumed(store: ExplanationStore) -> dict[str, Any]:
    record = dict(store.record)
    provenance = dict(record["provenance"])
    provenance["resumed"] = [*provenance.get("resumed", []), now()]
    record["provenance"] = provenance
    return record


def _pending(store: ExplanationStore, source: DataSource, job: Job, first: Chunk) -> list[int]:
    """The chunks to compute; done chunks' inputs are checked against the data given."""
    pending = []
    for index in range(store.chunk_count):
        if not store.chunk_is_valid(index):
            pending.append(index)
            continue
        _check_inputs(store, first if index == 0 else source.read(*job.bounds(index)), index)
    return pending


def _run_here(
    job: Job, model: Model, source: DataSource, pending: list[int], store: ExplanationStore, progress: bool | None
) -> None:
    for index in progress_bar(pending, desc="explaining chunks", enabled=progress):
        start, stop = job.bounds(index)
        write_chunk(store.group, compute_chunk(job, model, source.read(start, stop), index), start, stop)


