"""The unrolled recurrent kernels equal the fused ones (``torch._VF.lstm``, ``gru``, ...).

Each module runs twice: as is, and with the ``torch._VF`` kernels it calls replaced by
their unrolled versions (:data:`xaikit.engine.recurrent.UNROLLED`); outputs and final
states must agree to 1e-12 (float64) and 1e-6 (float32).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
import torch.nn.modules.rnn as rnn_module
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence
from torch.overrides import TorchFunctionMode

from xaikit.engine import ModelModeError, recurrent
from xaikit.engine.recurrent import UNROLLED, UNROLLED_PACKING, is_packed_call

KERNELS = ("lstm", "gru", "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell")
PACKING = ("_pack_padded_sequence", "_pad_packed_sequence")
TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-6}


@contextmanager
def unrolled(calls: list[str], names: tuple[str, ...] = KERNELS) -> Iterator[None]:
    """Replace the ``torch._VF`` kernels by their unrolled versions; record the calls."""
    vf = rnn_module._VF
    table = {**UNROLLED, **UNROLLED_PACKING}

    def wrap(name: str) -> Callable[..., Any]:
        implementation = table[getattr(torch, name)]

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return implementation(*args, **kwargs)

        return wrapper

    for name in names:
        setattr(vf, name, wrap(name))
    try:
        yield
    finally:
        for name in names:
            delattr(vf, name)


def flatten(value: Any) -> list[Tensor]:
    """The tensors in a module's output (tuples and packed sequences opened)."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, PackedSequence):
        return [value.data, value.batch_sizes]
    return [tensor for item in value for tensor in flatten(item)]


def assert_same(actual: Any, expected: Any, dtype: torch.dtype) -> None:
    tol = TOLERANCE[dtype]
    actual_tensors, expected_tensors = flatten(actual), flatten(expected)
    assert len(actual_tensors) == len(expected_tensors)
    for a, e in zip(actual_tensors, expected_tensors):
        assert a.shape == e.shape and a.dtype == e.dtype
        torch.testing.assert_close(a, e, rtol=tol, atol=tol)


def check(module: nn.Module, *inputs: Any, expect: str) -> None:
    """The module's output with unrolled kernels equals its output with the fused ones."""
    dtype = next(module.parameters()).dtype
    expected = module(*inputs)
    calls: list[str] = []
    with unrolled(calls):
        actual = module(*inputs)
    assert calls == [expect]
    assert_same(actual, expected, dtype)


