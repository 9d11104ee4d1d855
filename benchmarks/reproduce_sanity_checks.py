"""Reproduce the literature's evaluation findings with xaikit.evaluate, with the full figures.

On the cached digits CNN (``xaikit.models.digits_cnn()``, 8x8 scikit-learn digits):

1. Cascading and independent model-parameter randomization (Adebayo et al., 2018;
   Sixt et al., 2020; Nuzzo, ch. 5 and 7): similarity to the original explanation after
   each randomization step, mean and standard deviation over seeds and inputs.
2. Class sensitivity (random logit; Nuzzo, sec. 7.3).

On the deeper VGG-style CNN (``xaikit.models.digits_vgg()``: the digits upsampled to
16x16, seven convolutions, four max-pools down to 1x1):

2b. Class sensitivity again, and over training seeds for a few architecture variants (how
    many max-pools, how many convolutions, the learning rate): DeconvNet becomes
    class-insensitive only once the max-pools reach a 1x1 map (Mahendran and Vedaldi,
    2016; Nie et al., 2018).

On the digits CNN:
3. Pixel-flipping (Samek et al., 2021, sec. IV-A): AOPC of most-relevant-first removal
   against a random order, removal by a constant, a blurred copy and inpainting.
4. Heatmap complexity: JPEG (quality 75) file size (Samek et al., 2021, sec. IV-B).
5. Runtime in explanations per second (Samek et al., 2021, sec. IV-C), on the digits CNN
   and on a VGG-16 for 64x64 inputs (random weights, reduced width).

Run::

    .venv/bin/python benchmarks/reproduce_sanity_checks.py [--samples 64] [--seeds 5] \
        [--vgg-seeds 5] [--threads 2] [--parts randomization,classes,vgg,flipping,jpeg,runtime] \
        [--output FILE] [--plot FILE.png]

Prints markdown tables; ``--output`` writes them to a file, ``--plot`` draws the
randomization, class-sensitivity, pixel-flipping and JPEG panels (it needs those four
parts). ``--parts vgg`` runs section 2b alone.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import xaikit
from xaikit.evaluate import (
    class_sensitivity,
    explanation_rate,
    jpeg_size,
    model_randomization,
    pixel_flipping,
)
from xaikit.models import DigitsVGG, digits_cnn, digits_vgg, load_digits_split, vgg16
from xaikit.models.pretrained import _train

#: Label -> (registered method, options), as used throughout.
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "saliency": ("saliency", {}),
    "gradient x input": ("gradient_x_input", {}),
    "integrated gradients": ("integrated_gradients", {}),
    "DeepLIFT": ("deeplift", {}),
    "guided backprop": ("guided_backprop", {}),
    "DeconvNet": ("deconvnet", {}),
    "LRP z+ (alpha1-beta0)": ("lrp", {"composite": "zplus"}),
    "LRP epsilon-plus": ("lrp", {}),
    "occlusion 4x4/2": ("occlusion", {"patch": 4, "stride": 2}),
}


def available(labels: Sequence[str]) -> list[str]:
    registered = set(xaikit.methods())
    missing = [label for label in labels if METHODS[label][0] not in registered]
    if missing:
        print(f"(skipping methods not registered yet: {missing})")
    return [label for label in labels if label not in missing]


def fmt(mean: float, std: float | None = None) -> str:
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def randomization_tables(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, seeds: int) -> tuple[str, dict[str, Any]]:
    labels = available(list(METHODS))
    out, curves = [], {}
    for order in ("top_down", "independent"):
        results = {}
        for label in labels:
            method, options = METHODS[label]
            results[label] = model_randomization(
                model, x, method, y, order=order, method_options=options, seeds=range(seeds),
                similarities=["ssim_abs", "ssim", "spearman_abs", "spearman", "hog"], progress=False,
            )
        layers = next(iter(results.values())).layers
        title = "cascading (top-down)" if order == "top_down" else "independent"
        for sim in ("ssim_abs", "ssim", "spearman_abs", "hog"):
            out.append(f"\n#### {title} randomization: {sim} to the original explanation\n")
            head = "layers randomized" if order == "top_down" else "layer randomized"
            out.append("| method | " + " | ".join(f"{head}: ..{name}" if order == "top_down" else name for name in layers) + " |")
            out.append("|---|" + "---|" * len(layers))
            for label, result in results.items():
                cells = [fmt(m, s) for m, s in zip(result.mean(sim), result.std(sim))]
                out.append(f"| {label} | " + " | ".join(cells) + " |")
        if order == "top_down":
            curves = {label: (layers, r.mean("ssim_abs")) for label, r in results.items()}
    return "\n".join(out), curves


def class_table(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[str, dict[str, float]]:
    labels = available([k for k in METHODS if not k.startswith("occlusion")])
    lines = [
        "| method | SSIM (random other class) | SSIM abs | Spearman | SSIM (runner-up class) |",
        "|---|---|---|---|---|",
    ]
    bars = {}
    for label in labels:
        method, options = METHODS[label]
        r = class_sensitivity(model, x, method, y, method_options=options, similarities=["ssim", "ssim_abs", "spearman"])
        second = class_sensitivity(model, x, method, y, method_options=options, other="second", similarities=["ssim"])
        s = {k: float(np.mean(v)) for k, v in r.scores.items()}
        bars[label] = s["ssim"]
        lines.append(f"| {label} | {s['ssim']:.2f} | {s['ssim_abs']:.2f} | {s['spearman']:.2f} | {np.mean(second.scores['ssim']):.2f} |")
    return "\n".join(lines), bars


#: DigitsVGG variants of section 2b: label -> (stages, learning rate); 30 epochs each.
VGG_VARIANTS: dict[str, tuple[tuple[tuple[int, ...], ...], float]] = {
    "4 conv, 4 max-pools (1x1)": (((16,), (32,), (64,), (64,)), 1e-3),
    "6 conv, 3 max-pools (2x2)": (((16, 16), (32, 32), (64, 64)), 1e-3),
    "6 conv, 2 max-pools (4x4)": (((16, 16), (32, 32, 64, 64)), 1e-3),
    "digits_vgg trained with learning rate 3e-3": (((16, 16), (32, 32), (64, 64), (64,)), 3e-3),
}


def vgg_seed_table(samples: int, seeds: int) -> str:
    """Class sensitivity over training seeds: digits_cnn, digits_vgg and DigitsVGG variants."""
    labels = available(["DeconvNet", "guided backprop", "saliency"])
    factories: dict[str, Any] = {
        "digits_cnn: 2 conv, 1 max-pool (4x4)": lambda seed: digits_cnn(seed=seed),
        "digits_vgg: 7 conv, 4 max-pools (1x1)": lambda seed: digits_vgg(seed=seed),
    }
    for name, (stages, lr) in VGG_VARIANTS.items():
        factories[name] = lambda seed, stages=stages, lr=lr: _train(
            lambda: DigitsVGG(stages=stages), seed, 30, lr, False, "training a DigitsVGG variant"
        ).eval()
    lines = [
        "| model (map size after the last max-pool) | test accuracy | "
        + " | ".join(f"{label} SSIM: random / runner-up class" for label in labels) + " |",
        "|---|---|" + "---|" * len(labels),
    ]
    for name, factory in factories.items():
        accuracy, scores = [], {label: ([], []) for label in labels}
        for seed in range(seeds):
            model = factory(seed)
            _, _, x_test, y_test = load_digits_split(seed=seed)
            with torch.no_grad():
                accuracy.append(float((model(x_test).argmax(1) == y_test).float().mean()))
            x, y = x_test[:samples], y_test[:samples]
            for label in labels:
                method, options = METHODS[label]
                for other, bucket in zip(("random", "second"), scores[label]):
                    r = class_sensitivity(model, x, method, y, method_options=options, other=other, similarities=["ssim"])
                    bucket.append(float(np.mean(r.scores["ssim"])))
        cells = [f"{np.mean(accuracy):.1%} ({min(accuracy):.1%}-{max(accuracy):.1%})"]
        cells += [f"{fmt(np.mean(r), np.std(r))} / {fmt(np.mean(s), np.std(s))}" for r, s in scores.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(
        f"\n(mean ± std over {seeds} training seeds of the mean over the first {samples} test digits of each "
        "seed's own split; the variants are DigitsVGG with other stages, trained with digits_vgg's recipe)"
    )
    return "\n".join(lines)


def flipping_tables(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[str, dict[str, Any]]:
    labels = available(["LRP epsilon-plus", "occlusion 4x4/2", "integrated gradients", "LRP z+ (alpha1-beta0)",
                        "saliency", "gradient x input", "guided backprop"])
    attributions = {
        label: xaikit.explain(model, x, y, method=METHODS[label][0], **METHODS[label][1]).attribution for label in labels
    }
    lines = [
        "| method | removal | AOPC MoRF | AOPC LeRF | AOPC random | MoRF / random | output left at 10% / 20% / 50% removed |",
        "|---|---|---|---|---|---|---|",
    ]
    curves: dict[str, Any] = {}
    for removal in ("inpaint", "blur", "constant"):
        random = pixel_flipping(model, x, None, y, order="random", removal=removal, progress=False)
        for label, attribution in attributions.items():
            morf = pixel_flipping(model, x, attribution, y, removal=removal, progress=False)
            lerf = pixel_flipping(model, x, attribution, y, order="lerf", removal=removal, progress=False)
            left = [morf.mean_curve[int(np.searchsorted(morf.fractions, f))] / morf.mean_curve[0] for f in (0.1, 0.2, 0.5)]
            lines.append(
                f"| {label} | {removal} | {morf.aopc.mean():.2f} | {lerf.aopc.mean():.2f} | {random.aopc.mean():.2f} | "
                f"{morf.aopc.mean() / random.aopc.mean():.1f} | " + " / ".join(f"{v:.0%}" for v in left) + " |"
            )
            if removal == "inpaint":
                curves[label] = (morf.fractions, morf.mean_curve)
        left = [random.mean_curve[int(np.searchsorted(random.fractions, f))] / random.mean_curve[0] for f in (0.1, 0.2, 0.5)]
        lines.append(f"| random order | {removal} | | | {random.aopc.mean():.2f} | 1.0 | " + " / ".join(f"{v:.0%}" for v in left) + " |")
        if removal == "inpaint":
            curves["random"] = (random.fractions, random.mean_curve)
    return "\n".join(lines), curves


def jpeg_table(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[str, dict[str, float]]:
    labels = available(["occlusion 4x4/2", "LRP epsilon-plus", "LRP z+ (alpha1-beta0)", "integrated gradients",
                        "gradient x input", "saliency", "guided backprop"])
    lines = ["| method | JPEG bytes (8x8 map) | JPEG bytes (rendered 224x224) |", "|---|---|---|"]
    bars = {}
    for label in labels:
        a = xaikit.explain(model, x, y, method=METHODS[label][0], **METHODS[label][1]).attribution
        native, large = jpeg_size(a), jpeg_size(a, size=224)
        bars[label] = float(large.mean())
        lines.append(f"| {label} | {fmt(native.mean(), native.std())} | {fmt(large.mean(), large.std())} |")
    return "\n".join(lines), bars


def runtime_table() -> str:
    labels = available(["occlusion 4x4/2", "integrated gradients", "LRP epsilon-plus"])
    _, _, x_test, _ = load_digits_split()
    torch.manual_seed(0)
    vgg = vgg16(num_classes=10, width=0.125, input_size=64).eval()
    setups = {
        "digits CNN, batch 16": (digits_cnn().eval(), x_test[:16], {}),
        "VGG-16 (width 1/8, 64x64, random weights), batch 4": (
            vgg, torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0)),
            {"occlusion 4x4/2": {"patch": 8, "stride": 4}},
        ),
    }
    lines = ["| model | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for name, (model, x, overrides) in setups.items():
        methods = {
            label: (METHODS[label][0], {**METHODS[label][1], **overrides.get(label, {})}) for label in labels
        }
        frame = explanation_rate(model, x, methods, repeats=3)
        cells = [f"{v:.1f}" for v in frame["explanations_per_second"]]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(
        "\n(explanations per second, medians of 3; occlusion on VGG-16 uses 8x8 patches with stride 4, "
        "the review's 32/16 on 224x224 scaled to 64x64)"
    )
    return "\n".join(lines)


def plot(path: Path, randomization: dict[str, Any], classes: dict[str, float], flips: dict[str, Any], jpeg: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.5))
    for label, (layers, values) in randomization.items():
        axes[0].plot(range(len(layers)), values, marker="o", label=label)
        axes[0].set_xticks(range(len(layers)), [f"..{name}" for name in layers])
    axes[0].set(title="cascading randomization", xlabel="randomized down to layer", ylabel="SSIM (abs maps)")
    axes[0].legend(fontsize=7)
    axes[1].barh(list(classes), list(classes.values()))
    axes[1].set(title="class sensitivity", xlabel="SSIM between two classes")
    for label, (fractions, curve) in flips.items():
        axes[2].plot(fractions, curve, label=label, linestyle="--" if label == "random" else "-")
    axes[2].set(title="pixel-flipping (inpainting)", xlabel="fraction removed", ylabel="logit")
    axes[2].legend(fontsize=7)
    axes[3].barh(list(jpeg), list(jpeg.values()))
    axes[3].set(title="heatmap JPEG size (rendered 224x224)", xlabel="bytes (quality 75)")
    axes[3].set_xlim(0.9 * min(jpeg.values()), 1.02 * max(jpeg.values()))
    fig.tight_layout()
    fig.savefig(path, dpi=110)


PARTS = ("randomization", "classes", "vgg", "flipping", "jpeg", "runtime")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--vgg-seeds", type=int, default=5, help="training seeds of section 2b")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    if parts - set(PARTS):
        parser.error(f"unknown parts {sorted(parts - set(PARTS))}; expected a subset of {PARTS}")
    if args.plot is not None and not {"randomization", "classes", "flipping", "jpeg"} <= parts:
        parser.error("--plot needs the parts randomization, classes, flipping and jpeg")
    torch.set_num_threads(args.threads)
    xaikit.utils.set_progress(False)
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    model = digits_cnn().eval()
    _, _, x_test, y_test = load_digits_split()
    x, y = x_test[: args.samples], y_test[: args.samples]
    accuracy = float((model(x_test).argmax(1) == y_test).float().mean())
    sections = [
        f"Digits CNN test accuracy {accuracy:.1%}; {len(x)} test digits, {args.seeds} seeds, "
        f"torch.set_num_threads({args.threads}), {os.cpu_count()} cores.",
    ]
    randomization: dict[str, Any] = {}
    classes: dict[str, float] = {}
    flips: dict[str, Any] = {}
    jpeg: dict[str, float] = {}
    if "randomization" in parts:
        text, randomization = randomization_tables(model, x, y, args.seeds)
        sections += ["\n### 1. Model-parameter randomization", text]
    if "classes" in parts:
        text, classes = class_table(model, x, y)
        sections += ["\n### 2. Class sensitivity (similarity of the explanations of two classes)\n", text]
    if "vgg" in parts:
        vgg = digits_vgg().eval()
        with torch.no_grad():
            vgg_accuracy = float((vgg(x_test).argmax(1) == y_test).float().mean())
        text, _ = class_table(vgg, x, y)
        sections += [
            "\n### 2b. Class sensitivity on the VGG-style digits CNN (digits_vgg)\n",
            f"digits_vgg (16x16 upsampled input, 7 conv, 4 max-pools) test accuracy {vgg_accuracy:.1%}; "
            f"the same {len(x)} test digits.\n",
            text,
            "\n#### Over training seeds, and which factor matters\n",
            vgg_seed_table(args.samples, args.vgg_seeds),
        ]
    if "flipping" in parts:
        text, flips = flipping_tables(model, x, y)
        sections += ["\n### 3. Pixel-flipping (logit of the true class; AOPC, higher = faster decay)\n", text]
    if "jpeg" in parts:
        text, jpeg = jpeg_table(model, x, y)
        sections += ["\n### 4. Heatmap complexity: JPEG file size at quality 75 (mean ± std)\n", text]
    if "runtime" in parts:
        sections += ["\n### 5. Runtime\n", runtime_table()]
    sections.append(f"\n(total {time.perf_counter() - start:.0f} s)")
    report = "\n".join(sections)
    print(report)
    if args.output is not None:
        args.output.write_text(report + "\n")
    if args.plot is not None:
        plot(args.plot, randomization, classes, flips, jpeg)

if __name__ == "__main__":
    main()
