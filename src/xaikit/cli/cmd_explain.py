"""``xaikit explain``: explain a saved model on input files, write heatmaps and the array."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from xaikit.cli.command import add_command
from xaikit.cli.errors import CLIError, one_line
from xaikit.cli.loading import (
    Inputs,
    add_model_arguments,
    load_inputs,
    method_options,
    model_dtype,
    model_from_args,
    parse_target,
)
from xaikit.report.staging import staged_output

HELP = "explain a saved model on images or arrays"
DESCRIPTION = """\
Explain a saved model's predictions on input files. Writes, into --out (all at once,
nothing partial on error): explanation.npz (the whole explanation, Explanation.save's
pickle-free format: load it with xaikit.Explanation.load), attribution.npy (same shape
as the inputs), heatmaps/*.png (images: red positive, blue negative, white zero),
explanation.json (method, options, targets, outputs), summary.csv, figures, run.json
and report.html.

The model is a state dict (torch.save(model.state_dict(), f), or a .safetensors file;
loaded as tensors only, so no code in it runs) with its architecture named by
--model-class package.module:Class (yours, imported by name; options with --arch-option)
or --arch (a reference model), a TorchScript file (torch.jit.save) or a torch.export
archive (torch.export.save; export with a dynamic batch dimension). A
torch.export archive that holds pickles, compiled code or Python expressions beyond
what torch.export.save writes is refused, since loading it could run that code;
--trust-code loads it anyway (only for files you made yourself).
"""

EPILOG = """\
examples:
  xaikit explain digits.pt digit.png --arch digits_cnn --method lrp \\
      --option composite=epsilon_gamma_box --option 'composite_options={"low": 0, "high": 1}'
  xaikit explain model_scripted.pt batch.npy --method saliency --target 3 --out run1
  xaikit explain weights.safetensors images.npz --model-class mynets:ResNet --scale 255
  xaikit explain mlp.pt table.csv --arch mlp --arch-option in_features=6 --arch-option out_features=2
"""

#: Samples drawn as figures in the report (heatmap PNGs are written for all).
MAX_FIGURES = 16


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``explain`` subcommand."""
    parser = add_command(
        subparsers, "explain", run, help=HELP, description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(parser, inputs_help="image files or folders of them, or .npy/.npz/.csv arrays (rows are samples)", many=True)
    parser.add_argument(
        "--target", default=None,
        help="class to explain: an index, comma-separated indices (one per sample), "
        "'predicted' (default) or 'logodds'",
    )
    parser.add_argument("--out", default="xaikit-explain", help="output folder (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty --out not written by xaikit")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per explanation call (default: 64)")
    parser.add_argument("--channels", type=int, choices=(1, 3), help="read images as grey (1) or RGB (3)")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="resize images to H x W")
    parser.add_argument("--scale", type=float, help="divide array inputs by this (255: 8-bit data to [0, 1])")
    parser.add_argument("--clip-percentile", type=float, help="percentile of |relevance| at full colour")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _explain(model: torch.nn.Module, inputs: Inputs, args: argparse.Namespace, options: dict[str, Any]) -> Any:
    from xaikit.core.registry import make_method
    from xaikit.utils import progress

    target = parse_target(args.target)
    if isinstance(target, torch.Tensor) and target.shape[0] != inputs.batch.shape[0]:
        raise CLIError(f"--target gives {target.shape[0]} classes for {inputs.batch.shape[0]} samples")
    if args.batch_size < 1:
        raise CLIError("--batch-size must be positive")
    n = inputs.batch.shape[0]
    starts = range(0, n, args.batch_size)
    parts = []
    for start in progress(starts, desc=f"explaining with {args.method}", enabled=not args.no_progress):
        stop = min(start + args.batch_size, n)
        part_target = target[start:stop] if isinstance(target, torch.Tensor) else target
        try:
            explainer = make_method(args.method, **options)  # what xaikit.explain does with a name
            parts.append(explainer(model, inputs.batch[start:stop], part_target, feature_names=inputs.feature_names))
        except Exception as error:  # the method's own message, on one line
            hint = ""
            if isinstance(model, torch.jit.ScriptModule):
                hint = " (TorchScript hides the model's operations from propagation methods such as LRP; use a state dict with --arch, or a gradient method)"
            raise CLIError(f"{args.method} failed: {one_line(error)}{hint}", status=1) from error
    return parts


def _merge(parts: list[Any], inputs: Inputs) -> Any:
    """One :class:`~xaikit.Explanation` of the whole batch from the per-batch ones.

    Per-sample extras are concatenated; batch-wide extras that differ between the batches
    (such as a count per call) are left out.
    """
    from xaikit.core.explanation import Explanation

    try:
        merged = Explanation.concat(parts, conflicting_extras="drop").to("cpu")
    except ValueError as error:
        raise CLIError(f"cannot merge the explanations of the batches: {one_line(error)}", status=1) from error
    return replace(
        merged,
        attribution=merged.attribution.detach(),
        output=merged.output.detach(),
        baseline=None if merged.baseline is None else merged.baseline.detach(),
        inputs=inputs.batch,
        feature_names=inputs.feature_names,
    )


def _file_names(names: list[str]) -> list[str]:
    """Sample names made safe and unique as file names."""
    taken: set[str] = set()
    out = []
    for name in names:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "sample"
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}-{n}", n + 1
        taken.add(candidate)
        out.append(candidate)
    return out


def _summary(explanation: Any, names: list[str]) -> pd.DataFrame:
    target = explanation.target
    return pd.DataFrame({
        "sample": names,
        "target": [None] * len(names) if target is None else target.tolist(),
        "output": explanation.output.double().numpy(),
        "relevance_sum": explanation.relevance_sum.double().numpy(),
    })


def _write_heatmaps(folder: Path, explanation: Any, names: list[str], style: dict[str, Any]) -> None:
    from xaikit import plot

    folder.mkdir()
    for name, values in zip(names, explanation.attribution):
        rgb = plot.heatmap_rgb(values, **style)
        upscale = max(1, -(-128 // min(rgb.shape[:2])))  # at least 128 pixels a side
        plot.save_png(folder / f"{name}.png", rgb, upscale=upscale)


def _write(staging: Path, inputs: Inputs, explanation: Any, args: argparse.Namespace, options: dict[str, Any]) -> None:
    from xaikit import plot
    from xaikit.report import Report

    explanation.save(staging / "explanation.npz")
    np.save(staging / "attribution.npy", explanation.attribution.numpy())
    names = _file_names(inputs.names)
    summary = _summary(explanation, inputs.names)
    summary.to_csv(staging / "summary.csv", index=False)
    settings = {
        "model": str(args.model),
        "arch": args.arch,
        "method": explanation.method,
        "options": explanation.options,
        "target": args.target or "predicted",
        "inputs": [str(p) for p in args.inputs],
        "shape": list(explanation.attribution.shape),
    }
    record = {**settings, "samples": summary.to_dict(orient="records")}
    (staging / "explanation.json").write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    report = Report(
        f"xaikit explain: {explanation.method}",
        description=f"{len(names)} sample(s) from {', '.join(map(str, args.inputs))}.",
    )
    report.add_settings(settings)
    section = report.section("Explanation")
    section.add_table(summary, "Explained output and relevance sum per sample", name="tables/summary.csv")
    style: dict[str, Any] = {} if args.clip_percentile is None else {"clip_percentile": args.clip_percentile}
    shown = list(range(min(len(names), MAX_FIGURES)))
    if explanation.attribution.ndim == 4:
        _write_heatmaps(staging / "heatmaps", explanation, names, style)
        figure = plot.grid({explanation.method: explanation}, indices=shown,
                           column_labels=[names[i] for i in shown], **style)
        section.add_figure(figure, "Inputs and heatmaps (red: positive, blue: negative relevance)",
                           name="figures/grid.png")
    else:
        for index in shown:
            extra = style if explanation.attribution.ndim == 3 else {}
            figure = plot.plot_explanation(explanation, index, **extra)
            section.add_figure(figure, names[index], name=f"figures/{names[index]}.png")
    report.save(staging)


def run(args: argparse.Namespace) -> int:
    """Run ``xaikit explain``; returns the exit status."""

    options = method_options(args)
    model = model_from_args(args)
    size = None if args.size is None else (int(args.size[0]), int(args.size[1]))
    inputs = load_inputs(args.inputs, channels=args.channels, size=size, dtype=model_dtype(model), scale=args.scale)
    explanation = _merge(_explain(model, inputs, args, options), inputs)
    with staged_output(args.out, force=args.force) as staging:
        _write(staging, inputs, explanation, args, options)
    out = Path(args.out)
    print(f"wrote {out / 'explanation.npz'}, {out / 'attribution.npy'} and {out / 'report.html'}")
    return 0
