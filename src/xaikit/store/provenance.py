"""What an explanation store records about how it was made, and how two records are compared.

The *spec* of a run is everything that decides the store's contents: the number and
shape of the samples, the chunk size, the model's fingerprint, each method with its
options, the target and what else is stored. A restart must have the same spec, or it
would mix results; :func:`spec_differences` says which entries differ. The *provenance*
adds what does not decide the contents: the xaikit version, creation and resume times.
"""

from __future__ import annotations

import math
import re
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
    stored); explainers by their method name and options; other objects by their
    ``repr`` with memory addresses removed.

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
    return {"type": "repr", "class": f"{type(value).__module__}.{type(value).__qualname__}",
            "repr": _ADDRESS.sub("", repr(value))}


def model_fingerprint(model: Any) -> dict[str, Any]:
    """The class of ``model`` and, for a ``torch.nn.Module``, the SHA-256 of its weights and buffers.

    Parameters
    ----------
    model : torch.nn.Module or callable

    Returns
    -------
    dict
        ``{"class": "module.Name", "sha256": hex or None}``; ``None`` when the model is a
        plain callable whose weights cannot be read.
    """
    kind = type(model)
    record: dict[str, Any] = {"class": f"{kind.__module__}.{kind.__qualname__}", "sha256": None}
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
