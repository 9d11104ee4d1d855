"""Whole data sets: explain_dataset's throughput on one process and on a 2-worker Dask
cluster, its peak memory at N = 10,000 and 100,000 (it must not grow with N), and SpRAy's
peak memory and time at N = 10,000 and 50,000 explanations of 16x16, side by side with
CoRelAy's SpRAy pipeline (dense pairwise distances) where CoRelAy installs.

Each measurement runs in a fresh subprocess (``--worker``), so peaks do not mix; peaks
are the rise of the resident set during the call (``peak_memory.py``), with glibc's mmap
threshold fixed (the live memory, :data:`peak_memory.LIVE_MEMORY_ENV`).

- Throughput: a DigitsCNN (random weights), LRP, 32,768 digits-sized inputs (1x8x8) in
  chunks of 256, read memory-mapped from a ``.npy`` file; the Dask cluster (2
  single-threaded worker processes) is started, and its workers have imported xaikit,
  before the clock starts; the model is shipped once per worker; parallel efficiency =
  rate(2 workers) / (2 x rate(1 process)). The single process runs one math thread.
- Memory: the inputs are a Zarr array on disk (a memory-mapped ``.npy`` would count the
  file pages it touched as resident); the store keeps the inputs and the attributions.
- SpRAy: synthetic explanations (three prototypes plus noise), kNN k = 10, the eigengap's
  clusters, no 2-D embedding; CoRelAy: ``SpectralClustering`` with its defaults
  (``SciPyPDist`` dense distances, ``SparseKNN(10)``, ``SymmetricNormalLaplacian``,
  ``EigenDecomposition(32)``, ``KMeans(2)``), skipped when its dense distance matrices
  (12 N^2 bytes) would take more than half the free memory.

CoRelAy: ``pip install corelay`` (needs a C++ compiler for metrohash-python); point
``--corelay-path`` at a ``pip install --target`` folder to use one outside the venv.

Run::

    .venv/bin/python benchmarks/bench_datasets.py [--corelay-path /tmp/corelay]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from peak_memory import LIVE_MEMORY_ENV, peak_growth_mib

THROUGHPUT_SAMPLES, CHUNK = 32768, 256


def _model() -> torch.nn.Module:
    import xaikit

    torch.manual_seed(0)
    return xaikit.models.DigitsCNN().eval()


def _digits_file(folder: Path, samples: int) -> Path:
    """Digits-sized random inputs written to a .npy file a block at a time."""
    path = folder / f"inputs-{samples}.npy"
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(samples, 1, 8, 8))
    rng = np.random.default_rng(0)
    for start in range(0, samples, 10_000):
        stop = min(start + 10_000, samples)
        array[start:stop] = rng.random((stop - start, 1, 8, 8), dtype=np.float32)
    array.flush()
    return path


def _relevance(samples: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    prototypes = rng.standard_normal((3, 16, 16)).astype(np.float32)
    return prototypes[rng.integers(0, 3, samples)] + 0.5 * rng.standard_normal((samples, 16, 16), dtype=np.float32)


def worker(task: str, size: int, folder: str, corelay_path: str | None) -> dict[str, Any]:
    import xaikit

    torch.set_num_threads(1)
    out = Path(folder)
    if task in ("serial", "dask"):
        data = np.load(_digits_file(out, size), mmap_mode="r")
        model = _model()
        client = None
        if task == "dask":
            from dask.distributed import Client

            from xaikit.store.distributed import local_cluster

            client = Client(local_cluster(2))
            client.run(__import__, "xaikit.store")  # workers import torch and xaikit before the clock starts
        start = time.perf_counter()
        xaikit.explain_dataset(model, data, "lrp", store=out / f"{task}.zarr", chunk_size=CHUNK, client=client,
                               progress=False)
        seconds = time.perf_counter() - start
        if client is not None:
            client.close()
        return {"seconds": seconds, "rate": size / seconds}
    if task == "memory":
        import zarr

        # a Zarr array on disk (an np.memmap would count the file's pages it touched as resident)
        on_disk = np.load(_digits_file(out, size), mmap_mode="r")
        data = zarr.open_array(str(out / "inputs.zarr"), mode="w", shape=on_disk.shape, chunks=(4096, 1, 8, 8),
                               dtype="float32")
        for start in range(0, size, 8192):
            data[start : start + 8192] = on_disk[start : start + 8192]
        del on_disk
        model = _model()
        start = time.perf_counter()
        _, peak = peak_growth_mib(lambda: xaikit.explain_dataset(
            model, data, "lrp", store=out / "memory.zarr", chunk_size=CHUNK, progress=False))
        return {"peak_mib": peak, "seconds": time.perf_counter() - start}
    relevance = _relevance(size)
    if task == "spray":
        from xaikit.analysis import spray

        start = time.perf_counter()
        result, peak = peak_growth_mib(lambda: spray(relevance, embedding=None))
        return {"peak_mib": peak, "seconds": time.perf_counter() - start, "clusters": result.clusters}
    if corelay_path:
        sys.path.insert(0, corelay_path)
    from corelay.pipeline.spectral import SpectralClustering

    flat = relevance.reshape(size, -1).astype(np.float64)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    start = time.perf_counter()
    _, peak = peak_growth_mib(lambda: SpectralClustering()(flat))
    return {"peak_mib": peak, "seconds": time.perf_counter() - start}


def run_worker(task: str, size: int, corelay_path: str | None) -> dict[str, Any] | None:
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, __file__, "--worker", task, str(size), folder, corelay_path or ""]
        env = {**os.environ, **LIVE_MEMORY_ENV, "OMP_NUM_THREADS": "1", "XAIKIT_PROGRESS": "0"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            print(f"  {task} {size}: failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return None
        return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def corelay_importable(corelay_path: str | None) -> bool:
    code = "import corelay.pipeline.spectral"
    env = {**os.environ, "PYTHONPATH": corelay_path} if corelay_path else None
    return subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, check=False).returncode == 0


def free_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corelay-path", help="a folder holding corelay (pip install --target)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        task, size, folder, path = args.worker
        print(json.dumps(worker(task, int(size), folder, path or None)))
        return
    print("## explain_dataset throughput (DigitsCNN, LRP, 32,768 inputs, chunks of 256)\n")
    serial = run_worker("serial", THROUGHPUT_SAMPLES, None)
    dask = run_worker("dask", THROUGHPUT_SAMPLES, None)
    print("| run | seconds | explanations / s |\n|---|---:|---:|")
    for name, row in (("1 process", serial), ("Dask, 2 worker processes", dask)):
        if row:
            print(f"| {name} | {row['seconds']:.2f} | {row['rate']:.0f} |")
    if serial and dask:
        print(f"\nparallel efficiency: {dask['rate'] / (2 * serial['rate']):.2f}\n")
    print("## explain_dataset peak memory (inputs in a Zarr array on disk)\n")
    print("| N | peak rise MiB | seconds |\n|---:|---:|---:|")
    for size in (10_000, 100_000):
        row = run_worker("memory", size, None)
        if row:
            print(f"| {size:,} | {row['peak_mib']:.1f} | {row['seconds']:.1f} |")
    print("\n## SpRAy on 16x16 explanations (xaikit sparse kNN vs CoRelAy dense)\n")
    has_corelay = corelay_importable(args.corelay_path)
    print("| N | xaikit peak MiB | xaikit s | CoRelAy peak MiB | CoRelAy s | time ratio CoRelAy/xaikit |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size in (10_000, 50_000):
        ours = run_worker("spray", size, None)
        theirs = None
        note = "not installed"
        if has_corelay:
            if 12 * size**2 > free_bytes() / 2:
                note = f"needs ~{12 * size**2 / 2**30:.0f} GiB dense"
            else:
                theirs = run_worker("corelay", size, args.corelay_path)
                note = "failed" if theirs is None else ""
        if ours:
            other = (f"{theirs['peak_mib']:.0f} | {theirs['seconds']:.1f} | {theirs['seconds'] / ours['seconds']:.1f}"
                     if theirs else f"{note} | | ")
            print(f"| {size:,} | {ours['peak_mib']:.0f} | {ours['seconds']:.1f} | {other} |")


if __name__ == "__main__":
    main()
