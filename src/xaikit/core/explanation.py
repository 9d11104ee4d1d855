"""The one result type returned by every explainer."""

from __future__ import annotations

import math
import os
import reprlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from xaikit.core import explanation_file
from xaikit.core.hooks import get_plotter

__all__ = ["Explanation", "IndexLike", "is_per_sample"]

#: What selects samples of an explanation: an int, a slice, an integer or boolean tensor,
#: array or list.
IndexLike = int | slice | Tensor | np.ndarray | Sequence[int] | Sequence[bool]

#: The per-sample fields, in order.
PER_SAMPLE_FIELDS = ("attribution", "output", "target", "inputs", "baseline")
#: The prefix of the extras that hold relevance at a named layer (``layers=`` of a method).
LAYER_PREFIX = "layer:"


def is_per_sample(value: Any, samples: int) -> bool:
    """The rule that decides, when a method does not say, whether an extra is per sample.

    An extra is per sample when it is a :class:`torch.Tensor` or :class:`numpy.ndarray`
    with at least one dimension whose first dimension equals the number of samples.
    Anything else (numbers, strings, lists, tensors of another length) is a property
    of the whole batch.

    Parameters
    ----------
    value : object
        The extra.
    samples : int
        The number of samples of the explanation.

    Returns
    -------
    bool
    """
    return isinstance(value, Tensor | np.ndarray) and value.ndim >= 1 and value.shape[0] == samples


def _length(value: Any) -> int | None:
    """The number of rows of a per-sample candidate (``None``: not sliceable by sample)."""
    if isinstance(value, Tensor | np.ndarray):
        return int(value.shape[0]) if value.ndim >= 1 else None
    if isinstance(value, list | tuple):
        return len(value)
    return None


def _normalize_index(index: Any, samples: int) -> slice | Tensor:
    """A slice, or a 1-d ``int64`` CPU tensor of non-negative sample indices."""
    if isinstance(index, bool | np.bool_):
        raise TypeError("a boolean does not select samples; use a boolean mask with one entry per sample")
    if isinstance(index, Tensor) and index.ndim == 0 and not index.is_floating_point() and index.dtype != torch.bool:
        index = int(index)
    if isinstance(index, int | np.integer):
        i = int(index)
        if not -samples <= i < samples:
            raise IndexError(f"sample index {i} is out of range for an explanation of {samples} sample(s)")
        i %= samples
        return slice(i, i + 1)
    if isinstance(index, slice):
        return index
    if isinstance(index, Tensor):
        picks = index.detach().cpu()
    elif isinstance(index, np.ndarray):
        picks = torch.from_numpy(np.ascontiguousarray(index))
    elif isinstance(index, list | range):
        items = list(index)
        picks = torch.tensor(items) if items else torch.zeros(0, dtype=torch.long)
    else:
        raise TypeError(
            f"explanations are indexed by an int, a slice, or an integer or boolean tensor, array or list; "
            f"got {type(index).__name__}"
        )
    if picks.ndim != 1:
        raise IndexError(f"a sample index must be one-dimensional, got shape {tuple(picks.shape)}")
    if picks.dtype == torch.bool:
        if len(picks) != samples:
            raise IndexError(f"a boolean mask of {len(picks)} entries for an explanation of {samples} sample(s)")
        return picks.nonzero().squeeze(1)
    if picks.is_floating_point() or picks.is_complex():
        raise TypeError(f"sample indices must be integers or booleans, got {picks.dtype}")
    picks = picks.to(torch.long)
    if len(picks) and not bool(((picks >= -samples) & (picks < samples)).all()):
        bad = picks[(picks < -samples) | (picks >= samples)][0]
        raise IndexError(f"sample index {int(bad)} is out of range for an explanation of {samples} sample(s)")
    return picks % samples if samples else picks


def _take(value: Any, index: slice | Tensor) -> Any:
    """Rows ``index`` of a tensor, array, list or tuple."""
    if isinstance(index, slice):
        return value[index]
    if isinstance(value, Tensor):
        return value[index.to(value.device)]
    if isinstance(value, np.ndarray):
        return value[index.numpy()]
    rows = [value[i] for i in index.tolist()]
    return tuple(rows) if isinstance(value, tuple) else rows