def randomize(module: nn.Module, scale: float = 0.6) -> nn.Module:
    """Weights larger than the default initialisation, so that gates saturate somewhat."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.uniform_(-scale, scale)
    return module


MODULES: dict[str, Callable[..., nn.Module]] = {
    "lstm": nn.LSTM,
    "gru": nn.GRU,
    "rnn_tanh": lambda *a, **k: nn.RNN(*a, nonlinearity="tanh", **k),
    "rnn_relu": lambda *a, **k: nn.RNN(*a, nonlinearity="relu", **k),
}


def initial_state(kind: str, module: nn.RNNBase, batch: int | None, dtype: torch.dtype) -> Any:
    layers = module.num_layers * (2 if module.bidirectional else 1)
    shape = (layers, batch) if batch is not None else (layers,)
    out = module.proj_size or module.hidden_size
    h = torch.randn(*shape, out, dtype=dtype)
    if kind == "lstm":
        return h, torch.randn(*shape, module.hidden_size, dtype=dtype)
    return h


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("given_state", [False, True])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", list(MODULES))
def test_sequence_modules(
    kind: str,
    num_layers: int,
    bidirectional: bool,
    batch_first: bool,
    bias: bool,
    batched: bool,
    given_state: bool,
    dtype: torch.dtype,
) -> None:
    module = MODULES[kind](
        3, 5, num_layers=num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional, dtype=dtype
    )
    randomize(module).eval()
    steps, batch = 6, 4
    shape = ((batch, steps) if batch_first else (steps, batch)) if batched else (steps,)
    x = torch.randn(*shape, 3, dtype=dtype)
    inputs = (x, initial_state(kind, module, batch if batched else None, dtype)) if given_state else (x,)
    check(module, *inputs, expect=kind)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("bias", "bidirectional", "batch_first"), list(itertools.product([True, False], repeat=3)))
def test_lstm_projection(bias: bool, bidirectional: bool, batch_first: bool, dtype: torch.dtype) -> None:
    module = randomize(
        nn.LSTM(3, 6, num_layers=2, bias=bias, batch_first=batch_first, bidirectional=bidirectional, proj_size=2, dtype=dtype)
    ).eval()
    x = torch.randn(2, 5, 3, dtype=dtype)
    check(module, x, expect="lstm")
    check(module, x, initial_state("lstm", module, 5 if not batch_first else 2, dtype), expect="lstm")


CELLS: dict[str, Callable[..., nn.Module]] = {
    "lstm_cell": nn.LSTMCell,
    "gru_cell": nn.GRUCell,
    "rnn_tanh_cell": lambda *a, **k: nn.RNNCell(*a, nonlinearity="tanh", **k),
    "rnn_relu_cell": lambda *a, **k: nn.RNNCell(*a, nonlinearity="relu", **k),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("given_state", [False, True])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(CELLS))
def test_cells(kind: str, bias: bool, batched: bool, given_state: bool, dtype: torch.dtype) -> None:
    cell = randomize(CELLS[kind](3, 5, bias=bias, dtype=dtype))
    lead = (4,) if batched else ()
    x = torch.randn(*lead, 3, dtype=dtype)
    if not given_state:
        check(cell, x, expect=kind)
        return
    h = torch.randn(*lead, 5, dtype=dtype)
    state = (h, torch.randn(*lead, 5, dtype=dtype)) if kind == "lstm_cell" else h
    check(cell, x, state, expect=kind)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("given_state", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", list(MODULES))
def test_packed_sequences(kind: str, bidirectional: bool, given_state: bool, dtype: torch.dtype) -> None:
    module = randomize(MODULES[kind](3, 4, num_layers=2, bidirectional=bidirectional, batch_first=True, dtype=dtype))
    module.eval()
    lengths = torch.tensor([3, 6, 1, 6, 2])
    x = torch.randn(5, 6, 3, dtype=dtype)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    inputs = (packed, initial_state(kind, module, 5, dtype)) if given_state else (packed,)
    check(module, *inputs, expect=kind)


@pytest.mark.parametrize("total_length", [0, 8])
@pytest.mark.parametrize("batch_first", [False, True])
def test_packing_kernels(batch_first: bool, total_length: int) -> None:
    lengths = torch.tensor([2, 5, 1, 5])
    x = torch.randn(*((4, 5) if batch_first else (5, 4)), 3, 2, dtype=torch.float64)
    expected = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    calls: list[str] = []
    with unrolled(calls, PACKING):
        actual = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
        padded = pad_packed_sequence(actual, batch_first=batch_first, padding_value=-1.5, total_length=total_length or None)
    assert calls == list(PACKING)
    assert_same(actual, expected, torch.float64)
    assert actual.batch_sizes.dtype == torch.int64 and actual.batch_sizes.device.type == "cpu"
    assert_same(padded, pad_packed_sequence(expected, batch_first, -1.5, total_length or None), torch.float64)


def test_packed_lstm_end_to_end() -> None:
    """pack, LSTM, pad: all three kernels unrolled, the same result as fused."""
    module = randomize(nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, dtype=torch.float64)).eval()
    lengths = torch.tensor([4, 1, 3])
    x = torch.randn(4, 3, 3, dtype=torch.float64)

    def forward() -> Any:
        output, state = module(pack_padded_sequence(x, lengths, enforce_sorted=False))
        return pad_packed_sequence(output), state

    expected = forward()
    calls: list[str] = []
    with unrolled(calls, (*KERNELS, *PACKING)):
        actual = forward()
    assert calls == ["_pack_padded_sequence", "lstm", "_pad_packed_sequence"]
    assert_same(actual, expected, torch.float64)


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(list(MODULES)),
    sizes=st.tuples(*(st.integers(1, 5) for _ in range(4))),
    num_layers=st.integers(1, 3),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
    seed=st.integers(0, 2**16),
)
def test_random_sizes(
    kind: str, sizes: tuple[int, int, int, int], num_layers: int, flags: tuple[bool, bool, bool, bool], seed: int
) -> None:
    steps, batch, features, hidden = sizes
    bidirectional, batch_first, bias, given_state = flags
    torch.manual_seed(seed)
    module = MODULES[kind](
        features, hidden, num_layers=num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional
    )
    module = randomize(module.double()).eval()
    x = torch.randn(*((batch, steps) if batch_first else (steps, batch)), features, dtype=torch.float64)
    inputs = (x, initial_state(kind, module, batch, torch.float64)) if given_state else (x,)
    check(module, *inputs, expect=kind)


def test_kernel_level_and_keywords() -> None:
    """Called directly, by position or by the schema's keyword names, and via ATen."""
    module = randomize(nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64))
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    hx = initial_state("lstm", module, 2, torch.float64)
    args = (x, hx, module._flat_weights, True, 2, 0.0, False, True, False)
    names = ("input", "hx", "params", "has_biases", "num_layers", "dropout", "train", "bidirectional", "batch_first")
    expected = torch._VF.lstm(*args)
    assert_same(recurrent.lstm(*args), expected, torch.float64)
    assert_same(recurrent.lstm(**dict(zip(names, args))), expected, torch.float64)
    assert_same(UNROLLED[torch.ops.aten.lstm.input](x, hx, *args[2:]), torch.ops.aten.lstm.input(*args), torch.float64)
    cell = randomize(nn.GRUCell(3, 4, dtype=torch.float64))
    h = torch.randn(2, 4, dtype=torch.float64)
    weights = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    assert_same(
        recurrent.gru_cell(x[0], h, w_ih=weights[0], w_hh=weights[1], b_ih=weights[2], b_hh=weights[3]),
        torch._VF.gru_cell(x[0], h, *weights),
        torch.float64,
    )
    assert_same(recurrent.gru_cell(x[0], h, *weights[:2]), torch._VF.gru_cell(x[0], h, *weights[:2]), torch.float64)


