"""Sequence-model speed: AttnLRP / CP-LRP against the plain gradient, in one process.

Cases (issue 12): a 6-layer transformer encoder (d=256, 4 heads, sequence 128, batch 8)
explained at its input embeddings, and a 2-layer LSTM (256 units, 200 steps). Each method
runs interleaved with the plain gradient with respect to the input (one forward and one
backward pass) and the table reports the median over repeats of ``time / gradient time``
in the same repeat. (Peak memory and LXT side by side are not measured yet.)

Run::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_transformers.py [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import torch
from torch import Tensor, nn

import xaikit
from bench_gradients import interleaved_times


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    setups = {
        "encoder (6 layers, d=256, 4 heads, T=128, N=8)": (Encoder().eval(), torch.randn(8, 128, 256)),
        "LSTM (2 layers, 256 units, T=200, N=8)": (Recurrent().eval(), torch.randn(8, 200, 32)),
    }
    print(f"torch {torch.__version__}, {args.threads} threads, {args.repeats} repeats\n")
    print("| model | method | median s | time / gradient |")
    print("| --- | --- | --- | --- |")
    for label, (model, x) in setups.items():
        for p in model.parameters():
            p.requires_grad_(False)
        cases: dict[str, Callable[[], object]] = {
            "gradient": lambda model=model, x=x: gradient(model, x),
            "attnlrp": lambda model=model, x=x: xaikit.explain(model, x, 1, method="lrp", composite="attnlrp"),
            "cp_lrp": lambda model=model, x=x: xaikit.explain(model, x, 1, method="lrp", composite="cp_lrp"),
        }
        for name, (seconds, ratio) in ratios(cases, args.repeats).items():
            print(f"| {label} | {name} | {seconds:.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
