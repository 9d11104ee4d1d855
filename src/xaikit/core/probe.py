"""One look at the model before it is explained, and one at the result after.

Every method of the registry runs :func:`probe_model` before its attribution and
:func:`check_result` after it (in :meth:`xaikit.core.base.Explainer.__call__`), so that a
model an explanation would silently be wrong for raises a :class:`~xaikit.utils.errors.ModelError`
that names the problem and the fix instead:

- the output is not one tensor with the batch dimension first (a tuple, dict, scalar, or
  one row for a batch of several);
- the output is integer (class indices, as from ``argmax``): there is no score to explain;
- a sample's output depends on the other samples of the batch (rows are mixed);
- two calls on the same input differ: the forward is random (functional dropout with
  ``training=True``, noise layers), whatever module types it uses;
- the model writes its input in place, so that the inputs change between evaluations;
- (after the attribution) NaN or infinity in the explained value or the attribution,
  with the parameters or buffers that hold them.

The probe evaluates the first two samples of the batch twice, the first alone and next to
a synthetic partner, without gradients; the global random state is saved and restored
around it (a random forward draws from it). NaN in an output that is not explained is
left alone: the methods that never touch it stay right.

What the probe checks is a property of the model's code and modes, not of the values it is
given, so a module that passed is not probed again for inputs of the same sample shape,
dtype and device while its modules' training flags, hooks and ``forward`` stay as they
were (see :func:`probe_key`); any change of those probes it anew.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any

import torch
from torch import Tensor, nn

from xaikit.core.forward import check_output
from xaikit.core.validation import all_finite
from xaikit.utils.errors import ModelError, NonFiniteError

__all__ = ["PROBE_CALLS", "PROBE_SAMPLES", "check_result", "nonfinite_parameters", "probe_key", "probe_model"]

#: Samples of the batch the probe evaluates.
PROBE_SAMPLES = 2
#: Calls of the model the probe makes.
PROBE_CALLS = 4
#: At most this many passed signatures are remembered per module.
_REMEMBERED = 64
_PASSED: weakref.WeakKeyDictionary[nn.Module, set[Hashable]] = weakref.WeakKeyDictionary()


def probe_key(model: Callable[..., Any], inputs: Tensor) -> tuple[nn.Module, Hashable] | None:
    """The innermost module of ``model`` and what a passed probe of it on ``inputs`` depends on.

    Wrappers (:mod:`xaikit.core.wrappers`) are looked through (their type and output selector
    are part of the signature). ``None`` for a model that is not an eager module (a function,
a TorchScript module): it is always probed.
    """
    chain: list[Hashable] = []
    while hasattr(model, "xaikit_wrapped"):
        selector = getattr(model, "output", None)
        chain.append((type(model).__qualname__, selector if _hashable(selector) else id(selector)))
        model = model.xaikit_wrapped
    if not isinstance(model, nn.Module) or isinstance(model, torch.jit.ScriptModule):
        return None
    modules = list(model.modules())
    forward = model.__dict__.get("forward", type(model).forward)
    signature = (
        tuple(chain),
        tuple(inputs.shape[1:]),
        inputs.dtype,
        inputs.device,
        id(forward),
        tuple(m.training for m in modules),
        sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in modules),
    )
    return model, signature


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def probe_model(model: Callable[..., Any], inputs: Tensor) -> None:
    """Raise a :class:`~xaikit.utils.errors.ModelError` if ``model`` cannot be explained on ``inputs``.

    A module that passed before with the same :func:`probe_key` is not evaluated again.

    Parameters
    ----------
    model : callable
        The model (its state is not changed; the global random state is restored).
    inputs : torch.Tensor
        The validated batch ``(N, ...)``; never modified (a copy is evaluated).
    """
    key = probe_key(model, inputs)
    if key is not None and key[1] in _PASSED.get(key[0], ()):
        return
    _probe(model, inputs)
    if key is not None:
        passed = _PASSED.setdefault(key[0], set())
        if len(passed) >= _REMEMBERED:
            passed.clear()
        passed.add(key[1])


def _probe(model: Callable[..., Any], inputs: Tensor) -> None:
    sample = inputs[:PROBE_SAMPLES].detach()
    copy = sample.clone()
    devices = [sample.device] if sample.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        first = check_output(model(copy), len(sample))
        if not torch.equal(copy, sample):
            raise ModelError(
                "the model writes its input in place (for example x.relu_(), x -= mean or "
                "x[..., 0] = 0 on the tensor it is given), so the inputs change between the "
                "evaluations an explanation makes; make the first operation on the input "
                "out of place (x = x - mean, x = torch.relu(x))"
            )
        second = check_output(model(copy), len(sample))
        alone, paired = _alone_and_paired(model, copy[:1])
    _check_scores(first, model)
    if not _same(first, second):
        gap = (first.double() - second.double()).abs().max().item()
        raise ModelError(
            f"two calls of the model on the same input differ (by up to {gap:.3g}): its forward "
            "is random, for example F.dropout(h, p, training=True) or a noise layer, so "
            "every explanation would be a random draw; make it deterministic in inference "
            "(call model.eval() and pass training=self.training to functional dropout)"
        )
    if alone is not None and paired is not None and not (_same(alone, first[:1]) and _same(alone, paired)):
        raise ModelError(
            "the model's output for a sample depends on the other samples of the batch (it mixes "
            "rows, for example by normalizing, averaging or transposing over the batch "
            "dimension), so an explanation of one sample would depend on the rest; make each "
            "sample's output depend on that sample alone"
        )


def _alone_and_paired(model: Callable[..., Any], row: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """The output for ``row`` alone and next to a synthetic partner row.

    ``None`` where the model cannot run on those batch sizes (an exported program with a
    fixed batch size): the methods then evaluate it only at the batch size it accepts.
    """
    try:
        alone = check_output(model(row), 1)
        paired = check_output(model(torch.cat([row, row * 0.5 + 0.25])), 2)[:1]
    except ModelError:
        raise
    except Exception:
        return None, None
    return alone, paired


def check_result(model: Callable[..., Any], attribution: Tensor, output: Tensor, method: str) -> None:
    """Raise :class:`~xaikit.utils.errors.NonFiniteError` for NaN or infinity in a result.

    Parameters
    ----------
    model : callable
        The explained model (its parameters are searched for the cause).
    attribution, output : torch.Tensor
        The method's attribution and explained value.
    method : str
        The method's name, for the message.
    """
    for name, values in (("explained output", output), ("attribution", attribution)):
        if all_finite(values):
            continue
        count = int((~torch.isfinite(values)).sum())
        otherwise = _OVERFLOW if name != "attribution" else (
            "the model's output and weights are finite, so the method divided by (nearly) zero or "
            "overflowed; use float64 inputs, a stabilizer (epsilon=...) or another method"
        )
        raise NonFiniteError(f"{method}: the {name} holds {count} NaN or inf value(s): {_cause(model, otherwise)}")


def nonfinite_parameters(model: Callable[..., Any]) -> list[str]:
    """Names of the parameters and buffers of ``model`` that hold NaN or infinity."""
    if not isinstance(model, nn.Module):
        return []
    tensors = [*model.named_parameters(), *model.named_buffers()]
    return [
        f"{'parameter' if isinstance(t, nn.Parameter) else 'buffer'} {name!r}"
        for name, t in tensors
        if t.dtype.is_floating_point and not bool(torch.isfinite(t).all())
    ]


def _check_scores(out: Tensor, model: Callable[..., Any]) -> None:
    if not (out.dtype.is_floating_point or out.dtype.is_complex):
        raise ModelError(
            f"the model returned {out.dtype} values (class indices, as from argmax?); there is no "
            "score to explain: explain the logits or probabilities the indices are taken from"
        )


_OVERFLOW = "the model's output overflows on these inputs; check their scale and use float64"


def _cause(model: Callable[..., Any], otherwise: str) -> str:
    culprits = nonfinite_parameters(model)
    if culprits:
        return f"the model's {', '.join(culprits[:5])} hold NaN or inf; repair or reload the weights"
    return otherwise


_FLOAT32_ROUND_OFF = 64 * torch.finfo(torch.float32).eps


def _same(a: Tensor, b: Tensor) -> bool:
    """Equal up to round-off (batched kernels may sum in another order).

    At least float32's: a float64 output may come from float32 computations inside.
    """
    if a.shape != b.shape:
        return False
    tolerance = max(64 * torch.finfo(a.dtype).eps, _FLOAT32_ROUND_OFF) if a.dtype.is_floating_point else 0.0
    a, b = a.double(), b.double()
    finite = torch.isfinite(a)
    scale = float(a[finite].abs().max()) if bool(finite.any()) else 0.0
    close = ((a - b).abs() <= tolerance * scale + 1e-12) | (a == b) | (a.isnan() & b.isnan())
    return bool(close.all())
