"""Reading what the command line is given: model files, inputs, options and targets."""

from __future__ import annotations

import argparse
import re
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from xaikit.cli.arguments import parse_options, parse_value
from xaikit.cli.errors import CLIError
from xaikit.core.validation import model_dtype as floating_type

ModelFormat = Literal["auto", "state_dict", "torchscript", "export", "huggingface"]
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
ARRAY_SUFFIXES = frozenset({".npy", ".npz", ".csv"})


def detect_format(path: Path) -> ModelFormat:
    """Tell a TorchScript archive, a ``torch.export`` archive and a ``torch.save`` file apart."""
    if not zipfile.is_zipfile(path):
        return "state_dict"  # legacy (non-zip) torch.save files; torch.load decides
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(n.endswith("archive_format") for n in names):
        return "export"
    if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
        return "torchscript"
    return "state_dict"


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _plain(text: str, limit: int = 160) -> str:
    """The first line of an error message, without terminal colour codes, shortened."""
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def _state_dict(path: Path) -> Mapping[str, Tensor]:
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise CLIError(f"{str(path)!r} is a safetensors file; install safetensors to read it") from None
        try:
            return load_file(str(path), device="cpu")  # tensors only: nothing in the file runs
        except Exception as error:
            raise CLIError(f"cannot read safetensors file {str(path)!r} ({_plain(str(error))})") from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types on malformed files
        if isinstance(error, MemoryError):
            raise
        if "weights_only" in str(error) or "Weights only load failed" in str(error):
            raise CLIError(
                f"{str(path)!r} holds pickled Python objects (torch.save(model) saves the whole model so), "
                "which could run code when loaded, so it is refused; save the weights with "
                "torch.save(model.state_dict(), path) and name the class with --model-class module:Class, "
                "or save with torch.export"
            ) from None
        first = _plain(str(error)) or type(error).__name__
        raise CLIError(
            f"cannot read model file {str(path)!r} as a PyTorch state dict, TorchScript or "
            f"torch.export file ({first})"
        ) from None
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise CLIError(
            f"model file {str(path)!r} does not hold a state dict (a mapping of names to tensors); "
            "save one with torch.save(model.state_dict(), path)"
        )
    return loaded


def _build_class(spec: str, options: Mapping[str, Any]) -> nn.Module:
    """``package.module:Class(**options)``: the user's own architecture, imported by name."""
    import importlib
    import os
    import sys

    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise CLIError(f"--model-class {spec!r}: give it as package.module:ClassName")
    # the `xaikit` console script, unlike `python -m`, does not put the working folder on the
    # path: look there first, as users expect, and leave sys.path as it was
    added = os.getcwd() not in sys.path
    if added:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise CLIError(
            f"--model-class {spec!r}: cannot import {module_name!r} ({_plain(str(error))}); run from the folder "
            "holding it or add that folder to PYTHONPATH"
        ) from None
    finally:
        if added:
            sys.path.remove(os.getcwd())
    factory = module
    for part in class_name.split("."):
        factory = getattr(factory, part, None)  # type: ignore[assignment]
        if factory is None:
            raise CLIError(f"--model-class {spec!r}: {module_name!r} has no {class_name!r}")
    try:
        model = factory(**options)  # type: ignore[operator]
    except TypeError as error:
        raise CLIError(f"--model-class {spec!r} does not accept options {sorted(options)} ({_plain(str(error))})") from None
    if not isinstance(model, nn.Module):
        raise CLIError(f"--model-class {spec!r} made a {type(model).__name__}, not a torch.nn.Module")
    return model


def _build_arch(arch: str, options: Mapping[str, Any]) -> nn.Module:
    from xaikit.models import REFERENCE_MODELS, reference_model

    try:
        return reference_model(arch, **options)
    except ValueError as error:
        raise CLIError(str(error)) from None
    except TypeError as error:
        raise CLIError(
            f"architecture {arch!r} does not accept options {sorted(options)} ({error}); "
            f"known architectures: {', '.join(REFERENCE_MODELS)}"
        ) from None


