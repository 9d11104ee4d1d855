"""Perturbation methods of xaikit against Captum and shap, side by side in one process.

Sections (medians of interleaved repeats, 2 torch threads):

1. Occlusion on the VGG-16-style net (``xaikit.models.vgg16(num_classes=1000)``, 64x64
   inputs, random weights, eval) against Captum's ``Occlusion``, with the window of the
   literature's runtime table: patch 1/7 of the side (9 px), stride half the patch (4 px),
   i.e. 15 x 15 = 225 patches per image. Captum runs with its default
   ``perturbations_per_eval=1`` and with 16 patches per forward pass.
2. The runtime-table row "occlusion explanations per second" from section 1.
3. KernelSHAP against shap's ``KernelExplainer`` at the same number of coalition
   samples on a tabular MLP (20-64-64-3), for background sets of 1, 10 and 50 rows.
4. Accuracy at equal budget: median relative error to the exact Shapley values over 20
   inputs (10-feature MLP, 4 background rows), KernelSHAP vs shap (``l1_reg=False``).

Run ``python benchmarks/bench_perturbation.py`` (``--quick`` for a smoke run). Prints
markdown tables; figures are recorded in ``benchmarks/RESULTS_perturbation.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

import xaikit
from xaikit.perturbation import Background

warnings.filterwarnings("ignore")


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def medians(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per callable, with the repeats interleaved (fair under load drift)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name].append(timed(fn))
    return {name: statistics.median(values) for name, values in times.items()}


def occlusion_section(batch: int, repeats: int, side: int) -> list[str]:
    from captum.attr import Occlusion

    torch.manual_seed(0)
    model = xaikit.models.vgg16(num_classes=1000, input_size=side).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(batch, 3, side, side)
    with torch.no_grad():
        target = model(x).argmax(1)
    patch = max(1, round(side / 7))
    stride = max(1, patch // 2)
    captum = Occlusion(model)

    def ours() -> torch.Tensor:
        return xaikit.explain(model, x, target=target, method="occlusion", patch=patch, stride=stride, progress=False).attribution

    def theirs(per_eval: int) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            return captum.attribute(
                x, sliding_window_shapes=(3, patch, patch), strides=(3, stride, stride), target=target,
                baselines=0.0, perturbations_per_eval=per_eval,
            )

        return run

    a, b = ours(), theirs(16)()
    agreement = float((a - b).abs().max() / b.abs().max())
    results = medians({"xaikit": ours, "captum ppe=1": theirs(1), "captum ppe=16": theirs(16)}, repeats)
    patches = (int(np.ceil((side - patch) / stride)) + 1) ** 2
    lines = [
        f"### Occlusion, VGG-16-style net, {side}x{side}, batch {batch}, patch {patch}, stride {stride} "
        f"({patches} patches per image); max relative difference to Captum {agreement:.1e}",
        "",
        "| implementation | median s / batch | explanations / s | captum time / this |",
        "|---|---|---|---|",
    ]
    for name, seconds in results.items():
        lines.append(
            f"| {name} | {seconds:.2f} | {batch / seconds:.3f} | {results['captum ppe=1'] / seconds:.2f}x |"
        )
    lines += [
        "",
        "Runtime-table row: occlusion explanations per second (patch 1/7 of the side, stride half the "
        f"patch), VGG-16-style net, 2 threads: **{batch / results['xaikit']:.3f}** (xaikit).",
        "",
    ]
    return lines


def kernel_speed_section(inputs: int, samples: int, repeats: int, backgrounds: list[int]) -> list[str]:
    import shap

    torch.manual_seed(0)
    model = xaikit.models.MLP(20, (64, 64), 3).eval()
    x = torch.randn(inputs, 20)

    def f(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(np.asarray(batch, dtype=np.float32))).numpy()[:, 0]

    lines = [
        f"### KernelSHAP vs shap KernelExplainer, MLP 20-64-64-3, {samples} coalition samples, {inputs} inputs",
        "",
        "| background rows | xaikit ms / input | shap ms / input (default l1_reg) | speed-up "
        "| shap ms / input (l1_reg=False) | speed-up | model alone ms / input | bound: shap / model alone |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rows in backgrounds:
        background = torch.randn(rows, 20)
        explainer = shap.KernelExplainer(f, background.numpy())

        def ours(bg: torch.Tensor = background) -> object:
            return xaikit.explain(
                model, x, target=0, method="kernel_shap", samples=samples, baseline=Background(bg), progress=False
            )

        def theirs(e: shap.KernelExplainer = explainer) -> object:
            return e.shap_values(x.numpy(), nsamples=samples, silent=True)

        def theirs_plain(e: shap.KernelExplainer = explainer) -> object:
            return e.shap_values(x.numpy(), nsamples=samples, silent=True, l1_reg=False)

        model_rows = torch.randn(inputs * samples * rows, 20)

        def model_alone(data: torch.Tensor = model_rows) -> object:
            # the model on the samples x rows inputs both libraries must evaluate, nothing else
            with torch.inference_mode():
                return [model(chunk) for chunk in data.split(2**16)]

        ours()
        result = medians(
            {"xaikit": ours, "shap": theirs, "shap plain": theirs_plain, "model": model_alone}, repeats
        )
        per_ours = 1000 * result["xaikit"] / inputs
        per_shap = 1000 * result["shap"] / inputs
        per_plain = 1000 * result["shap plain"] / inputs
        per_model = 1000 * result["model"] / inputs
        lines.append(
            f"| {rows} | {per_ours:.2f} | {per_shap:.2f} | {per_shap / per_ours:.1f}x | {per_plain:.2f} "
            f"| {per_plain / per_ours:.1f}x | {per_model:.2f} | {per_shap / per_model:.1f}x |"
        )
    lines.append("")
    return lines


def kernel_accuracy_section(budgets: list[int]) -> list[str]:
    import shap

    torch.manual_seed(0)
    d = 10
    model = xaikit.models.MLP(d, (32, 32), 2).double().eval()
    x = 1.5 * torch.randn(20, d, dtype=torch.float64)
    background = torch.randn(4, d, dtype=torch.float64)
    exact = xaikit.explain(model, x, target=1, method="shapley", baseline=Background(background), progress=False)
    truth = exact.attribution.numpy()

    def f(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.as_tensor(np.asarray(batch, dtype=np.float64)))[:, 1].numpy()

    def error(values: np.ndarray) -> float:
        return float(np.median(np.linalg.norm(values - truth, axis=1) / np.linalg.norm(truth, axis=1)))

    lines = [
        "### Accuracy at equal budget: median relative error to exact Shapley values (20 inputs, 10 features)",
        "",
        "| coalition samples | xaikit kernel_shap | shap KernelExplainer (l1_reg=False) | ratio |",
        "|---|---|---|---|",
    ]
    for budget in budgets:
        ours = xaikit.explain(
            model, x, target=1, method="kernel_shap", samples=budget, seed=0, baseline=Background(background),
            progress=False,
        )
        np.random.seed(0)  # noqa: NPY002  (shap draws from the global generator)
        theirs = shap.KernelExplainer(f, background.numpy()).shap_values(
            x.numpy(), nsamples=budget, silent=True, l1_reg=False
        )
        e_ours, e_shap = error(ours.attribution.numpy()), error(np.asarray(theirs))
        lines.append(f"| {budget} | {e_ours:.4f} | {e_shap:.4f} | {e_shap / e_ours:.2f}x |")
    lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--batch", type=int, default=2, help="images per occlusion batch")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the KernelSHAP timings")
    parser.add_argument("--occlusion-repeats", type=int, default=2, help="repeats of the occlusion timings")
    parser.add_argument("--skip-occlusion", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    lines: list[str] = []
    if not args.skip_occlusion:
        side = 32 if args.quick else 64
        lines += occlusion_section(1 if args.quick else args.batch, 1 if args.quick else args.occlusion_repeats, side)
    inputs = 10 if args.quick else 50
    lines += kernel_speed_section(inputs, 200, 1 if args.quick else args.repeats, [1, 10, 50])
    lines += kernel_accuracy_section([60, 120] if args.quick else [60, 120, 250, 500])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
