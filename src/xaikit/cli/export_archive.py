"""Loading ``torch.export`` archives without running code stored in them.

:func:`torch.export.load` runs code that a crafted archive can carry:

- weights and constants marked ``use_pickle`` and custom or opaque objects are
  unpickled with ``weights_only=False`` or :func:`pickle.loads` (a ``__reduce__``
  payload runs at once);
- the sample inputs, and legacy weight files, fall back to ``weights_only=False`` when
  the safe unpickler refuses them;
- ``data/aotinductor/`` holds compiled shared libraries, which are loaded and run;
- symbolic shapes go through :func:`sympy.sympify` (that is, :func:`eval`) and input
  guards through :func:`exec` (see :mod:`xaikit.cli.safe_expressions`).

:func:`load_export_archive` reads the file once into memory, checks those parts (see
:func:`archive_problems`) and only then hands the same bytes to
:func:`torch.export.load`. Operator targets other than PyTorch operators are refused by
PyTorch's own verifier while it loads, and node names are made identifiers by
:mod:`torch.fx`, so neither reaches generated code.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from xaikit.cli.errors import CLIError
from xaikit.cli.safe_expressions import guard_problem, shape_problem

__all__ = ["archive_problems", "load_export_archive"]

#: How to load such a file anyway, named in every refusal.
TRUST_HINT = (
    "if you made this file yourself and trust it, pass trust_code=True to load_model "
    "(--trust-code on the command line); otherwise re-export the model with "
    "torch.export.save from plain tensors"
)

_WEIGHTS = "data/weights/"
_CONSTANTS = "data/constants/"
_TEXT_FILES = frozenset({"archive_format", "archive_version", "byteorder", ".data/version",
                         ".data/serialization_id"})


def _root(names: list[str]) -> str | None:
    """The archive's top folder, as PyTorch's reader takes it (that of the first entry)."""
    first = names[0] if names else ""
    return first.split("/", 1)[0] if "/" in first else None


def _refuses_weights_only(data: bytes) -> str | None:
    """Why ``torch.load(weights_only=True)`` refuses ``data``, if it does."""
    try:
        with warnings.catch_warnings():  # a refused pickle's protocol warning says nothing more
            warnings.simplefilter("ignore")
            torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # the safe unpickler raises many types
        if isinstance(error, MemoryError):
            raise
        return (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
    return None


def _payload_problems(config_name: str, config: Any, raw: set[str]) -> Iterator[str]:
    """Pickled entries of a weights or constants config; records the raw tensor files."""
    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        yield f"{config_name} is not a payload config"
        return
    folder = _WEIGHTS if config_name.startswith(_WEIGHTS) else _CONSTANTS
    for fqn, meta in entries.items():
        path_name = meta.get("path_name") if isinstance(meta, dict) else None
        if not isinstance(path_name, str) or "/" in path_name or "\\" in path_name:
            yield f"{config_name}: entry {fqn!r} has no plain file name"
        elif meta.get("use_pickle") or not path_name.startswith(("weight_", "tensor_")):
            kind = "weight" if folder == _WEIGHTS else "constant"
            yield f"{kind} {fqn!r} is stored as a pickle ({folder}{path_name}), which can run code"
        else:
            raw.add(folder + path_name)


def _model_problems(name: str, model: Any) -> Iterator[str]:
    """Unsafe symbolic shapes and input guards of a serialized program."""
    if not isinstance(model, dict):
        yield f"{name} is not a serialized program"
        return
    stack: list[Any] = [model]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "expr_str" in item and (problem := shape_problem(item["expr_str"])) is not None:
                yield f"{name}: the symbolic shape {str(item['expr_str'])[:80]!r} {problem}"
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    guards = model.get("guards_code") or []
    for guard in guards if isinstance(guards, list) else [guards]:
        if (problem := guard_problem(guard)) is not None:
            yield f"{name}: the input guard {str(guard)[:80]!r} {problem}"


def archive_problems(data: bytes) -> list[str]:
    """What in a ``torch.export`` archive would run code when PyTorch loads it.

    Parameters
    ----------
    data : bytes
        The archive's bytes.

    Returns
    -------
    list of str
        One line per problem; empty for an archive of plain tensors, PyTorch operators,
        and the symbolic shapes and guards that ``torch.export.save`` writes.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return ["the file is not a zip archive"]
    with archive:
        names = archive.namelist()
        root = _root(names)
        if root is None:
            return ["the archive has no top folder (a legacy or foreign zip file)"]
        if len(set(names)) != len(names):
            return ["the archive holds two entries of the same name"]
        outside = [n for n in names if not n.startswith(root + "/")]
        if outside:
            return [f"entries outside the archive folder {root!r}, such as {outside[0]!r}"]
        members = {n[len(root) + 1 :]: n for n in names if not n.endswith("/")}
        problems: list[str] = []
        raw: set[str] = set()
        for rel, full in sorted(members.items()):
            if ".." in rel.split("/"):
                problems.append(f"the entry {rel!r} climbs out of its folder")
            elif rel.startswith("data/aotinductor/"):
                problems.append(f"compiled native code ({rel}), which loading would run")
                break
            elif rel.endswith(("_weights_config.json", "_constants_config.json")):
                config = _json(archive.read(full))
                problems.extend(_payload_problems(rel, config, raw))
            elif rel.startswith("models/"):  # PyTorch parses every entry there as a program
                problems.extend(_model_problems(rel, _json(archive.read(full))))
        for rel, full in sorted(members.items()):
            if rel in raw or rel in _TEXT_FILES or rel.startswith(("models/", "extra/")) or rel.endswith(".json"):
                continue
            # anything else PyTorch may unpickle (sample inputs, legacy weights, unknown
            # entries): it must be plain tensors for the safe unpickler
            if (reason := _refuses_weights_only(archive.read(full))) is not None:
                problems.append(f"{rel} holds a pickle that is not plain tensors ({reason})")
    return problems


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def load_export_archive(path: str | Path, *, trust_code: bool = False) -> torch.nn.Module:
    """Load a ``torch.export`` archive as a module, refusing archives that carry code.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`torch.export.save`, whatever its suffix.
    trust_code : bool, default False
        Skip the checks of :func:`archive_problems` and load the file as
        :func:`torch.export.load` does, pickles and compiled code included. Only for
        files you made yourself.

    Returns
    -------
    torch.nn.Module
        The program's module (``ExportedProgram.module()``).

    Raises
    ------
    CLIError
        If the archive holds pickles, compiled code or Python expressions beyond the
        subset ``torch.export.save`` writes (the message names each and how to load
        the file anyway), or PyTorch cannot read it.
    """
    file = Path(path)
    data = file.read_bytes()  # checked and loaded from the same bytes
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise CLIError(f"cannot read torch.export file {str(file)!r}: it is not a zip archive, which "
                       "torch.export.save writes (damaged, or another kind of file)")
    if not trust_code:
        problems = archive_problems(data)
        if problems:
            listed = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
            raise CLIError(
                f"refusing to load torch.export file {str(file)!r}: loading it could run code "
                f"stored in it ({listed}); {TRUST_HINT}"
            )
    try:
        program = torch.export.load(io.BytesIO(data))
    except Exception as error:  # torch.export raises many types on malformed archives
        first = (str(error).strip().splitlines() or [""])[0][:160]
        raise CLIError(
            f"cannot read torch.export file {str(file)!r}: {type(error).__name__}: {first}"
        ) from None
    module = program.module()
    batch = static_batch_size(program)
    if batch is None:
        return module
    warnings.warn(
        f"{file.name} was exported for batches of exactly {batch} samples; xaikit runs it on batches of "
        f"{batch} (the last padded with copies of its last sample, whose outputs are dropped). Export with "
        "dynamic_shapes={'x': {0: torch.export.Dim('batch')}} to avoid the padding",
        UserWarning, stacklevel=2,
    )
    return StaticBatch(module, batch)