def _same(a: Any, b: Any) -> bool:
    """Whether two option or extra values are equal (tensors and arrays by dtype, shape, values)."""
    if a is b:
        return True
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
            return False
        if a.dtype != b.dtype or a.shape != b.shape or a.device != b.device:
            return False
        if a.is_floating_point() or a.is_complex():
            return bool(((a == b) | (a.isnan() & b.isnan())).all())
        return bool(torch.equal(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.dtype != b.dtype:
            return False
        try:
            return bool(np.array_equal(a, b, equal_nan=True))
        except TypeError:
            return bool(np.array_equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:  # an == that cannot give one truth value
        return False


def _join(values: list[Any], name: str) -> Any:
    """Concatenate per-sample values along the first dimension."""
    first = values[0]
    kinds = {type(v) for v in values}
    if isinstance(first, Tensor):
        if not all(isinstance(v, Tensor) for v in values):
            raise ValueError(f"cannot concatenate {name}: tensors in some explanations, not in others")
        dtypes = {v.dtype for v in values}
        devices = {v.device for v in values}
        if len(dtypes) > 1 or len(devices) > 1 or len({v.shape[1:] for v in values}) > 1:
            described = ", ".join(_describe(v) for v in values)
            raise ValueError(f"cannot concatenate {name}: dtypes, devices or shapes differ ({described})")
        return torch.cat(values)
    if isinstance(first, np.ndarray):
        if kinds != {np.ndarray} or len({v.dtype for v in values}) > 1 or len({v.shape[1:] for v in values}) > 1:
            raise ValueError(f"cannot concatenate {name}: types, dtypes or shapes differ")
        return np.concatenate(values)
    if isinstance(first, list | tuple):
        if len(kinds) > 1:
            raise ValueError(f"cannot concatenate {name}: types differ ({', '.join(k.__name__ for k in kinds)})")
        rows = [row for v in values for row in v]
        return tuple(rows) if isinstance(first, tuple) else rows
    raise ValueError(f"cannot concatenate {name}: a {type(first).__name__} is not per sample")


_SHORT = reprlib.Repr()
_SHORT.maxstring = 40
_SHORT.maxother = 40
_SHORT.maxlist = 4
_SHORT.maxtuple = 4
_SHORT.maxdict = 4


def _describe(value: Any) -> str:
    """A one-line description of a value: dtype and shape of tensors and arrays."""
    if isinstance(value, Tensor):
        device = "" if value.device.type == "cpu" else f", {value.device}"
        return f"tensor({str(value.dtype).removeprefix('torch.')}{list(value.shape)}{device})"
    if isinstance(value, np.ndarray):
        return f"ndarray({value.dtype}{list(value.shape)})"
    if isinstance(value, list | tuple) and any(isinstance(v, Tensor | np.ndarray) for v in value):
        return f"{type(value).__name__}[{len(value)}]"
    if isinstance(value, dict):
        inner = ", ".join(f"{k!s}: {_describe(v)}" for k, v in list(value.items())[:6])
        return "{" + inner + (", ..." if len(value) > 6 else "") + "}"
    return _SHORT.repr(value)


@dataclass(frozen=True, eq=False, repr=False)
class Explanation:
    """Attributions of a batch of predictions, with what was explained and how.

    An explanation of ``N`` samples behaves like a sequence of them: ``len(e)`` is ``N``;
    ``e[i]`` (negative ``i`` counts from the end; out of range raises ``IndexError``),
    ``e[a:b]``, ``e[[0, 2]]``, ``e[tensor]`` and ``e[mask]`` select samples and return
    an :class:`Explanation` (``e[i]`` one of one sample); iterating yields the
    one-sample explanations. Selecting slices every per-sample field (``attribution``,
    ``output``, ``target``, ``inputs``, ``baseline``) and every per-sample extra.

    ``repr(e)`` names shapes, never values, plus the explained outputs' range and the
    largest conservation gap (``max |delta|``); in a notebook an explanation shows that
    summary and the input beside the heatmap of its first four samples.

    Parameters
    ----------
    attribution : torch.Tensor
        Relevance of each input feature; same shape and device as the inputs, in the
        model's floating-point type.
    output : torch.Tensor
        The explained value per sample, shape ``(N,)`` (for example the logit of the
        target class, or its log-odds). For reference-based methods (integrated
        gradients, DeepLIFT, DeepSHAP, expected gradients, Shapley values, KernelSHAP,
        LIME, occlusion) it is the difference ``f(x) - f(reference)``.
    target : torch.Tensor or None
        The explained class per sample (``(N,)`` long), or ``None`` when the target was
        an arbitrary output selection.
    method : str
        Registered name of the method that produced the attribution.
    options : dict
        The method's options, as used.
    inputs : torch.Tensor or None
        The explained inputs (a detached reference, never modified), used by plots.
    extras : dict
        Method-specific results (for example the completeness gap of integrated
        gradients, or per-layer relevances); some are per sample (see
        ``per_sample_extras``), the others describe the whole batch.
    feature_names : sequence of str or None
        Names of the input features for tabular data.
    baseline : torch.Tensor or None
        The explained value at the method's reference, per sample, shape ``(N,)``, like
        shap's ``base_values``: ``f(baseline)`` for integrated gradients and DeepLIFT,
        the mean of ``f`` over the background or starting points for DeepSHAP,
        expected gradients and smooth integrated gradients, the value of the empty
        coalition (the baseline, or the expectation over a background set) for Shapley
        values, KernelSHAP, LIME and occlusion. Then ``baseline + output`` is the
        explained value at the input ``f(x)``, and ``baseline + relevance_sum + delta``
        too. ``None`` for methods without a reference (LRP, saliency, CAM, ...).
    per_sample_extras : frozenset of str or None
        The names of the extras that hold one row per sample (tensors, arrays, lists or
        tuples of length ``N``). ``None`` (the default) decides by
        :func:`is_per_sample`: a tensor or array whose first dimension is ``N``. Methods
        can declare the set explicitly (:attr:`xaikit.core.Attribution.per_sample_extras`),
        which also covers per-sample lists and removes the ambiguity of a batch-wide
        tensor whose length happens to be ``N``. After construction the attribute holds
        the decided set.

    Notes
    -----
    :meth:`save` writes an explanation to a safe ``.npz`` file (no pickles), described
    in :mod:`xaikit.core.explanation_file`; :meth:`load` reads it back bit for bit.
    """

    attribution: Tensor
    output: Tensor
    target: Tensor | None
    method: str
    options: dict[str, Any] = field(default_factory=dict)
    inputs: Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    feature_names: Sequence[str] | None = None
    baseline: Tensor | None = None
    per_sample_extras: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.attribution, Tensor) or self.attribution.ndim == 0:
            raise ValueError("the attribution must be a tensor with a batch dimension (N, ...)")
        n = len(self)
        for name in PER_SAMPLE_FIELDS[1:]:
            value = getattr(self, name)
            if value is None and name != "output":
                continue
            if not isinstance(value, Tensor) or value.ndim == 0 or value.shape[0] != n:
                described = _describe(value)
                raise ValueError(f"the explanation's {name} must be a tensor with {n} rows (one per sample), got {described}")
        if self.per_sample_extras is None:
            decided = frozenset(k for k, v in self.extras.items() if is_per_sample(v, n))
        else:
            decided = frozenset(self.per_sample_extras)
            missing = sorted(decided - set(self.extras))
            if missing:
                raise ValueError(f"per_sample_extras names extras that do not exist: {', '.join(missing)}")
            wrong = sorted(k for k in decided if _length(self.extras[k]) != n)
            if wrong:
                details = ", ".join(f"{k} ({_describe(self.extras[k])})" for k in wrong)
                raise ValueError(f"per-sample extras must have {n} rows (one per sample): {details}")
        object.__setattr__(self, "per_sample_extras", decided)

    def _per_sample(self) -> frozenset[str]:
        return self.per_sample_extras or frozenset()

    def __len__(self) -> int:
        return int(self.attribution.shape[0])

    def __getitem__(self, index: IndexLike) -> Explanation:
        """Select samples, keeping the result type (``e[i]`` is an explanation of one sample).

        Parameters
        ----------
        index : int, slice, tensor, array or list
            A sample number (negative counts from the end), a slice, integer indices or
            a boolean mask with one entry per sample.

        Returns
        -------
        Explanation
            The selected samples, with their per-sample extras.

        Raises
        ------
        IndexError
            For a sample number out of range or a mask of the wrong length.
        """
        picks = _normalize_index(index, len(self))
        per_sample = self._per_sample()
        return replace(
            self,
            attribution=_take(self.attribution, picks),
            output=_take(self.output, picks),
            target=None if self.target is None else _take(self.target, picks),
            inputs=None if self.inputs is None else _take(self.inputs, picks),
            baseline=None if self.baseline is None else _take(self.baseline, picks),
            extras={k: _take(v, picks) if k in per_sample else v for k, v in self.extras.items()},
        )

    def __iter__(self) -> Iterator[Explanation]:
        """The one-sample explanations, in order."""
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        parts = [f"method={self.method!r}", f"samples={len(self)}"]
        for name in PER_SAMPLE_FIELDS:
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={_describe(value)}")
        parts += self._summary()
        if self.options:
            parts.append("options={" + ", ".join(f"{k}={_describe(v)}" for k, v in self.options.items()) + "}")
        if self.extras:
            per_sample = self._per_sample()
            described = (f"{k}{'*' if k in per_sample else ''}={_describe(v)}" for k, v in self.extras.items())
            parts.append("extras={" + ", ".join(described) + "}")
        if self.feature_names is not None:
            parts.append(f"feature_names={_SHORT.repr(list(self.feature_names))}")
        return f"Explanation({', '.join(parts)})"

    def _summary(self) -> list[str]:
        """The explained outputs' range and the largest conservation gap, to 3 digits."""
        if len(self) == 0 or not self.output.is_floating_point():
            return []
        with torch.no_grad():
            output = self.output.detach().double()
            gap = self.delta.detach().double().abs()
        if not (bool(torch.isfinite(output).all()) and bool(torch.isfinite(gap).all())):
            return ["output not finite"]
        return [f"output in [{float(output.min()):.3g}, {float(output.max()):.3g}]",
                f"max |delta| {float(gap.max()):.3g}"]

    def _repr_html_(self) -> str:
        """Notebook display: the summary, then input and heatmap of up to four samples."""
        import base64
        import html
        import io

        pictures = []
        for index in range(min(len(self), 4)):
            drawing = self.plot(index)
            figure = getattr(drawing, "figure", drawing)  # an Axes' figure, or the figure itself
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
            encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
            pictures.append(f'<img src="data:image/png;base64,{encoded}" alt="sample {index}" style="max-width:32em">')
        more = f"<p>... and {len(self) - 4} more samples</p>" if len(self) > 4 else ""
        return (f'<div class="xaikit-explanation"><pre>{html.escape(repr(self))}</pre>'
                f'{"".join(pictures)}{more}</div>')

    @property
    def relevance_sum(self) -> Tensor:
        """Sum of the attribution over all non-batch dimensions, shape ``(N,)``."""
        return self.attribution.flatten(1).sum(1)

    @property
    def delta(self) -> Tensor:
        """``output - relevance_sum``: what the attribution does not account for.

        For LRP this is the relevance absorbed by biases and stabilizers; for
        integrated gradients or DeepLIFT (whose ``output`` is ``f(x) - f(baseline)``)
        it is the completeness gap.
        """
        return self.output - self.relevance_sum

    @property
    def relative_delta(self) -> Tensor:
        """``|delta| / |output|`` per sample (``inf`` where the output is zero)."""
        return self.delta.abs() / self.output.abs()

    @property
    def layers(self) -> list[str]:
        """Names of the layers whose relevance this explanation carries (``layers=`` of the method)."""
        return [key[len(LAYER_PREFIX):] for key in self.extras if key.startswith(LAYER_PREFIX)]

    def layer_relevance(self, name: str) -> Tensor:
        """The relevance (or attribution) at the output of layer ``name``, ``(N, ...)``.

        Computed in the same backward pass as the input's when the method was asked for
        ``layers=[name, ...]``; its sum per sample is the explained output minus what the
        layers above ``name`` absorbed (biases, stabilizers).
        """
        key = LAYER_PREFIX + name
        if key not in self.extras:
            raise KeyError(
                f"this explanation has no relevance at layer {name!r} (it has {self.layers or 'none'}); "
                f"explain with layers=[{name!r}]"
            )
        value: Tensor = self.extras[key]
        return value

    def numpy(self) -> np.ndarray:
        """The attribution as a NumPy array (copied to the CPU)."""
        return self.attribution.detach().cpu().numpy()

    def to_numpy(self) -> dict[str, np.ndarray]:
        """The per-sample fields as NumPy arrays (copied to the CPU).

        Returns
        -------
        dict of str to numpy.ndarray
            ``"attribution"`` and ``"output"``, and ``"target"``, ``"inputs"`` and
            ``"baseline"`` where the explanation has them (absent fields are left out).
            ``bfloat16`` tensors become ``float32`` arrays (NumPy has no ``bfloat16``);
            other dtypes are kept.
        """
        out: dict[str, np.ndarray] = {}
        for name in PER_SAMPLE_FIELDS:
            value: Tensor | None = getattr(self, name)
            if value is not None:
                data = value.detach().cpu()
                out[name] = (data.float() if data.dtype == torch.bfloat16 else data).numpy().copy()
        return out

    def to(self, device: torch.device | str) -> Explanation:
        """A copy with all tensors (fields and tensor extras) moved to ``device``."""
        return replace(
            self,
            attribution=self.attribution.to(device),
            output=self.output.to(device),
            target=None if self.target is None else self.target.to(device),
            inputs=None if self.inputs is None else self.inputs.to(device),
            baseline=None if self.baseline is None else self.baseline.to(device),
            extras={k: v.to(device) if isinstance(v, Tensor) else v for k, v in self.extras.items()},
        )

    @classmethod
    def concat(
        cls, explanations: Sequence[Explanation], *, conflicting_extras: Literal["raise", "drop"] = "raise"
    ) -> Explanation:
        """One explanation of the samples of several, in order (for example of batches).

        Parameters
        ----------
        explanations : sequence of Explanation
            At least one; all of the same method and options, with the same fields
            present, the same feature names, the same extras and the same per-sample
            extras, on the same device with the same dtypes.
        conflicting_extras : {"raise", "drop"}
            What to do with an extra that is not per sample and differs between the
            explanations (for example a count of fallbacks per batch): raise (default) or
            leave it out of the result.

        Returns
        -------
        Explanation
            Per-sample fields and per-sample extras concatenated along the first
            dimension; method, options, feature names and the other extras of the first.

        Raises
        ------
        ValueError
            Naming what differs: the method, an option, a field present in some only,
            a dtype or device, the feature names, the set of extras or a batch-wide extra.
        """
        parts = list(explanations)
        if not parts:
            raise ValueError("Explanation.concat needs at least one explanation")
        for i, part in enumerate(parts):
            if not isinstance(part, Explanation):
                raise TypeError(f"Explanation.concat takes explanations; item {i} is a {type(part).__name__}")
        if conflicting_extras not in ("raise", "drop"):
            raise ValueError(f"conflicting_extras must be 'raise' or 'drop', got {conflicting_extras!r}")
        first = parts[0]
        for i, part in enumerate(parts[1:], start=1):
            _check_compatible(first, part, i)
        fields: dict[str, Any] = {}
        for name in PER_SAMPLE_FIELDS:
            values = [getattr(p, name) for p in parts]
            fields[name] = None if values[0] is None else _join(values, name)
        per_sample = first._per_sample()
        extras: dict[str, Any] = {}
        for key, value in first.extras.items():
            if key in per_sample:
                extras[key] = _join([p.extras[key] for p in parts], f"extras[{key!r}]")
                continue
            differ = [i for i, p in enumerate(parts) if not _same(p.extras[key], value)]
            if not differ:
                extras[key] = value
            elif conflicting_extras == "raise":
                raise ValueError(
                    f"cannot concatenate explanations: the batch-wide extra {key!r} differs "
                    f"({_describe(value)} in explanation 0, {_describe(parts[differ[0]].extras[key])} in "
                    f"explanation {differ[0]}); pass conflicting_extras='drop' to leave it out"
                )
        return cls(
            method=first.method,
            options=first.options,
            feature_names=first.feature_names,
            extras=extras,
            per_sample_extras=per_sample,
            **fields,
        )

    def save(self, path: str | os.PathLike[str], *, compress: bool = False, strict: bool = False) -> Path:
        """Write the explanation to a file that is safe to load (no pickles).

        The file is one NumPy ``.npz`` archive: the per-sample fields, the arrays of
        options and extras, and a JSON ``metadata`` entry (format name and version,
        method, options, extras, per-sample extras, dtypes, shapes, devices, feature
        names). The format is described in :mod:`xaikit.core.explanation_file` and
        ``docs/explanation-format.md``.

        Parameters
        ----------
        path : str or path-like
            The file to write, exactly this name (``.npz`` is the suggested suffix); it
            is replaced at once, never left half-written.
        compress : bool
            Deflate the arrays.
        strict : bool
            Options or extras that are neither tensors, arrays, nor JSON values (numbers,
            strings, ``None``, lists, tuples and dicts of them) are stored as their
            ``repr`` with a ``UserWarning`` and load as that string; ``strict=True``
            raises ``ValueError`` instead.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        return explanation_file.write_explanation(self, path, compress=compress, strict=strict)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: torch.device | str = "cpu") -> Explanation:
        """Read an explanation written by :meth:`save`; never runs code from the file.

        Parameters
        ----------
        path : str or path-like
            The file.
        device : torch.device or str
            Where to put the tensors (the CPU by default; the device they were on when
            saved is in the file's metadata).

        Returns
        -------
        Explanation
            Tensors bit-identical to the saved ones, with their dtypes and shapes.

        Raises
        ------
        xaikit.core.explanation_file.ExplanationFileError
            (a ``ValueError``) when the file is not an explanation file, holds a
            pickled object array or other unexpected content, or has an unknown format
            version.
        """
        kwargs = explanation_file.read_explanation(path, device=device)
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as error:
            raise explanation_file.ExplanationFileError(f"{os.fspath(path)}: inconsistent explanation ({error})") from error

    def plot(self, index: int = 0, **kwargs: Any) -> Any:
        """Draw the attribution of sample ``index`` with the picture that fits its shape.

        Images give a heatmap, tabular data a bar chart, time series a coloured curve
        (see :func:`xaikit.plot.plot_explanation`). Returns the matplotlib figure; never
        calls ``show()``. The drawing is done by the plotter registered in
        :mod:`xaikit.core.hooks` (``xaikit.plot``, which ``import xaikit`` makes
        available), so that the core never imports the plotting layer.
        """
        return get_plotter()(self, index, **kwargs)


def _check_compatible(first: Explanation, other: Explanation, i: int) -> None:
    """Raise ``ValueError`` naming the first way ``other`` (item ``i``) cannot join ``first``."""
    prefix = f"cannot concatenate explanations: explanation {i}"
    if other.method != first.method:
        raise ValueError(f"{prefix} is of method {other.method!r}, explanation 0 of {first.method!r}")
    keys = first.options.keys() ^ other.options.keys()
    if keys:
        raise ValueError(f"{prefix} has other options than explanation 0 (not in both: {', '.join(sorted(map(str, keys)))})")
    differ = [k for k in first.options if not _same(first.options[k], other.options[k])]
    if differ:
        k = differ[0]
        raise ValueError(
            f"{prefix} has the option {k}={_describe(other.options[k])}, explanation 0 "
            f"{k}={_describe(first.options[k])}"
        )
    first_names = None if first.feature_names is None else list(first.feature_names)
    other_names = None if other.feature_names is None else list(other.feature_names)
    if first_names != other_names:
        raise ValueError(f"{prefix} has other feature names than explanation 0")
    for name in PER_SAMPLE_FIELDS:
        a, b = getattr(first, name), getattr(other, name)
        if (a is None) != (b is None):
            has, lacks = (0, i) if b is None else (i, 0)
            raise ValueError(f"cannot concatenate explanations: explanation {has} has a {name}, explanation {lacks} none")
        if a is not None and (a.dtype != b.dtype or a.device != b.device or a.shape[1:] != b.shape[1:]):
            raise ValueError(f"{prefix} has the {name} {_describe(b)}, explanation 0 {_describe(a)}")
    keys = first.extras.keys() ^ other.extras.keys()
    if keys:
        raise ValueError(f"{prefix} has other extras than explanation 0 (not in both: {', '.join(sorted(map(str, keys)))})")
    if first._per_sample() != other._per_sample():
        odd = sorted(first._per_sample() ^ other._per_sample())
        raise ValueError(
            f"{prefix} disagrees with explanation 0 on which extras are per sample: {', '.join(odd)} "
            "(declare them with per_sample_extras when a batch-wide extra's length equals the number of samples)"
        )