def load_model(
    path: str | Path,
    *,
    arch: str | None = None,
    arch_options: Mapping[str, Any] | None = None,
    model_format: ModelFormat = "auto",
    trust_code: bool = False,
    model_class: str | None = None,
) -> nn.Module:
    """Load a model safely (no code stored in the file runs), on the CPU, in eval mode.

    Parameters
    ----------
    path : str or Path
        A state dict saved with ``torch.save`` (read with ``weights_only=True``; needs
        ``arch``), a TorchScript file (``torch.jit.save``) or a ``torch.export`` archive
        (``torch.export.save``), or a Hugging Face model folder (``save_pretrained``;
        safetensors weights, an architecture of transformers, see
        :mod:`xaikit.cli.huggingface`).
    arch : str, optional
        Architecture of a state dict, a name of :func:`xaikit.models.reference_model`.
    model_class : str, optional
        Architecture of a state dict (``.pt`` or ``.safetensors``) as ``package.module:Class``,
        imported by name (your own code, not the file's) and built with ``arch_options``.
    arch_options : mapping, optional
        Constructor options of the architecture (for example ``{"num_classes": 10}``).
    model_format : {"auto", "state_dict", "torchscript", "export", "huggingface"}
        The file's format; detected from its contents with ``"auto"`` (so a
        ``torch.export`` archive named ``*.pt`` is still checked as one).
    trust_code : bool, default False
        Load a ``torch.export`` archive even if it holds pickles, compiled code or Python
        expressions beyond what ``torch.export.save`` writes (see
        :func:`xaikit.cli.export_archive.archive_problems`). Loading such a file can run
        any code; only for files you made yourself.

    Raises
    ------
    CLIError
        If the file is missing or unreadable, the state dict does not fit the
        architecture, or a ``torch.export`` archive carries code (unless ``trust_code``).
    """
    from xaikit.cli.huggingface import is_huggingface_folder, load_huggingface_folder

    file = Path(path)
    if model_format in ("auto", "huggingface") and is_huggingface_folder(file):
        if arch is not None or model_class is not None:
            raise CLIError(f"--arch and --model-class are for state dicts; {str(file)!r} is a Hugging Face "
                           "model folder, whose config.json names its architecture")
        return load_huggingface_folder(file)
    if file.is_dir():
        raise CLIError(f"model {str(file)!r} is a folder without a config.json; give a model file, or a "
                       "folder written by a Hugging Face model's save_pretrained")
    if not file.is_file():
        raise CLIError(f"model file {str(file)!r} does not exist")
    if model_format == "huggingface":
        raise CLIError(f"--format huggingface needs a folder holding config.json, not the file {str(file)!r}")
    kind = detect_format(file) if model_format == "auto" else model_format
    if arch is not None and model_class is not None:
        raise CLIError("give --arch (a reference architecture) or --model-class (yours), not both")
    if (arch is not None or model_class is not None) and kind != "state_dict":
        raise CLIError(f"--arch and --model-class are for state dicts, but {str(file)!r} is a {kind} file")
    if kind == "torchscript":
        try:
            model: nn.Module = torch.jit.load(str(file), map_location="cpu")
        except (RuntimeError, ValueError, OSError) as error:
            raise CLIError(f"cannot read TorchScript file {str(file)!r}: {str(error).splitlines()[0][:160]}") from None
    elif kind == "export":
        from xaikit.cli.export_archive import load_export_archive

        model = load_export_archive(file, trust_code=trust_code)
    else:
        state = _state_dict(file)
        if arch is None and model_class is None:
            raise CLIError(
                f"{str(file)!r} is a state dict, which holds weights only; name its architecture with "
                "--model-class package.module:Class (yours) or --arch (a reference model; see `xaikit explain --help`)"
            )
        model = _build_class(model_class, arch_options or {}) if model_class else _build_arch(str(arch), arch_options or {})
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as error:
            detail = " ".join(_ANSI.sub("", str(error)).split())
            raise CLIError(
                f"the state dict in {str(file)!r} does not fit architecture {model_class or arch!r}: {detail[:240]}"
            ) from None
    try:
        model.eval()
    except NotImplementedError:
        pass  # exported programs keep the mode they were exported in
    return model


@dataclass(frozen=True)
class Inputs:
    """A batch read from files.

    Attributes
    ----------
    batch : torch.Tensor
        ``(N, ...)`` float tensor.
    names : list of str
        One name per sample (file stem, with the row for arrays).
    feature_names : list of str or None
        Column names of a CSV file with a header.
    kind : {"image", "array", "tokens"}
        Whether the inputs were images, arrays or token ids (of a text model).
    tokens : list of list of str, optional
        The token strings of each sample (token inputs with a known tokenizer).
    """

    batch: Tensor
    names: list[str]
    feature_names: list[str] | None
    kind: Literal["image", "array", "tokens"]
    tokens: list[list[str]] | None = None


