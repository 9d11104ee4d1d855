"""What ``xaikit explain`` does: explain a model on input files in batches, write the output folder."""

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

from xaikit.cli.arguments import method_options, parse_target
from xaikit.cli.errors import CLIError, one_line
from xaikit.cli.loading import Inputs, load_inputs, model_dtype, model_from_args
from xaikit.report.staging import staged_output

#: Samples drawn as figures in the report (heatmap PNGs are written for all).
MAX_FIGURES = 16


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
    elif inputs.tokens is not None:
        rows = [inputs.tokens[i] for i in shown]
        axes = plot.token_relevance(rows, explanation.attribution[shown], row_labels=[names[i] for i in shown],
                                    title=f"{explanation.method}: relevance per token")
        section.add_figure(axes, "Relevance per token, each sample scaled to its own largest |relevance| "
                           "(red: for the explained output, blue: against it)", name="figures/tokens.png")
    else:
        for index in shown:
            extra = style if explanation.attribution.ndim == 3 else {}
            figure = plot.plot_explanation(explanation, index, **extra)
            section.add_figure(figure, names[index], name=f"figures/{names[index]}.png")
    report.save(staging)


def _inputs(model: torch.nn.Module, args: argparse.Namespace) -> Inputs:
    """The input files as one batch: token ids for a text model, else images or arrays."""
    from xaikit.cli.huggingface import HuggingFaceLogits, read_token_inputs

    if isinstance(model, HuggingFaceLogits) and model.takes_token_ids:
        ids, names, tokens = read_token_inputs([Path(p) for p in args.inputs], model)
        return Inputs(ids, names, None, "tokens", tokens)
    size = None if args.size is None else (int(args.size[0]), int(args.size[1]))
    return load_inputs(args.inputs, channels=args.channels, size=size, dtype=model_dtype(model), scale=args.scale)


def explain_files(args: argparse.Namespace) -> int:
    """Carry out ``xaikit explain`` (arguments of :mod:`xaikit.cli.cmd_explain`); returns the exit status."""

    options = method_options(args)
    model = model_from_args(args)
    inputs = _inputs(model, args)
    explanation = _merge(_explain(model, inputs, args, options), inputs)
    with staged_output(args.out, force=args.force) as staging:
        _write(staging, inputs, explanation, args, options)
    out = Path(args.out)
    print(f"wrote {out / 'explanation.npz'}, {out / 'attribution.npy'} and {out / 'report.html'}")
    return 0
