"""LRP speed: xaikit composites vs the plain input gradient and Captum's LRP, in one process.

Run: .venv/bin/python benchmarks/bench_lrp.py [--repeats 7] [--threads 2]
Prints a markdown table of median times and, per method, the median over repeats of
(time / plain input gradient time in the same repeat): the methods run interleaved, so
load changes on the machine affect numerator and denominator alike.
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


def bench(name: str, model: nn.Module, x: torch.Tensor, repeats: int) -> list[tuple[str, str, float | str, float | str]]:
    """Interleave the methods in every repeat; report median times and median per-repeat ratios."""
    methods: dict[str, Callable[[], object]] = {}
    with torch.no_grad():
        methods["forward"] = lambda: model(x)
    methods["plain input gradient"] = lambda: input_gradient(model, x)
    for comp, opts in [("epsilon_plus", {}), ("epsilon_gamma_box", {"low": 0.0, "high": 1.0}), ("epsilon_alpha2_beta1", {}), ("lrp_cmp", {"low": 0.0, "high": 1.0})]:
        explainer = xaikit.lrp.LRP(composite=comp, composite_options=opts)
        methods[f"xaikit {comp}"] = lambda e=explainer: e(model, x)
    captum = captum_lrp(model, x)
    failures: dict[str, str] = {}
    if isinstance(captum, str):
        failures["Captum LRP"] = captum
    else:
        methods["Captum LRP"] = captum
    times: dict[str, list[float]] = {k: [] for k in methods}
    for fn in methods.values():
        fn()  # warm-up
    for _ in range(repeats):
        for key, fn in methods.items():
            if key == "forward":
                with torch.no_grad():
                    times[key].append(median_time(fn, 1))
            else:
                times[key].append(median_time(fn, 1))
    grads = times["plain input gradient"]
    rows: list[tuple[str, str, float | str, float | str]] = []
    for key, ts in times.items():
        ratio = statistics.median(t / g for t, g in zip(ts, grads))
        rows.append((name, key, statistics.median(ts), ratio))
    for key, why in failures.items():
        rows.append((name, key, why, "-"))
    return rows


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
    print("| network | method | median time (s) | median ratio to plain gradient |")
    print("|---|---|---|---|")
    for name, model in nets.items():
        for net, method, t, ratio in bench(name, model, x, args.repeats):
            if isinstance(t, str):
                print(f"| {net} | {method} | {t} | - |")
            else:
                print(f"| {net} | {method} | {t:.4f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