def _read_image(path: Path, channels: int | None, size: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            opened.load()
            if channels is None:
                channels = 1 if opened.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
            picture = opened.convert("L" if channels == 1 else "RGB")
            if size is not None:
                picture = picture.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            array = np.asarray(picture, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as error:
        raise CLIError(f"cannot read image {str(path)!r}: {error}") from None
    return array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0)


def _read_npz(path: Path) -> np.ndarray:
    """The one array of an ``.npz`` file (or the one named ``inputs`` or ``x``), never unpickled."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            chosen = names[0] if len(names) == 1 else next((n for n in ("inputs", "x") if n in names), None)
            if chosen is None:
                raise CLIError(f"{str(path)!r} holds arrays {names}; keep one, or name it 'inputs'")
            return np.asarray(archive[chosen])
    except (ValueError, OSError, EOFError) as error:
        raise CLIError(f"cannot read array file {str(path)!r}: {_plain(str(error))}") from None


def _read_array(path: Path) -> tuple[np.ndarray, list[str] | None]:
    if path.suffix.lower() == ".npz":
        array = _read_npz(path)
        return (array[None] if array.ndim == 1 else array), None
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise CLIError(f"cannot read array file {str(path)!r}: {error}") from None
        return (array[None] if array.ndim == 1 else array), None
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise CLIError(f"cannot read CSV file {str(path)!r}: {str(error).splitlines()[0]}") from None
    header_is_data = all(isinstance(parse_value(str(c)), int | float) for c in frame.columns)
    if header_is_data:
        frame = pd.read_csv(path, header=None)
    bad = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise CLIError(f"CSV file {str(path)!r} has non-numeric column(s) {bad}; keep only feature columns")
    names = None if header_is_data else [str(c) for c in frame.columns]
    return frame.to_numpy(dtype=np.float64), names


def _expand_folders(paths: list[Path]) -> list[Path]:
    """Folders replaced by the image files directly inside them, in name order."""
    files: list[Path] = []
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise CLIError(f"folder {str(path)!r} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        files.extend(images)
    return files


def load_inputs(
    paths: Sequence[str | Path],
    *,
    channels: int | None = None,
    size: tuple[int, int] | None = None,
    dtype: torch.dtype = torch.float32,
    scale: float | None = None,
) -> Inputs:
    """Read images (one sample each) or ``.npy``/``.csv`` arrays (a batch each) into one batch.

    Parameters
    ----------
    paths : sequence of str or Path
        Image files (PNG, JPEG, ...; values scaled to [0, 1], layout ``(C, H, W)``) or
        folders of them (the images directly inside, in name order), or
        ``.npy`` files (``(N, ...)``; a 1-D array is one sample) and ``.csv`` files (rows
        are samples; a header row gives feature names). Kinds cannot be mixed.
    channels : {1, 3}, optional
        Read images as grey (1) or RGB (3); by default grey images stay grey.
    size : (int, int), optional
        Resize images to ``(height, width)``.
    dtype : torch.dtype
        Floating-point type of the batch.
    scale : float, optional
        Divide array values by this (``255`` maps 8-bit data to [0, 1], as images are
        read). Without it, integer arrays with values outside [0, 1] are used as they are,
        with a warning saying so.

    Raises
    ------
    CLIError
        If a file is missing, unreadable, of an unknown kind, or the shapes do not match.
    """
    if not paths:
        raise CLIError("no input files given")
    files = _expand_folders([Path(p) for p in paths])
    for file in files:
        if not file.is_file():
            raise CLIError(f"input file {str(file)!r} does not exist")
    suffixes = {f.suffix.lower() for f in files}
    unknown = suffixes - IMAGE_SUFFIXES - ARRAY_SUFFIXES
    if unknown:
        raise CLIError(
            f"unsupported input file type(s) {sorted(unknown)}; give images (PNG, JPEG, ...) or .npy/.csv arrays"
        )
    if suffixes & IMAGE_SUFFIXES and suffixes & ARRAY_SUFFIXES:
        raise CLIError("give either image files or .npy/.csv arrays, not both")
    arrays: list[np.ndarray] = []
    names: list[str] = []
    feature_names: list[str] | None = None
    kind: Literal["image", "array"] = "image" if suffixes <= IMAGE_SUFFIXES else "array"
    for file in files:
        if kind == "image":
            arrays.append(_read_image(file, channels, size)[None])
            names.append(file.stem)
        else:
            array, columns = _read_array(file)
            if array.dtype.kind not in "biuf":
                raise CLIError(f"array in {str(file)!r} is not numeric (dtype {array.dtype})")
            feature_names = feature_names or columns
            arrays.append(array)
            names.extend(f"{file.stem}-{i}" for i in range(array.shape[0]))
    shapes = {a.shape[1:] for a in arrays}
    if len(shapes) != 1:
        hint = " (resize images with --size H W)" if kind == "image" else ""
        raise CLIError(f"inputs have different shapes {sorted(shapes)}{hint}")
    joined = np.concatenate(arrays)
    if kind == "array" and scale is not None:
        if not scale > 0:
            raise CLIError(f"--scale must be positive, got {scale}")
        joined = joined.astype(np.float64) / scale
    elif kind == "array" and joined.dtype.kind in "biu" and joined.size and (joined.min() < 0 or joined.max() > 1):
        warnings.warn(
            f"the integer ({joined.dtype}) inputs range over [{joined.min()}, {joined.max()}] and are explained as "
            "they are; images are read into [0, 1], so if the model expects that, pass --scale 255",
            UserWarning,
            stacklevel=2,
        )
    batch = torch.from_numpy(joined.astype(np.float64)).to(dtype)
    if not bool(torch.isfinite(batch).all()):
        raise CLIError("inputs contain NaN or infinite values")
    return Inputs(batch, names, feature_names, kind)


def model_dtype(model: nn.Module) -> torch.dtype:
    """Floating-point type of the model's first floating parameter (float32 if none)."""
    return floating_type(model) or torch.float32


def model_from_args(args: argparse.Namespace) -> nn.Module:
    """The model named by :func:`add_model_arguments`' arguments, loaded safely."""
    return load_model(
        args.model, arch=args.arch, arch_options=parse_options(args.arch_option),
        model_format=args.model_format, trust_code=args.trust_code, model_class=args.model_class,
    )
