"""LRP speed: xaikit composites vs the plain input gradient and Captum's LRP, in one process.

Run: .venv/bin/python benchmarks/bench_lrp.py [--repeats 7] [--threads 2]
Prints a markdown table of medians and ratios to the plain input gradient.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

import xaikit
from xaikit.models import resnet50, vgg16


def median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def frozen(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def input_gradient(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    leaf = x.detach().requires_grad_(True)
    out = model(leaf)
    idx = out.argmax(1, keepdim=True)
    (grad,) = torch.autograd.grad(out.gather(1, idx).sum(), leaf)
    return grad


def captum_lrp(model: nn.Module, x: torch.Tensor) -> Callable[[], object] | str:
    try:
        from captum.attr import LRP
    except ImportError:
        return "captum not installed"
    target = model(x).argmax(1)
    explainer = LRP(model)

    def run() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return explainer.attribute(x, target=target)

    try:
        run()
    except Exception as err:
        return f"fails: {type(err).__name__}: {str(err).splitlines()[0][:80]}"
    return run


def bench(name: str, model: nn.Module, x: torch.Tensor, repeats: int) -> list[tuple[str, str, float | str]]:
    rows: list[tuple[str, str, float | str]] = []
    with torch.no_grad():
        t_fwd = median_time(lambda: model(x), repeats)
    t_grad = median_time(lambda: input_gradient(model, x), repeats)
    rows.append((name, "forward", t_fwd))
    rows.append((name, "plain input gradient", t_grad))
    for comp, opts in [("epsilon_plus", {}), ("epsilon_gamma_box", {"low": 0.0, "high": 1.0}), ("epsilon_alpha2_beta1", {}), ("lrp_cmp", {"low": 0.0, "high": 1.0})]:
        explainer = xaikit.lrp.LRP(composite=comp, composite_options=opts)
        rows.append((name, f"xaikit {comp}", median_time(lambda e=explainer: e(model, x), repeats)))
    run = captum_lrp(model, x)
    rows.append((name, "Captum LRP", run if isinstance(run, str) else median_time(run, repeats)))
    return rows, t_grad  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        nets = {
            "VGG-16 (64x64)": frozen(vgg16(num_classes=1000, input_size=64)),
            "ResNet-50-style (64x64)": frozen(resnet50(num_classes=1000)),
        }
    x = torch.rand(args.batch, 3, 64, 64, generator=gen)
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, median of {args.repeats}\n")
    print("| network | method | median time (s) | / plain gradient |")
    print("|---|---|---|---|")
    for name, model in nets.items():
        rows, t_grad = bench(name, model, x, args.repeats)
        for net, method, t in rows:
            if isinstance(t, str):
                print(f"| {net} | {method} | {t} | - |")
            else:
                print(f"| {net} | {method} | {t:.4f} | {t / t_grad:.2f}x |")


if __name__ == "__main__":
    main()