def static_batch_size(program: torch.export.ExportedProgram) -> int | None:
    """The fixed batch size of a program with one tensor input whose first dimension is static.

    ``None`` when the program takes several inputs, or its batch dimension is dynamic
    (a symbol), or its input is a scalar.
    """
    from torch.export.graph_signature import InputKind

    users = [spec.arg.name for spec in program.graph_signature.input_specs if spec.kind == InputKind.USER_INPUT]
    if len(users) != 1:
        return None
    placeholder = next((n for n in program.graph.nodes if n.op == "placeholder" and n.name == users[0]), None)
    value = None if placeholder is None else placeholder.meta.get("val")
    shape = getattr(value, "shape", ())
    if not shape or not isinstance(shape[0], int):
        return None
    return int(shape[0])


class StaticBatch(torch.nn.Module):
    """Runs a fixed-batch program on any batch: split into batches of ``batch``, the last padded.

    The padding repeats the last sample and its outputs are dropped, so every sample's
    output (and gradient) is the program's own on that sample.

    Parameters
    ----------
    module : torch.nn.Module
        The exported program's module, which accepts exactly ``batch`` samples.
    batch : int
        Its batch size.
    """

    def __init__(self, module: torch.nn.Module, batch: int) -> None:
        super().__init__()
        self.program = module
        self.batch = batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The program's outputs for the ``len(x)`` samples of ``x``."""
        n = x.shape[0]
        if n == self.batch:
            return self.program(x)
        padding = -n % self.batch
        padded = torch.cat([x, x[-1:].expand(padding, *x.shape[1:])]) if padding else x
        outputs = [self.program(part) for part in torch.split(padded, self.batch)]
        return torch.cat(outputs)[:n]
