"""What an explanation store records about how it was made, and how two records are compared.

The *spec* of a run is everything that decides the store's contents: the number and
shape of the samples, the chunk size, the model's fingerprint, each method with its
options, the target and what else is stored. A restart must have the same spec, or it
would mix results; :func:`spec_differences` says which entries differ. The *provenance*
adds what does not decide the contents: the xaikit version, creation and resume times.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import types
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import numpy as np
from torch import Tensor, nn

from xaikit.core.base import Explainer
from xaikit.utils.digest import tensors_digest

__all__ = ["describe", "model_fingerprint", "now", "spec_differences"]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def now() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def describe(value: Any) -> Any:
    """A JSON form of an option or target that is equal exactly when the values are.

    Tensors and arrays are described by dtype, shape and SHA-256 of their bytes (not
    stored); explainers by their method name and options; dataclasses (composites,
    rules) field by field; functions by name and a digest of their bytecode; sets in a
    sorted order; other objects by their ``repr`` with memory addresses removed.

    Parameters
    ----------
    value : object

    Returns
    -------
    JSON value
    """
    if value is None or type(value) in (bool, int, str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, np.generic):
        return describe(value.item())
    if isinstance(value, Tensor | np.ndarray):
        return {
            "type": type(value).__name__,
            "dtype": str(value.dtype),
            "shape": list(value.shape),
            "sha256": tensors_digest({"value": value}).hex(),
        }
    if isinstance(value, Explainer):
        return {"type": "explainer", "method": value.name, "options": describe(value.options)}
    if isinstance(value, Mapping):
        return {str(key): describe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [describe(item) for item in value]
    if isinstance(value, set | frozenset):  # in a stable order: a set's repr follows the hash seed
        return {"type": "set", "items": sorted((describe(item) for item in value), key=repr)}
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # every field, also those repr leaves out
        return {"type": kind, **{f.name: describe(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    code = getattr(value, "__code__", None)
    if isinstance(code, types.CodeType):  # a function or lambda: its name and compiled body
        return {"type": "function", "name": getattr(value, "__qualname__", "?"), "code": _code_digest(code)}
    return {"type": "repr", "class": kind, "repr": _ADDRESS.sub("", repr(value))}


def _code_digest(code: types.CodeType) -> str:
    """SHA-256 of a function's bytecode, constants and names (nested functions included)."""
    digest = hashlib.sha256(code.co_code)
    for constant in code.co_consts:
        digest.update(_code_digest(constant).encode() if isinstance(constant, types.CodeType) else repr(constant).encode())
    digest.update(repr(code.co_names).encode())
    return digest.hexdigest()


def model_fingerprint(model: Any) -> dict[str, Any]:
    """The class and structure of ``model`` and, for a ``torch.nn.Module``, the SHA-256 of its weights and buffers.

    Parameters
    ----------
    model : torch.nn.Module or callable

    Returns
    -------
    dict
        ``{"class": "module.Name", "structure": sha256 of its repr, "sha256": hex or None}``;
        the structure tells apart modules with equal weights but other layers (a ReLU
        for a Tanh); ``sha256`` is ``None`` when the model is a plain callable whose
        weights cannot be read (its ``structure`` is then the digest of its
        :func:`describe` form).
    """
    kind = type(model)
    record: dict[str, Any] = {"class": f"{kind.__module__}.{kind.__qualname__}", "sha256": None}
    form = _ADDRESS.sub("", repr(model)) if isinstance(model, nn.Module) else repr(describe(model))
    record["structure"] = hashlib.sha256(form.encode()).hexdigest()
    if isinstance(model, nn.Module):
        entries: dict[str, Tensor] = {f"parameter:{k}": v for k, v in model.named_parameters()}
        entries.update({f"buffer:{k}": v for k, v in model.named_buffers()})
        record["sha256"] = tensors_digest(entries).hex()
    return record


def spec_differences(stored: Mapping[str, Any], given: Mapping[str, Any], where: str = "") -> list[str]:
    """The entries in which two specs differ, as ``"name: stored ... , given ..."`` lines.

    Parameters
    ----------
    stored, given : mapping
        JSON specs.
    where : str
        The prefix of the entry names (for nested specs).

    Returns
    -------
    list of str
        Empty when the specs are equal.
    """
    lines = []
    for key in sorted(set(stored) | set(given)):
        name = f"{where}{key}"
        old, new = stored.get(key, "<absent>"), given.get(key, "<absent>")
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            lines += spec_differences(old, new, f"{name}.")
        elif old != new:
            lines.append(f"{name}: the store has {_short(old)}, this call gives {_short(new)}")
    return lines


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
