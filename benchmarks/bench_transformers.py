"""Sequence-model speed: AttnLRP / CP-LRP against the plain gradient, in one process.

Cases (issue 12): a 6-layer transformer encoder (d=256, 4 heads, sequence 128, batch 8)
explained at its input embeddings, and a 2-layer LSTM (256 units, 200 steps). Each method
runs interleaved with the plain gradient with respect to the input (one forward and one
backward pass) and the table reports the median over repeats of ``time / gradient time``
in the same repeat. Peak memory: each case runs once in a fresh subprocess (after a warm-up
on one short sequence), and the table reports how far the resident set rises above what the
model and the batch already hold (the kernel's high-water mark, reset before the call), and
its ratio to the gradient's, once with glibc's defaults and once with its mmap threshold fixed
(``peak_memory.LIVE_MEMORY_ENV``: freed blocks return at once, so the figure is the live
memory rather than the allocator's cache of freed blocks). LXT side by
side on a Hugging Face Llama: ``benchmarks/bench_lxt.py``.

Run::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_transformers.py [--repeats 5] [--threads 2] [--no-memory]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections.abc import Callable

import torch
from torch import Tensor, nn

import xaikit
from bench_gradients import interleaved_times
from peak_memory import LIVE_MEMORY_ENV, peak_growth_mib


class Encoder(nn.Module):
    """``nn.TransformerEncoder`` on embeddings, mean-pooled to 2 classes."""

    def __init__(self, d: int = 256, heads: int = 4, layers: int = 6) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.0, batch_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(x).mean(1))


class Recurrent(nn.Module):
    """A 2-layer LSTM read out at its last step."""

    def __init__(self, features: int = 32, hidden: int = 256) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.lstm(x)[0][:, -1])


def gradient(model: nn.Module, x: Tensor) -> Tensor:
    leaf = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(leaf)[:, 1].sum(), leaf)
    return grad


def ratios(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median seconds and median ratio to ``cases['gradient']`` over interleaved repeats (after a warm-up)."""
    times = interleaved_times(cases, repeats)
    base = times["gradient"]
    return {
        name: (statistics.median(ts), statistics.median(t / b for t, b in zip(ts, base)))
        for name, ts in times.items()
    }


SETUPS: dict[str, Callable[[], tuple[nn.Module, Tensor]]] = {
    "encoder (6 layers, d=256, 4 heads, T=128, N=8)": lambda: (Encoder().eval(), torch.randn(8, 128, 256)),
    "LSTM (2 layers, 256 units, T=200, N=8)": lambda: (Recurrent().eval(), torch.randn(8, 200, 32)),
}
METHODS = ("gradient", "attnlrp", "cp_lrp")


def run_method(name: str, model: nn.Module, x: Tensor) -> object:
    if name == "gradient":
        return gradient(model, x)
    return xaikit.explain(model, x, 1, method="lrp", composite=name)


def peak_growth(setup: str, method: str) -> float:
    """MiB the peak resident set grows by while ``method`` explains the batch of ``setup`` once."""
    torch.manual_seed(0)
    model, x = SETUPS[setup]()
    for p in model.parameters():
        p.requires_grad_(False)
    run_method(method, model, x[:1, :8].contiguous())  # warm-up: kernels, thread pools, the probe
    return peak_growth_mib(lambda: run_method(method, model, x))[1]


def _peak_in_subprocess(label: str, method: str, threads: int, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--peak", label, method, "--threads", str(threads)],
        check=True, capture_output=True, text=True, env={**os.environ, **env},
    )
    return float(out.stdout.strip().splitlines()[-1])


def memory_table(threads: int) -> list[str]:
    """Rows: peak growth with glibc's defaults, and with its mmap threshold fixed (live memory)."""
    rows = []
    for label in SETUPS:
        default = {m: _peak_in_subprocess(label, m, threads, {}) for m in METHODS}
        live = {m: _peak_in_subprocess(label, m, threads, LIVE_MEMORY_ENV) for m in METHODS}
        rows += [
            f"| {label} | {m} | {default[m]:.0f} | {default[m] / default['gradient']:.2f} "
            f"| {live[m]:.0f} | {live[m] / live['gradient']:.2f} |"
            for m in METHODS
        ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory table")
    parser.add_argument("--peak", nargs=2, metavar=("SETUP", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.peak:
        print(peak_growth(*args.peak))
        return
    print(f"torch {torch.__version__}, {args.threads} threads, {args.repeats} repeats\n")
    print("| model | method | median s | time / gradient |")
    print("| --- | --- | --- | --- |")
    for label, setup in SETUPS.items():
        torch.manual_seed(0)
        model, x = setup()
        for p in model.parameters():
            p.requires_grad_(False)
        cases: dict[str, Callable[[], object]] = {
            name: lambda name=name, model=model, x=x: run_method(name, model, x) for name in METHODS
        }
        for name, (seconds, ratio) in ratios(cases, args.repeats).items():
            print(f"| {label} | {name} | {seconds:.3f} | {ratio:.2f} |")
    if not args.no_memory:
        print("\n| model | method | peak growth MiB | peak / gradient | live peak MiB (fixed mmap threshold) | live / gradient |")
        print("| --- | --- | --- | --- | --- | --- |")
        print("\n".join(memory_table(args.threads)))


if __name__ == "__main__":
    main()
