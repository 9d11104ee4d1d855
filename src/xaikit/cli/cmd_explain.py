"""``xaikit explain``: explain a saved model on input files, write heatmaps and the array."""

from __future__ import annotations

import argparse
from typing import Any

from xaikit.cli.arguments import add_model_arguments
from xaikit.cli.command import add_command

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
--model-class package.module:Class (yours, imported by name from the working folder;
options with --arch-option) or --arch (a reference model); a TorchScript file
(torch.jit.save); a torch.export archive (torch.export.save; one exported for a fixed
batch size is run in batches of that size, the last padded); or a Hugging Face model
folder (save_pretrained: config.json and safetensors weights, an architecture of
transformers, no custom code; needs the transformers extra). A torch.export archive
that holds pickles, compiled code or Python expressions beyond what torch.export.save
writes is refused, since loading it could run that code; --trust-code loads it anyway
(only for files you made yourself).

Inputs: image files (PNG, JPEG, ...: read into [0, 1]) or folders of them; .npy/.npz
arrays (rows are samples; integer data are warned about unless --scale is given); CSV
files with a header row for tabular models; for a Hugging Face text model, .txt files
(one text per line, tokenized by the folder's tokenizer) or integer token-id arrays.
"""

EPILOG = """\
examples:
  xaikit explain digits.pt digit.png --arch digits_cnn --method lrp \\
      --option composite=epsilon_gamma_box --option 'composite_options={"low": 0, "high": 1}'
  xaikit explain model_scripted.pt batch.npy --method saliency --target 3 --out run1
  xaikit explain weights.safetensors images.npz --model-class mynets:ResNet --scale 255
  xaikit explain mlp.pt table.csv --arch mlp --arch-option in_features=6 --arch-option out_features=2
  xaikit explain my-bert/ reviews.txt --method lrp --option composite=cp_lrp
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``explain`` subcommand."""
    parser = add_command(
        subparsers, "explain", run, help=HELP, description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(parser, inputs_help="image files or folders of them, .npy/.npz/.csv arrays (rows are samples), or .txt texts for a Hugging Face text model", many=True)
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


def run(args: argparse.Namespace) -> int:
    """Run ``xaikit explain``; returns the exit status."""
    from xaikit.cli.explain_files import explain_files

    return explain_files(args)
