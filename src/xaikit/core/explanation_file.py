"""The explanation file format: :meth:`xaikit.Explanation.save` and :meth:`~xaikit.Explanation.load`.

An explanation file is one NumPy ``.npz`` archive (a zip of ``.npy`` arrays) in which
nothing is pickled, so loading it never runs code:

- ``metadata``: a ``uint8`` array holding UTF-8 JSON (described below);
- ``attribution`` and ``output``, and ``target``, ``inputs`` and ``baseline`` when the
  explanation has them: the per-sample fields;
- ``value_0``, ``value_1``, ...: the arrays inside options and extras.

Every array is written with ``allow_pickle=False`` and read with ``np.load(...,
allow_pickle=False)``; a file holding a pickled (object) array, a member the metadata
does not name, or a format or version this code does not know is refused with
:class:`ExplanationFileError` before any of its values is used.

The metadata (format version 1) is a JSON object::

    {"format": "xaikit.explanation", "version": 1, "xaikit_version": "0.1.0",
     "method": "integrated_gradients", "samples": 3,
     "fields": {"attribution": <tensor>, "output": <tensor>, "target": <tensor> or null,
                "inputs": <tensor> or null, "baseline": <tensor> or null},
     "options": {name: <value>}, "extras": {name: <value>},
     "per_sample_extras": [names], "feature_names": [names] or null,
     "converted": ["options.seed", ...]}

A ``<value>`` is JSON ``null``, a boolean, an integer, a finite float, a string, a list
of values, or an object tagged by ``"type"``:

- ``{"type": "tensor", "array": "value_0", "dtype": "float32", "shape": [3, 8], "device": "cpu"}``
  (``device`` is where the tensor was when saved; loading puts tensors on the device
  asked for, the CPU by default);
- ``{"type": "ndarray", "array": ..., "dtype": "<f8", "shape": [...]}``, and
  ``{"type": "numpy_scalar", "array": ..., "dtype": "<f8"}`` (a 0-d array);
- ``{"type": "float", "value": "nan" | "inf" | "-inf"}``;
- ``{"type": "tuple", "items": [values]}`` and ``{"type": "dict", "items": [[key, value], ...]}``
  (keys are JSON scalars);
- ``{"type": "repr", "repr": "...", "class": "module.Name"}``: a value that is neither of
  the above (a ``torch.Generator``, a composite object, a callable). It is stored as its
  ``repr`` with a warning (``strict=True`` refuses it instead) and loads as that string;
  ``converted`` lists where this happened.

Tensors of dtype ``bfloat16`` are stored as their ``int16`` bit patterns (NumPy has no
``bfloat16``) and restored bit for bit; all other tensor dtypes map to the NumPy dtype
of the same name. Values are stored bit for bit (NaN payloads and signed zeros
included).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
import zipfile
from importlib import metadata as _metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from xaikit.utils.errors import XaikitError
from xaikit.utils.headers import check_header
from xaikit.utils.permissions import as_if_created

if TYPE_CHECKING:
    from xaikit.core.explanation import Explanation

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "ExplanationFileError", "read_explanation", "write_explanation"]

#: The ``"format"`` entry of the metadata.
FORMAT_NAME = "xaikit.explanation"
#: The version of the format written; files of other versions are refused.
FORMAT_VERSION = 1

FIELDS = ("attribution", "output", "target", "inputs", "baseline")
_METADATA = "metadata"

_TORCH_DTYPES: dict[str, torch.dtype] = {
    "bool": torch.bool,
    "uint8": torch.uint8,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
}
_DTYPE_NAMES = {dtype: name for name, dtype in _TORCH_DTYPES.items()}


class ExplanationFileError(XaikitError, ValueError):
    """A file is not a valid explanation file (or holds something unsafe to load)."""


class _Unsupported(Exception):
    """A value with no array or JSON form (internal)."""


def _dtype_name(dtype: torch.dtype) -> str:
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        raise _Unsupported(f"tensors of dtype {dtype} cannot be stored")
    return name


class _Encoder:
    """Turns values into JSON nodes, collecting the arrays they refer to."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.arrays: dict[str, np.ndarray] = {}
        self.converted: list[str] = []

    def add_array(self, array: np.ndarray) -> str:
        key = f"value_{len(self.arrays)}"
        self.arrays[key] = array
        return key

    def tensor(self, value: Tensor) -> tuple[np.ndarray, dict[str, Any]]:
        if value.layout != torch.strided or value.is_quantized:
            raise _Unsupported(f"tensors of layout {value.layout} cannot be stored")
        name = _dtype_name(value.dtype)
        data = value.detach().cpu()
        if data.is_conj():
            data = data.resolve_conj()
        if name == "bfloat16":
            data = data.view(torch.int16)
        array = np.ascontiguousarray(data.numpy())
        node = {"type": "tensor", "dtype": name, "shape": list(value.shape), "device": str(value.device)}
        return array, node

    def value(self, value: Any, where: str) -> Any:
        try:
            return self._value(value, where)
        except _Unsupported as why:
            if self.strict:
                raise ValueError(
                    f"cannot save {where} ({type(value).__name__}): {why}; it is neither an array nor "
                    "a JSON value (pass strict=False to store its repr instead)"
                ) from None
            self.converted.append(where)
            kind = type(value)
            return {"type": "repr", "repr": repr(value), "class": f"{kind.__module__}.{kind.__qualname__}"}

    def _value(self, value: Any, where: str) -> Any:
        if value is None or type(value) in (bool, int, str):
            return value
        if type(value) is float:
            if math.isfinite(value):
                return value
            return {"type": "float", "value": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
        if isinstance(value, Tensor):
            array, node = self.tensor(value)
            node["array"] = self.add_array(array)
            return node
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise _Unsupported("arrays of Python objects would need pickle")
            array = np.ascontiguousarray(value)
            return {"type": "ndarray", "array": self.add_array(array), "dtype": array.dtype.str,
                    "shape": list(array.shape)}
        if isinstance(value, np.generic):
            array = np.asarray(value)
            if array.dtype.hasobject:
                raise _Unsupported("NumPy object scalars would need pickle")
            return {"type": "numpy_scalar", "array": self.add_array(array), "dtype": array.dtype.str}
        if type(value) is list:
            return [self._value(item, f"{where}[{i}]") for i, item in enumerate(value)]
        if type(value) is tuple:
            return {"type": "tuple", "items": [self._value(item, f"{where}[{i}]") for i, item in enumerate(value)]}
        if type(value) is dict:
            items = []
            for key, item in value.items():
                if not (key is None or type(key) in (bool, int, str) or (type(key) is float and math.isfinite(key))):
                    raise _Unsupported(f"dict key {key!r} is not a JSON scalar")
                items.append([key, self._value(item, f"{where}[{key!r}]")])
            return {"type": "dict", "items": items}
        raise _Unsupported("no array or JSON form")


def _package_version() -> str | None:
    try:
        return _metadata.version("xaikit")
    except _metadata.PackageNotFoundError:
        return None


def write_explanation(
    explanation: Explanation, path: str | os.PathLike[str], *, compress: bool = False, strict: bool = False
) -> Path:
    """Write ``explanation`` to ``path`` (exactly that name); see :meth:`xaikit.Explanation.save`."""
    target = Path(path)
    encoder = _Encoder(strict)
    arrays: dict[str, np.ndarray] = {}
    fields: dict[str, Any] = {}
    for name in FIELDS:
        value = getattr(explanation, name)
        if value is None:
            fields[name] = None
            continue
        try:
            array, node = encoder.tensor(value)
        except _Unsupported as why:
            raise ValueError(f"cannot save the explanation's {name}: {why}") from None
        node["array"] = name
        arrays[name] = array
        fields[name] = node
    options = {str(k): encoder.value(v, f"options[{k!r}]") for k, v in explanation.options.items()}
    extras = {str(k): encoder.value(v, f"extras[{k!r}]") for k, v in explanation.extras.items()}
    if len(options) != len(explanation.options) or len(extras) != len(explanation.extras):
        raise ValueError("option and extra names must be distinct as strings")
    names = explanation.feature_names
    record = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "xaikit_version": _package_version(),
        "method": explanation.method,
        "samples": len(explanation),
        "fields": fields,
        "options": options,
        "extras": extras,
        "per_sample_extras": sorted(str(k) for k in (explanation.per_sample_extras or ())),
        "feature_names": None if names is None else [str(n) for n in names],
        "converted": encoder.converted,
    }
    if encoder.converted:
        warnings.warn(
            f"Explanation.save stored {', '.join(encoder.converted)} as repr strings (not arrays or "
            "JSON values); they load as strings. Pass strict=True to refuse such values.",
            UserWarning,
            stacklevel=3,
        )
    text = json.dumps(record, allow_nan=False, ensure_ascii=False)
    arrays[_METADATA] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    arrays.update(encoder.arrays)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream, zipfile.ZipFile(
            stream, "w", compression=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED, allowZip64=True
        ) as archive:
            for key, array in arrays.items():
                with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
        as_if_created(temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


class _Decoder:
    """Reads JSON nodes back, fetching the arrays they name from the archive."""

    def __init__(self, archive: Any, path: str, device: torch.device | str) -> None:
        self.archive = archive
        self.path = path
        self.device = device
        self.used: set[str] = {_METADATA}

    def fail(self, message: str) -> ExplanationFileError:
        return ExplanationFileError(f"{self.path}: {message}")

    def array(self, key: Any, where: str) -> np.ndarray:
        if not isinstance(key, str) or key not in self.archive.files:
            raise self.fail(f"{where} refers to the array {key!r}, which the file does not hold")
        if key in self.used:
            raise self.fail(f"the array {key!r} is referred to twice")
        self.used.add(key)
        try:
            array = self.archive[key]
        except ValueError as error:  # numpy refuses object arrays when allow_pickle=False
            raise self.fail(
                f"the array {key!r} ({where}) holds pickled Python objects; refusing to load it "
                "(explanation files never contain pickles, and unpickling could run code)"
            ) from error
        if not isinstance(array, np.ndarray) or array.dtype.hasobject:
            raise self.fail(f"the array {key!r} ({where}) is not a plain array")
        return array

    def tensor(self, node: Any, where: str) -> Tensor:
        if not isinstance(node, dict) or node.get("type") != "tensor":
            raise self.fail(f"{where} is not a tensor entry")
        name = node.get("dtype")
        if name not in _TORCH_DTYPES:
            raise self.fail(f"{where} has the unknown dtype {name!r}")
        array = self.array(node.get("array"), where)
        shape = node.get("shape")
        if list(array.shape) != shape:
            raise self.fail(f"{where} has shape {list(array.shape)} but the metadata says {shape}")
        if array.dtype != np.dtype("int16" if name == "bfloat16" else name):
            raise self.fail(f"{where} is stored as {array.dtype.str} but the metadata says {name}")
        data = torch.from_numpy(np.array(array, copy=True))
        if name == "bfloat16":
            data = data.view(torch.bfloat16)
        return data.to(self.device)

    def value(self, node: Any, where: str) -> Any:
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is list:
            return [self.value(item, f"{where}[{i}]") for i, item in enumerate(node)]
        if type(node) is not dict:
            raise self.fail(f"malformed metadata at {where}")
        kind = node.get("type")
        if kind == "tensor":
            return self.tensor(node, where)
        if kind == "ndarray":
            array = self.array(node.get("array"), where)
            if list(array.shape) != node.get("shape") or array.dtype.str != node.get("dtype"):
                raise self.fail(f"{where} does not match its metadata (shape or dtype)")
            return np.array(array, copy=True)
        if kind == "numpy_scalar":
            array = self.array(node.get("array"), where)
            if array.ndim != 0 or array.dtype.str != node.get("dtype"):
                raise self.fail(f"{where} is not the 0-d array its metadata describes")
            return array[()]
        if kind == "float" and node.get("value") in ("nan", "inf", "-inf"):
            return float(node["value"])
        if kind == "tuple" and isinstance(node.get("items"), list):
            return tuple(self.value(item, f"{where}[{i}]") for i, item in enumerate(node["items"]))
        if kind == "dict" and isinstance(node.get("items"), list):
            out = {}
            for pair in node["items"]:
                if not (isinstance(pair, list) and len(pair) == 2 and (pair[0] is None or type(pair[0]) in (bool, int, float, str))):
                    raise self.fail(f"malformed dict entry at {where}")
                out[pair[0]] = self.value(pair[1], f"{where}[{pair[0]!r}]")
            return out
        if kind == "repr" and isinstance(node.get("repr"), str):
            return node["repr"]
        raise self.fail(f"malformed metadata at {where} (unknown entry type {kind!r})")


def _metadata_record(archive: Any, path: str) -> dict[str, Any]:
    if _METADATA not in archive.files:
        raise ExplanationFileError(f"{path}: not an xaikit explanation file (no metadata entry)")
    try:
        raw = archive[_METADATA]
    except ValueError as error:
        raise ExplanationFileError(f"{path}: the metadata entry holds pickled Python objects; refusing it") from error
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 1:
        raise ExplanationFileError(f"{path}: the metadata entry is not UTF-8 JSON bytes")
    try:
        record = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExplanationFileError(f"{path}: the metadata is not valid JSON ({error})") from error
    return check_header(
        record, name=FORMAT_NAME, version=FORMAT_VERSION, what=f"{path}: not an xaikit explanation file",
        error=ExplanationFileError,
    )


def read_explanation(path: str | os.PathLike[str], *, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The constructor arguments of the explanation saved at ``path``; see :meth:`xaikit.Explanation.load`."""
    where = os.fspath(path)
    try:
        loaded = np.load(where, allow_pickle=False)
    except ValueError as error:  # a pickle, or a pickled .npy
        raise ExplanationFileError(
            f"{where}: not an xaikit explanation file ({error}); files holding pickled data are refused"
        ) from error
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ExplanationFileError(f"{where}: not an xaikit explanation file ({error})") from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ExplanationFileError(f"{where}: a single .npy array, not an xaikit explanation file (.npz)")
    with loaded as archive:
        record = _metadata_record(archive, where)
        decoder = _Decoder(archive, where, device)
        fields = record.get("fields")
        if not isinstance(fields, dict) or set(fields) != set(FIELDS):
            raise decoder.fail(f"the metadata must list the fields {', '.join(FIELDS)}")
        kwargs: dict[str, Any] = {}
        for name in FIELDS:
            node = fields[name]
            if node is None:
                if name in ("attribution", "output"):
                    raise decoder.fail(f"the explanation's {name} is missing")
                kwargs[name] = None
            else:
                if not isinstance(node, dict) or node.get("array") != name:
                    raise decoder.fail(f"the field {name} must be stored in the array {name!r}")
                kwargs[name] = decoder.tensor(node, name)
        options, extras = record.get("options"), record.get("extras")
        if not isinstance(options, dict) or not isinstance(extras, dict):
            raise decoder.fail("the metadata's options and extras must be JSON objects")
        kwargs["options"] = {k: decoder.value(v, f"options[{k!r}]") for k, v in options.items()}
        kwargs["extras"] = {k: decoder.value(v, f"extras[{k!r}]") for k, v in extras.items()}
        per_sample = record.get("per_sample_extras")
        names = record.get("feature_names")
        method = record.get("method")
        if not isinstance(method, str):
            raise decoder.fail("the metadata's method must be a string")
        if not isinstance(per_sample, list) or not all(isinstance(k, str) for k in per_sample):
            raise decoder.fail("the metadata's per_sample_extras must be a list of names")
        if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise decoder.fail("the metadata's feature_names must be null or a list of strings")
        unknown = sorted(set(archive.files) - decoder.used)
        if unknown:
            raise decoder.fail(f"the file holds arrays its metadata does not describe: {', '.join(unknown)}")
        attribution = kwargs["attribution"]
        if attribution.ndim == 0 or record.get("samples") != attribution.shape[0]:
            raise decoder.fail(f"the metadata says {record.get('samples')!r} samples; the attribution disagrees")
    kwargs.update(method=method, per_sample_extras=frozenset(per_sample), feature_names=names)
    return kwargs
