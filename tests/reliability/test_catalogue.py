"""Every registered method on every case of the bad-input catalogue (issue 11).

Each run asserts one of: the result equals the clean float64 result, or an
:class:`~xaikit.utils.errors.XaikitError` whose message names a fix. Whatever happens,
the model (parameters, buffers, flags, hooks), the caller's inputs and the global random
state are left as they were.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import torch
from catalogue import (
    CASES,
    FIX_WORDS,
    LOW_PRECISION,
    METHOD_OPTIONS,
    Case,
    Failing,
    clean_inputs,
    clean_model,
    options_for,
)
from torch import Tensor, nn

import xaikit
from xaikit.core.probe import PROBE_CALLS
from xaikit.utils.errors import XaikitError

METHODS = xaikit.methods()

#: The catalogue builds TorchScript models on purpose (torch deprecates the API, not the files).
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")


def test_every_registered_method_is_in_the_catalogue() -> None:
    missing = sorted(set(METHODS) - set(METHOD_OPTIONS))
    assert not missing, f"add catalogue options for {missing} in tests/reliability/catalogue.py"
    stale = sorted(set(METHOD_OPTIONS) - set(METHODS))
    assert not stale, f"catalogue entries for methods that are not registered: {stale}"


def _explain(method: str, model: Any, x: Any, target: Any) -> xaikit.Explanation:
    like = x if isinstance(x, Tensor) and x.dtype.is_floating_point and x.device.type != "meta" else clean_inputs(method)
    options = options_for(method, like)
    if "layer" in options and isinstance(model, nn.Module):  # the layer as a module: found inside any wrapper
        options["layer"] = next((m for n, m in model.named_modules() if n.split(".")[-1] == options["layer"]),
                                options["layer"])
    return xaikit.explain(model, x, target, method=method, **options)


def _snapshot(model: Any) -> dict[str, Any]:
    if not isinstance(model, nn.Module):
        return {}
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
        "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for m in model.modules()],
    }


def _assert_same_state(before: dict[str, Any], model: Any) -> None:
    after = _snapshot(model)
    if not before:
        return
    assert before["training"] == after["training"], "training flags changed"
    assert before["requires_grad"] == after["requires_grad"], "requires_grad changed"
    assert all(a is b for a, b in zip(before["grads"], after["grads"], strict=True)), ".grad changed"
    assert before["hooks"] == after["hooks"], "hooks were left behind"
    for key, value in before["state"].items():
        assert torch.equal(value.nan_to_num(), after["state"][key].nan_to_num()), f"{key} changed"


def _copy_inputs(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x.clone() if x.device.type != "meta" else x
    return copy.deepcopy(x)


def _assert_inputs_unchanged(before: Any, x: Any) -> None:
    if isinstance(x, Tensor) and x.device.type != "meta":
        assert torch.equal(before.nan_to_num(), x.nan_to_num()), "the caller's inputs changed"
    elif isinstance(x, np.ndarray):
        np.testing.assert_array_equal(before, x)


@contextmanager
def _guarded(model: Any, x: Any) -> Iterator[None]:
    state, inputs, rng = _snapshot(model), _copy_inputs(x), torch.random.get_rng_state()
    try:
        yield
    finally:
        _assert_same_state(state, model)
        _assert_inputs_unchanged(inputs, x)
        assert torch.equal(rng, torch.random.get_rng_state()), "the global random state was advanced"


def _assert_names_a_fix(error: XaikitError) -> None:
    message = str(error).lower()
    assert any(word in message for word in FIX_WORDS), f"the message names no fix: {error}"


def _reference(method: str) -> xaikit.Explanation:
    return _explain(method, clean_model(method), clean_inputs(method), 1)


def _assert_close(e: xaikit.Explanation, ref: xaikit.Explanation, rtol: float) -> None:
    for name in ("attribution", "output"):
        got, want = getattr(e, name).detach().double().cpu(), getattr(ref, name).detach().double()
        scale = float(want.abs().max()) or 1.0
        torch.testing.assert_close(got, want, rtol=rtol, atol=rtol * scale, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("method", METHODS)
def test_catalogue(method: str, case: Case) -> None:
    exempt = dict(case.exempt)
    if method in exempt:
        pytest.skip(exempt[method])
    model, x, target = case.build(method)
    reference = _reference(method) if case.expect != "error" else None
    with _guarded(model, x):
        if reference is None:
            with pytest.raises(XaikitError) as caught:
                _explain(method, model, x, target)
            _assert_names_a_fix(caught.value)
            return
        try:
            e = _explain(method, model, x, target)
        except XaikitError as error:
            if case.expect != "same_or_error":
                raise
            _assert_names_a_fix(error)
            return
        _assert_close(e, reference, case.rtol)


@pytest.mark.parametrize(("dtype", "rtol"), LOW_PRECISION, ids=lambda v: str(v))
@pytest.mark.parametrize("method", METHODS)
def test_low_precision_is_right_or_refused(method: str, dtype: torch.dtype, rtol: float) -> None:
    model, x = clean_model(method).to(dtype), clean_inputs(method).to(dtype)
    reference = _reference(method)
    with _guarded(model, x):
        try:
            e = _explain(method, model, x, 1)
        except XaikitError as error:
            _assert_names_a_fix(error)
            return
        _assert_close(e, reference, rtol)


@pytest.mark.parametrize("error", [RuntimeError("forced"), KeyboardInterrupt()], ids=["exception", "interrupt"])
@pytest.mark.parametrize("when", [1, PROBE_CALLS + 1])
@pytest.mark.parametrize("method", METHODS)
def test_a_failing_forward_leaves_everything_restored(method: str, error: BaseException, when: int) -> None:
    model = Failing(clean_model(method), error, when)
    x = clean_inputs(method)
    model.inner.register_forward_hook(lambda *args: None)
    with _guarded(model, x), pytest.raises(type(error)):
        _explain(method, model, x, 1)


@pytest.mark.parametrize("method", METHODS)
def test_a_user_hook_still_runs_and_stays(method: str) -> None:
    model, x = clean_model(method), clean_inputs(method)
    reference = _reference(method)
    seen: list[int] = []
    handle = model.register_forward_hook(lambda module, args, out: seen.append(len(out)))
    try:
        with _guarded(model, x):
            e = _explain(method, model, x, 1)
        assert seen, "the user's forward hook did not run"
        _assert_close(e, reference, 1e-9)
    finally:
        handle.remove()


@pytest.mark.parametrize("write", ["data", "load_state_dict", "double"])
@pytest.mark.parametrize("method", METHODS)
def test_weights_changed_between_calls_are_explained_fresh(method: str, write: str) -> None:
    """Finding 1 for every method: the second call explains the model as it is now."""
    model, x = clean_model(method), clean_inputs(method)
    if write == "double":
        model, x = model.float(), x.float()
    _explain(method, model, x, 1)  # the first call (any derived weights are made here)
    changed = clean_model(method)
    with torch.no_grad():
        for p in changed.parameters():
            p.mul_(-1.5)
    if write == "data":
        for p, q in zip(model.parameters(), changed.parameters(), strict=True):
            p.data = q.data.clone()
    elif write == "load_state_dict":
        model.load_state_dict(changed.state_dict())
    else:
        model.double().load_state_dict(changed.state_dict())
        x = clean_inputs(method)
    _assert_close(_explain(method, model, x, 1), _explain(method, changed, clean_inputs(method), 1), 1e-9)
