"""LRP's peak memory with its default batch size: N = 1,000 vs 100,000 inputs of 1x16x16.

Each N runs in a fresh subprocess with glibc's mmap threshold fixed (live memory,
``peak_memory.py``); the peak is the rise of the resident set during ``xaikit.explain``.
The inputs (made before the measurement) and the returned attribution (N x 256 float32,
made by the call) are inherent to the call; the table gives the peak also net of the
attribution, which is what the batch size bounds. Model: SmallCNN(1 channel, 10
classes), random weights, composite epsilon_plus, predicted class.

Run::

    .venv/bin/python benchmarks/bench_lrp_memory.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import torch

from peak_memory import LIVE_MEMORY_ENV, peak_growth_mib


def worker(samples: int) -> dict[str, float]:
    import xaikit

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = xaikit.models.SmallCNN(1, 10).eval()
    inputs = torch.rand(samples, 1, 16, 16)
    start = time.perf_counter()
    explanation, peak = peak_growth_mib(lambda: xaikit.explain(model, inputs, method="lrp"))
    result_mib = explanation.attribution.numel() * 4 / 2**20
    return {"peak_mib": peak, "net_mib": peak - result_mib, "seconds": time.perf_counter() - start}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(worker(int(sys.argv[2]))))
        return
    env = {**os.environ, **LIVE_MEMORY_ENV, "OMP_NUM_THREADS": "1", "XAIKIT_PROGRESS": "0"}
    rows = {}
    for samples in (1_000, 100_000):
        done = subprocess.run([sys.executable, __file__, "--worker", str(samples)], capture_output=True, text=True,
                              env=env, check=True)
        rows[samples] = json.loads(done.stdout.strip().splitlines()[-1])
    print("| N | peak rise MiB | net of the attribution MiB | seconds |\n|---:|---:|---:|---:|")
    for samples, row in rows.items():
        print(f"| {samples:,} | {row['peak_mib']:.1f} | {row['net_mib']:.1f} | {row['seconds']:.1f} |")
    ratio = rows[100_000]["net_mib"] / rows[1_000]["net_mib"]
    print(f"\nnet peak at 100,000 / at 1,000: {ratio:.2f}")


if __name__ == "__main__":
    main()
