"""Evaluation speed: xaikit.evaluate against Quantus on the same inputs and settings.

Pixel-flipping (constant baseline, logits, the same attributions, the same step) and the
model parameter randomization test (cascading top-down, Spearman of absolute values
over all input elements, the same explanation function, the same layer order and
re-initialization seeds) are
timed in one process, runs of the two libraries interleaved. Each row also reports the
largest difference between the two results (they agree to float precision).

Run::

    .venv/bin/python benchmarks/bench_evaluate.py [--repeats 5] [--threads 2] [--output FILE]

Prints a markdown table of medians and speed-ups; ``--output`` also writes it to a file.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import xaikit
from xaikit.evaluate import model_randomization, pixel_flipping
from xaikit.models import MLP, CNN1d, SmallCNN, digits_cnn, load_digits_split


@contextmanager
def quantus_sandbox() -> Iterator[Any]:
    """Import Quantus; restore the global RNG it reseeds; give it the np.trapz NumPy 2.4 lacks."""
    import quantus

    state, np_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
    if not hasattr(np, "trapz"):
        setattr(np, "trapz", np.trapezoid)  # noqa: B010
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield quantus
    finally:
        torch.set_rng_state(state)
        np.random.set_state(np_state)  # noqa: NPY002


@dataclass
class Case:
    """One comparison: a label and two zero-argument callables returning comparable arrays."""

    metric: str
    label: str
    quantus: Callable[[], np.ndarray]
    ours: Callable[[], np.ndarray]
    floor: Callable[[], object]


def layouts(x: torch.Tensor) -> list[torch.Tensor]:
    """The batch in the default layout and, for images, channels-last."""
    return [x, x.contiguous(memory_format=torch.channels_last)] if x.ndim == 4 else [x]


def forward_floor(model: nn.Module, inputs: torch.Tensor, batch_sizes: list[int]) -> Callable[[], object]:
    """The model alone on ``inputs``: the fastest of the layouts and batch sizes (no metric around it)."""

    def run() -> object:
        best = float("inf")
        for data in layouts(inputs):
            for size in batch_sizes:
                start = time.perf_counter()
                with torch.inference_mode():
                    for i in range(0, len(data), size):
                        model(data[i : i + size])
                best = min(best, time.perf_counter() - start)
        return best

    return run


def explanation_floor(model: nn.Module, x: torch.Tensor, y: torch.Tensor, times: int) -> Callable[[], object]:
    """``times`` calls of the explanation function both libraries use (one per model MPRT must explain)."""

    def run() -> object:
        start = time.perf_counter()
        for _ in range(times):
            saliency(model, x, y)
        return time.perf_counter() - start

    return run


def saliency_np(model: nn.Module, inputs: np.ndarray, targets: np.ndarray, **_: Any) -> np.ndarray:
    """The explanation function given to Quantus: xaikit's saliency on NumPy arrays."""
    return xaikit.explain(model, torch.as_tensor(inputs), torch.as_tensor(targets), method="saliency").numpy()


def saliency(model: nn.Module, inputs: torch.Tensor, target: Any) -> torch.Tensor:
    """The same explanation function for xaikit (tensors in, tensor out)."""
    return xaikit.explain(model, inputs, target, method="saliency").attribution