def test_mapping_covers_every_alias() -> None:
    for name in KERNELS:
        implementation = getattr(recurrent, name)
        assert getattr(torch._VF, name) is getattr(torch, name)
        for alias in (getattr(torch._VF, name), getattr(torch._C._VariableFunctions, name), getattr(torch.ops.aten, name)):
            assert UNROLLED[alias] is implementation
    assert UNROLLED[torch.ops.aten.gru.data] is recurrent.gru
    assert UNROLLED[torch.ops.aten.rnn_relu_cell.default] is recurrent.rnn_relu_cell
    assert UNROLLED_PACKING[torch._VF._pad_packed_sequence] is recurrent.pad_packed_sequence


def test_is_packed_call() -> None:
    module = nn.GRU(3, 4)
    x = torch.randn(5, 2, 3)
    h = torch.zeros(1, 2, 4)
    rest = (module._flat_weights, True, 1, 0.0, False, False)
    assert not is_packed_call((x, h, *rest, False))
    assert is_packed_call((x, torch.tensor([2, 2, 1]), h, *rest))
    assert not is_packed_call((x, (h, h), *rest, False))
    assert is_packed_call((), {"data": x, "batch_sizes": torch.tensor([2])})
    assert not is_packed_call((), {"input": x})


class _Recorder(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.seen.append(func)
        return func(*args, **(kwargs or {}))


def test_only_ordinary_ops_are_called() -> None:
    """Under a TorchFunctionMode the unrolled modules show no fused kernel, only plain ops."""
    allowed = {
        torch.nn.functional.linear,
        torch._C._nn.linear,
        torch.sigmoid,
        torch.tanh,
        torch.relu,
        torch.stack,
        torch.cat,
        Tensor.__getitem__,
        Tensor.__mul__,
        Tensor.mul,
        Tensor.add,
        Tensor.__add__,
        Tensor.__rsub__,
        Tensor.new_full,
        Tensor.tolist,
    }
    x = torch.randn(5, 3, 3)
    lengths = torch.tensor([5, 2, 4])
    models = [
        nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2),
        nn.GRU(3, 4, num_layers=2, bidirectional=True),
        nn.RNN(3, 4, nonlinearity="relu"),
    ]
    shape_queries = {Tensor.shape.__get__, Tensor.dim, Tensor.size, Tensor.is_floating_point}
    for model in models:
        for inputs in (x, pack_padded_sequence(x, lengths, enforce_sorted=False)):
            kernel, args = kernel_call(model, inputs)
            recorder = _Recorder()
            with recorder:
                UNROLLED[kernel](*args)
            unexpected = {func for func in recorder.seen if func not in allowed | shape_queries}
            assert not unexpected, unexpected


def kernel_call(module: nn.Module, *inputs: Any) -> tuple[Any, tuple[Any, ...]]:
    """The fused kernel a module calls, and its arguments."""
    record: list[tuple[Any, tuple[Any, ...]]] = []

    def spy(name: str) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            record.append((getattr(torch, name), args))
            return getattr(torch, name)(*args)

        return wrapper

    for name in KERNELS:
        setattr(rnn_module._VF, name, spy(name))
    try:
        module(*inputs)
    finally:
        for name in KERNELS:
            delattr(rnn_module._VF, name)
    (call,) = record
    return call


@pytest.mark.parametrize("kind", list(MODULES))
def test_training_dropout_is_refused(kind: str) -> None:
    module = MODULES[kind](3, 4, num_layers=2, dropout=0.3).train()
    x = torch.randn(5, 2, 3)
    with unrolled([]), pytest.raises(ModelModeError, match=r"dropout=0\.3.*model\.eval\(\)"):
        module(x)
    assert issubclass(ModelModeError, ValueError)
    check(module.eval(), x, expect=kind)  # in evaluation mode dropout is a no-op
    check(MODULES[kind](3, 4, num_layers=2).train(), x, expect=kind)  # training without dropout


def test_projection_weights_only_for_lstm() -> None:
    module = nn.GRU(3, 4)
    x = torch.randn(5, 2, 3)
    extra = [*module._flat_weights, torch.zeros(2, 4)]
    with pytest.raises(ValueError, match="projection"):
        recurrent.gru(x, torch.zeros(1, 2, 4), extra, True, 1, 0.0, False, False, False)
