"""Gradient-family speed: xaikit vs Captum side by side in one process, plus explanations per second.

Run: .venv/bin/python benchmarks/bench_gradients.py [--repeats 5] [--threads 2] [--steps 32]

Model: VGG-16 (configuration D) for 64x64 inputs, 1000 classes, random weights, eval mode,
parameters frozen (input gradients only), batch of 8 images, CPU. After one warm-up each,
xaikit and Captum runs alternate ``--repeats`` times; the ratio reported is the median over
the pairs of (xaikit run / the Captum run right after it), which cancels most of the load
drift of a shared machine, and the ratio of the fastest runs. Prints markdown tables.
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
from xaikit.models import vgg16

Runner = Callable[[], object]


def interleaved_times(runners: dict[str, Runner], repeats: int) -> dict[str, list[float]]:
    """Wall times of each runner; one warm-up each, then the runners alternate ``repeats`` times."""
    for run in runners.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def quiet(fn: Runner) -> Runner:
    def run() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=32, help="integrated-gradients steps (both libraries)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--internal-batch", type=int, default=32, help="path points per pass (both libraries)")
    args = parser.parse_args()

    from captum.attr import DeepLift, IntegratedGradients, Saliency

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # the reference models draw their initial weights from the global generator
    xaikit.utils.set_progress(False)
    generator = torch.Generator().manual_seed(0)
    model: nn.Module = vgg16(num_classes=1000, input_size=64).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.rand(args.batch, 3, 64, 64, generator=generator)
    with torch.no_grad():
        target = model(x).argmax(1)
    steps, ib = args.steps, args.internal_batch

    pairs: list[tuple[str, Runner, Runner]] = [
        (
            "saliency",
            lambda: xaikit.explain(model, x, target, method="saliency"),
            quiet(lambda: Saliency(model).attribute(x, target=target, abs=False)),
        ),
        (
            f"integrated gradients ({steps} steps, Gauss-Legendre, {ib} points per pass)",
            lambda: xaikit.explain(model, x, target, method="integrated_gradients", steps=steps, quadrature="gauss_legendre", batch_size=ib),
            quiet(lambda: IntegratedGradients(model).attribute(x, target=target, n_steps=steps, method="gausslegendre", internal_batch_size=ib)),
        ),
        (
            "integrated gradients, both returning the completeness gap",
            lambda: xaikit.explain(model, x, target, method="integrated_gradients", steps=steps, quadrature="gauss_legendre", batch_size=ib),
            quiet(lambda: IntegratedGradients(model).attribute(
                x, target=target, n_steps=steps, method="gausslegendre", internal_batch_size=ib, return_convergence_delta=True
            )),
        ),
        (
            "DeepLIFT (Rescale, zero baseline)",
            lambda: xaikit.explain(model, x, target, method="deeplift"),
            quiet(lambda: DeepLift(model).attribute(x, target=target)),
        ),
    ]
    print(f"VGG-16 (64x64, 1000 classes), batch {args.batch}, CPU, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; medians of {args.repeats} interleaved runs (each xaikit run is "
          "paired with the Captum run right after it)\n")
    print("| method | xaikit (s) | Captum (s) | xaikit / Captum: median of paired ratios | ratio of minima |")
    print("|---|---|---|---|---|")
    for name, ours, theirs in pairs:
        t = interleaved_times({"xaikit": ours, "captum": theirs}, args.repeats)
        paired = statistics.median(a / b for a, b in zip(t["xaikit"], t["captum"]))
        print(
            f"| {name} | {statistics.median(t['xaikit']):.3f} | {statistics.median(t['captum']):.3f} "
            f"| {paired:.2f} | {min(t['xaikit']) / min(t['captum']):.2f} |",
            flush=True,
        )

    def forward() -> object:
        with torch.no_grad():
            return model(x)

    rows: dict[str, Runner] = {
        "forward pass": forward,
        "smoothed integrated gradients (5 x 5 = 25 gradients)": lambda: xaikit.explain(
            model, x, target, method="smooth_integrated_gradients", samples=5, steps=5, batch_size=40
        ),
        "LRP (epsilon_plus)": lambda: xaikit.explain(model, x, target, method="lrp", composite="epsilon_plus"),
    }
    times = interleaved_times(rows, args.repeats)
    med: dict[str, float] = {name: statistics.median(v) for name, v in times.items()}
    low = {name: min(v) for name, v in times.items()}
    print("\n| method | s / batch, median (min) | explanations / s, median (best) | x forward pass, medians (minima) |")
    print("|---|---|---|---|")
    for name in rows:
        print(
            f"| {name} | {med[name]:.3f} ({low[name]:.3f}) | {args.batch / med[name]:.1f} ({args.batch / low[name]:.1f}) "
            f"| {med[name] / med['forward pass']:.1f} ({low[name] / low['forward pass']:.1f}) |"
        )
    completeness_table(args.repeats)


def completeness_table(repeats: int) -> None:
    """Completeness of integrated gradients at ReLU kinks: Captum (50 steps) vs xaikit's tolerance mode."""
    from captum.attr import IntegratedGradients

    generator = torch.Generator().manual_seed(1)
    model = xaikit.models.MLP(20, (64, 64), 3).eval()
    x = torch.randn(200, 20, generator=generator)
    baseline = torch.randn(1, 20, generator=generator)
    target = model(x).argmax(1)

    def gap(attribution: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            f_x = model(x).gather(1, target[:, None]).squeeze(1)
            f_b = model(baseline).expand(len(x), -1).gather(1, target[:, None]).squeeze(1)
        delta_f = f_x - f_b
        return (delta_f - attribution.sum(1)).abs() / delta_f.abs()

    captum = IntegratedGradients(model)
    runs: dict[str, Runner] = {
        "Captum, 50 steps, Gauss-Legendre": quiet(lambda: captum.attribute(x, baselines=baseline, target=target, n_steps=50)),
        "xaikit, 50 steps, Gauss-Legendre": lambda: xaikit.explain(
            model, x, target, method="integrated_gradients", baseline=baseline, steps=50, batch_size=None
        ).attribution,
        "xaikit, tolerance 1e-2 (trapezoid from 16 steps, at most 4096)": quiet(lambda: xaikit.explain(
            model, x, target, method="integrated_gradients", baseline=baseline, steps=16, quadrature="trapezoid",
            tolerance=1e-2, max_steps=4096, batch_size=None,
        ).attribution),
    }
    times = interleaved_times(runs, repeats)
    print("\nTiny MLP (20-64-64-3), 200 inputs, one random baseline: relative completeness gap |f(x) - f(b) - sum R| / |f(x) - f(b)|")
    print("\n| method | inputs with gap > 1% | median gap | max gap | s / 200 inputs |")
    print("|---|---|---|---|---|")
    for name, run in runs.items():
        rel = gap(torch.as_tensor(run()))
        print(f"| {name} | {100 * float((rel > 0.01).float().mean()):.1f}% | {float(rel.median()):.2e} "
              f"| {float(rel.max()):.2e} | {statistics.median(times[name]):.3f} |")


if __name__ == "__main__":
    main()