def pf_case(label: str, model: nn.Module, x: torch.Tensor, step: int) -> Case:
    y = model(x).argmax(1)
    attribution = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))

    def run_quantus() -> np.ndarray:
        with quantus_sandbox() as quantus:
            metric = quantus.PixelFlipping(
                features_in_step=step, perturb_baseline=0.0, disable_warnings=True, display_progressbar=False
            )
            out = metric(
                model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=attribution.numpy(),
                softmax=False, channel_first=True, device="cpu",
            )
        return np.asarray(out)

    def run_ours() -> np.ndarray:
        result = pixel_flipping(
            model, x, attribution, y, step=step, removal=0.0, channels="separate", progress=False
        )
        return result.curves[:, 1:]

    points = -(-x[0].numel() // step)  # perturbation steps, as Quantus counts them
    perturbed = x.repeat(points, *[1] * (x.ndim - 1))
    auto = max(16, 2**16 // x[0].numel())
    floor = forward_floor(model, perturbed, [len(x), auto])
    return Case("pixel-flipping", label, run_quantus, run_ours, floor)


def mprt_case(label: str, model: nn.Module, x: torch.Tensor) -> Case:
    y = model(x).argmax(1)

    def run_quantus() -> np.ndarray:
        with quantus_sandbox() as quantus:
            metric = quantus.MPRT(layer_order="top_down", seed=42, disable_warnings=True, display_progressbar=False)
            scores = metric(
                model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=None,
                explain_func=saliency_np, softmax=False,
            )
        return np.stack([scores[k] for k in scores if k != "original"])

    def run_ours() -> np.ndarray:
        result = model_randomization(
            model, x, saliency, y, order="top_down", similarities=["spearman_abs"],
            seeds=43, seed_per_layer=False, reduce_channels=False, progress=False,
        )
        return result.scores["spearman_abs"][0]

    layers = sum(1 for m in model.modules() if hasattr(m, "reset_parameters"))
    return Case("MPRT", label, run_quantus, run_ours, explanation_floor(model, x, y, layers + 1))


def cases() -> list[Case]:
    torch.manual_seed(0)
    digits = digits_cnn().eval()
    _, _, x_test, _ = load_digits_split()
    mlp = MLP(32, (64, 64), 3).eval()
    series = CNN1d(1, 3, length=128).eval()
    cnn = SmallCNN(3, 10, input_size=32).eval()
    g = torch.Generator().manual_seed(1)
    x_tab = torch.randn(256, 32, generator=g)
    x_series = torch.randn(64, 1, 128, generator=g)
    x_img = torch.rand(32, 3, 32, 32, generator=g)
    return [
        pf_case("digits CNN 1x8x8, N=64, step 1 (64 steps)", digits, x_test[:64], 1),
        pf_case("MLP tabular d=32, N=256, step 1 (32 steps)", mlp, x_tab, 1),
        pf_case("CNN1d series 1x128, N=64, step 2 (64 steps)", series, x_series, 2),
        pf_case("SmallCNN 3x32x32, N=32, step 32 (96 steps)", cnn, x_img, 32),
        mprt_case("digits CNN 1x8x8, N=64, 4 layers", digits, x_test[:64]),
        mprt_case("MLP tabular d=32, N=256, 3 layers", mlp, x_tab),
        mprt_case("CNN1d series 1x128, N=64, 3 layers", series, x_series),
        mprt_case("SmallCNN 3x32x32, N=32, 4 layers", cnn, x_img),
    ]


def timed(fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def measure(case: Case, repeats: int) -> dict[str, Any]:
    case.quantus()  # warm-up, both
    case.ours()
    tq, to, ratios, floors = [], [], [], []
    diff = 0.0
    for _ in range(repeats):  # interleaved, so that load changes hit both alike
        dq, rq = timed(case.quantus)
        do, ro = timed(case.ours)
        df = float(case.floor())  # type: ignore[arg-type]
        tq.append(dq)
        to.append(do)
        floors.append(dq / df)
        ratios.append(dq / do)
        diff = max(diff, float(np.abs(rq - ro).max()))
    return {
        "metric": case.metric,
        "case": case.label,
        "quantus": statistics.median(tq),
        "ours": statistics.median(to),
        "ratio": statistics.median(ratios),
        "bound": statistics.median(floors),
        "diff": diff,
    }


def table(rows: list[dict[str, Any]], threads: int, repeats: int, load: tuple[float, float]) -> str:
    lines = [
        f"torch {torch.__version__}, numpy {np.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch.set_num_threads({threads}), {repeats} interleaved repeats (medians); "
        f"1-min load average {load[0]:.1f} before, {load[1]:.1f} after",
        "",
        "| metric | case | Quantus 0.6 (s) | xaikit (s) | speed-up (median of ratios) "
        "| bound: Quantus / unavoidable work | max abs diff |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['metric']} | {r['case']} | {r['quantus']:.3f} | {r['ours']:.3f} | {r['ratio']:.1f}x | {r['bound']:.1f}x "
            f"| {r['diff']:.1e} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    xaikit.utils.set_progress(False)
    load_before = os.getloadavg()[0]
    rows = [measure(case, args.repeats) for case in cases()]
    text = table(rows, args.threads, args.repeats, (load_before, os.getloadavg()[0]))
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
