"""``xaikit explain-dataset``: explain a whole data set into a resumable Zarr store."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from xaikit.cli.arguments import add_model_arguments, method_options, parse_target
from xaikit.cli.command import add_command
from xaikit.cli.errors import CLIError

HDF5_SUFFIXES = (".h5", ".hdf5")
HELP = "explain a whole data set into a resumable explanation store"
DESCRIPTION = """\
Explain every sample of a data set into a chunked, compressed Zarr store (see
xaikit.store for its layout). Memory stays bounded by --chunk-size. Run it again with
the same arguments after an interruption: finished chunks are kept (and checked), the
rest computed; other arguments, another model or other data are refused. --workers N
explains on a Dask cluster of N local worker processes.

The data are a .npy file (read memory-mapped, never unpickled), a Zarr array folder,
or an HDF5 file with --dataset. Labels: --labels FILE (.npy, or a dataset of the same
HDF5 file). The model is read as by `xaikit explain` (no code in it runs).
"""

EPILOG = """\
examples:
  xaikit explain-dataset digits.pt images.npy --arch digits_cnn --labels labels.npy --store digits.zarr
  xaikit explain-dataset model.pt data.h5 --dataset x --labels y --target label --workers 2 --store run.zarr
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``explain-dataset`` subcommand."""
    parser = add_command(
        subparsers, "explain-dataset", run, help=HELP, description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(parser, inputs_help="the samples: .npy file, Zarr array folder or HDF5 file", many=False)
    parser.add_argument("--dataset", help="the HDF5 dataset holding the samples")
    parser.add_argument("--labels", help="labels: a .npy file, or (with an HDF5 file) the name of its dataset")
    parser.add_argument("--target", default=None,
                        help="class to explain: an index, 'label', or 'predicted' (default)")
    parser.add_argument("--store", required=True, help="the store's folder (created, or resumed)")
    parser.add_argument("--chunk-size", type=int, default=256, help="samples per chunk (default: 256)")
    parser.add_argument("--workers", type=int, help="explain on a local Dask cluster of this many processes")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing store instead of resuming")
    parser.add_argument("--no-store-inputs", action="store_true", help="do not copy the inputs into the store")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _labels(args: argparse.Namespace) -> Any:
    """The labels: a .npy file, or a dataset of the HDF5 data file."""
    if args.labels is None:
        return None
    if Path(args.inputs).suffix in HDF5_SUFFIXES and not Path(args.labels).is_file():
        import h5py

        with h5py.File(args.inputs, "r") as file:
            if args.labels not in file:
                raise CLIError(f"--labels {args.labels}: neither a file nor a dataset of {args.inputs} ({list(file)})")
            return file[args.labels][()]
    try:
        return np.load(Path(args.labels), allow_pickle=False)
    except (OSError, ValueError) as error:
        raise CLIError(f"--labels {args.labels}: {error}") from None


def _array(path: Path, dataset: str | None, labels: Any) -> Any:
    """The samples, read lazily: memory-mapped, Zarr, or an HDF5 source each worker opens itself."""
    if not path.exists():
        raise CLIError(f"{path} does not exist")
    if path.suffix == ".npy":
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as error:
            raise CLIError(f"{path}: {error}") from None
    if path.suffix in HDF5_SUFFIXES:
        import h5py

        from xaikit.store.sources import HDF5Source

        with h5py.File(path, "r") as file:
            names = list(file)
        if dataset is None or dataset not in names:
            raise CLIError(f"{path} is an HDF5 file: name its dataset with --dataset (it has {names})")
        return HDF5Source(path, dataset, labels)
    if path.is_dir() and (path / "zarr.json").is_file():
        import zarr

        return zarr.open_array(str(path), mode="r")
    raise CLIError(f"{path}: give a .npy file, a Zarr array folder or an HDF5 file (.h5)")


def _target(text: str | None) -> Any:
    if text in (None, "predicted", "label"):
        return None if text == "predicted" else text
    target = parse_target(text)
    if not isinstance(target, int):
        raise CLIError("--target must be a class index, 'label' or 'predicted'")
    return target


def run(args: argparse.Namespace) -> int:
    """Run ``xaikit explain-dataset``; returns the exit status."""
    from xaikit.cli.loading import model_from_args
    from xaikit.store import StoreError, explain_dataset
    from xaikit.store.sources import HDF5Source

    options = method_options(args)
    target = _target(args.target)
    model = model_from_args(args)
    labels = _labels(args)
    data = _array(Path(args.inputs), args.dataset, labels)
    try:
        store = explain_dataset(
            model, data, args.method, store=args.store, target=target,
            labels=None if isinstance(data, HDF5Source) else labels, chunk_size=args.chunk_size,
            store_inputs=not args.no_store_inputs, workers=args.workers, progress=not args.no_progress,
            overwrite=args.overwrite, **options,
        )
    except (StoreError, FileNotFoundError) as error:  # all of a mismatch's lines, on one
        raise CLIError("; ".join(line.strip() for line in str(error).splitlines() if line.strip())) from None
    finally:
        if isinstance(data, HDF5Source):  # it holds the labels itself
            data.close()
    print(f"wrote {store.path}: {store.samples} samples in {store.chunk_count} chunks, method {args.method}")
    return 0
