"""One chunk of an explanation job: read its samples, explain them, write its Zarr region.

Everything here runs where the chunk is computed: in the calling process, or in a Dask
worker, which opens the store itself and writes its region directly.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xaikit.core.base import Explainer, Model
from xaikit.core.validation import model_device
from xaikit.core.wrappers import OutputSelector, SelectedOutput
from xaikit.store.layout import METHOD_FIELDS, chunk_bounds, chunk_digest
from xaikit.store.sources import Chunk, DataSource
from xaikit.utils.digest import tensors_digest
from xaikit.utils.errors import TargetError
from xaikit.utils.progress_bars import progress_disabled

__all__ = ["ChunkResult", "Job", "compute_chunk", "explain_chunk", "write_chunk"]

#: What selects the explained class: predicted (None), one class, the labels, one per sample.
TargetSpec = None | int | str | Tensor


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to explain and store chunks (picklable)."""

    path: str
    explainers: Mapping[str, Explainer]
    target: TargetSpec
    output: OutputSelector | None
    store_inputs: bool
    chunk_size: int
    samples: int
    #: Distinguishes this call from others on the same path (a worker's opened store is reused only within it).
    run: str = ""

    @property
    def chunk_count(self) -> int:
        """The number of chunks."""
        return -(-self.samples // self.chunk_size)

    def bounds(self, index: int) -> tuple[int, int]:
        """The samples ``start, stop`` of chunk ``index``."""
        return chunk_bounds(index, self.chunk_size, self.samples)


@dataclass(frozen=True)
class ChunkResult:
    """The arrays of one chunk (in the store's names) and the digest of its inputs."""

    index: int
    values: dict[str, np.ndarray]
    input_digest: bytes


def input_digest(chunk: Chunk) -> bytes:
    """SHA-256 of a chunk's inputs and labels."""
    entries: dict[str, Tensor] = {"inputs": chunk.inputs}
    if chunk.labels is not None:
        entries["labels"] = chunk.labels
    return tensors_digest(entries)


def chunk_seed(seed: int, index: int) -> int:
    """The seed of chunk ``index`` for a method seeded with ``seed``: independent streams per chunk."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint32)[0])


def _for_chunk(explainer: Explainer, index: int) -> Explainer:
    """``explainer``, with its integer ``seed`` (if any) replaced by the chunk's seed."""
    seed = getattr(explainer, "seed", None)
    if type(seed) is not int:
        return explainer
    seeded = copy.copy(explainer)
    object.__setattr__(seeded, "seed", chunk_seed(seed, index))
    return seeded


def _target(spec: TargetSpec, chunk: Chunk) -> Any:
    if spec is None or isinstance(spec, int):
        return spec
    if isinstance(spec, str):  # "label", checked by the caller
        if chunk.labels is None:
            raise TargetError("target='label' needs labels: pass labels=, or a data set whose items are (input, label)")
        return chunk.labels
    return spec[chunk.start : chunk.stop]


def compute_chunk(job: Job, model: Model, chunk: Chunk, index: int) -> ChunkResult:
    """Explain one chunk with every method of ``job``; nothing is written."""
    values: dict[str, np.ndarray] = {}
    if job.store_inputs:
        values["inputs"] = chunk.inputs.numpy()
    scored = model if job.output is None else SelectedOutput(model, job.output)
    inputs = chunk.inputs.to(model_device(model))
    with torch.no_grad():
        logits = scored(inputs).detach().cpu()
    values["logits"] = logits.numpy()
    if logits.ndim == 2:
        values["prediction"] = logits.argmax(1).numpy()
    if chunk.labels is not None:
        values["label"] = chunk.labels.numpy()
    target = _target(job.target, chunk)
    if isinstance(target, Tensor):
        target = target.to(inputs.device)
    for name, explainer in job.explainers.items():
        with progress_disabled():  # the bar is over chunks, not inside them
            explanation = _for_chunk(explainer, index)(model, inputs, target, output=job.output)
        explained = explanation.target
        fields = {
            "attribution": explanation.attribution,
            "output": explanation.output,
            "target": torch.full((len(chunk.inputs),), -1) if explained is None else explained,
            "delta": explanation.delta,
        }
        for field in METHOD_FIELDS:
            values[f"methods/{name}/{field}"] = fields[field].detach().cpu().numpy()
    return ChunkResult(index, values, input_digest(chunk))


def write_chunk(group: Any, result: ChunkResult, start: int, stop: int) -> None:
    """Write a chunk's arrays, then its input digest, then (last) its done digest."""
    for name, value in result.values.items():
        group[name][start:stop] = value
    group["chunks/input_sha256"][result.index] = np.frombuffer(result.input_digest, np.uint8)
    group["chunks/sha256"][result.index] = np.frombuffer(chunk_digest(result.values, result.input_digest), np.uint8)


#: The store opened by this (worker) process: ((path, run), Zarr group).
_OPENED: list[tuple[tuple[str, str], Any]] = []


def _group(job: Job) -> Any:
    """The job's Zarr group, opened once per process and call (a worker explains many chunks)."""
    key = (job.path, job.run)
    if not _OPENED or _OPENED[0][0] != key or not job.run:
        import zarr

        _OPENED[:] = [(key, zarr.open_group(job.path, mode="r+"))]
    return _OPENED[0][1]


def explain_chunk(job: Job, model: Model, source: DataSource, index: int) -> int:
    """Read, explain and write chunk ``index`` (what a Dask task runs); returns ``index``."""
    start, stop = job.bounds(index)
    result = compute_chunk(job, model, source.read(start, stop), index)
    write_chunk(_group(job), result, start, stop)
    return index
