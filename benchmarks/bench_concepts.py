"""Concept relevance propagation and relevance maximization: what they cost.

1. CRP for every channel of a VGG-16-style layer (512 channels, ``features.28``, the last
   convolution; 64x64 input) on one input, against one LRP explanation of that input:
   xaikit's batched concepts (one forward pass, one backward pass to the layer, then the
   lower network's backward batched over ``concept_batch`` concepts with autograd's
   ``is_grads_batched``) and, for scale, separate CRP calls per concept (timed on 16
   channels and scaled to 512).
2. Relevance maximization throughput: :func:`xaikit.concepts.reference_samples` over the
   digits test split (DigitsCNN, layer ``features.3``, 32 channels), samples per second, from
   memory and from the inputs of a Zarr explanation store (``xaikit.explain_dataset``).

Run::

    .venv/bin/python benchmarks/bench_concepts.py [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

import xaikit
from xaikit.concepts import reference_samples


def best(call, runs: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Measure and print the two tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = xaikit.models.reference_model("vgg16").eval()
    x = torch.rand(1, 3, args.size, args.size)
    layer = "features.28"
    lrp = best(lambda: xaikit.explain(model, x, 0, method="lrp"))
    rows = []
    for batch in (64, 128):
        seconds = best(lambda batch=batch: xaikit.explain(model, x, 0, method="crp", layer=layer, per_concept=True,
                                              concept_batch=batch), runs=2)
        rows.append((f"CRP, all 512 channels, concept_batch={batch}", seconds))
    separate = best(lambda: [xaikit.explain(model, x, 0, method="crp", layer=layer, concepts=c) for c in range(16)],
                    runs=1) * 512 / 16
    rows.append(("CRP, 512 separate calls (16 timed, scaled)", separate))
    print(f"VGG-16-style, {args.size}x{args.size}, one input, CPU, {args.threads} threads, torch {torch.__version__}")
    print("| what | seconds | x one LRP explanation |")
    print("|---|---:|---:|")
    print(f"| one LRP explanation (epsilon_plus) | {lrp:.3f} | 1.0 |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {seconds / lrp:.1f} |")

    digits = xaikit.models.digits_cnn()
    _, _, x_test, _ = xaikit.models.load_digits_split()
    seconds = best(lambda: reference_samples(digits, x_test, "features.3", top_k=8, batch_size=128, progress=False),
                   runs=2)
    print(f"\nrelevance maximization, DigitsCNN features.3, {len(x_test)} test digits: {seconds:.2f} s, "
          f"{len(x_test) / seconds:.0f} samples/s")
    with tempfile.TemporaryDirectory() as folder:  # the same samples read batch by batch from a Zarr store
        store = xaikit.explain_dataset(digits, x_test, "lrp", store=f"{folder}/digits.zarr", chunk_size=128,
                                       progress=False)
        inputs = store.array("inputs")
        stored = best(lambda: reference_samples(digits, inputs, "features.3", top_k=8, batch_size=128,
                                                progress=False), runs=2)
    print(f"the same from the Zarr store of the explanations (inputs read per batch): {stored:.2f} s, "
          f"{len(x_test) / stored:.0f} samples/s")


if __name__ == "__main__":
    main()
