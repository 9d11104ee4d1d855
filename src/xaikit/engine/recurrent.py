"""Unrolled, pure-torch stand-ins for the fused recurrent kernels (LSTM, GRU, Elman RNN).

``nn.LSTM``, ``nn.GRU`` and ``nn.RNN`` hand their whole computation to one fused kernel
(``torch._VF.lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``), and the cells ``nn.LSTMCell``,
``nn.GRUCell`` and ``nn.RNNCell`` to ``lstm_cell``, ``gru_cell``, ``rnn_tanh_cell`` and
``rnn_relu_cell``. The propagation engine sees these kernels as single functions and
cannot look into them. The functions here take exactly the arguments the modules pass to
the kernels and return what the kernels return, but compute it step by step with ordinary
operations: ``F.linear``, ``torch.sigmoid``, ``torch.tanh``, ``torch.relu``, elementwise
``*``, ``+`` and ``1 - z``, indexing, ``torch.stack`` and ``torch.cat``. Run under the
engine, each of those operations meets its own rule, so a recurrent layer is explained
by propagating through its unrolled computation with the module's own weights. The
forward values equal the fused kernel's to float round-off.

Gate products are written as elementwise products of the gate and the gated value
(``i * g``, ``f * c``, ``o * tanh(c)``; for the GRU ``r * (W_hn h + b_hn)`` and
``(1 - z) * n + z * h``), so that a product rule can treat the gate as a constant
factor (signal-take-all: the gate gets no relevance).

Supported: several layers, both directions, ``batch_first``, given or zero initial
states (the modules make the zeros), layers with or without biases, LSTM projections
(``proj_size``), and packed sequences (the kernels' ``batch_sizes`` variant). Dropout
between layers in training mode is refused (:class:`~xaikit.engine.errors.ModelModeError`,
a ``ValueError``): it makes the output random; in evaluation mode it is a no-op.

:data:`UNROLLED` maps each fused kernel (the function objects the modules call;
``torch._VF.lstm is torch.lstm``) to its unrolled version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from xaikit.engine.errors import ModelModeError
from xaikit.engine.flat import bind

__all__ = [
    "UNROLLED",
    "UNROLLED_PACKING",
    "gru",
    "gru_cell",
    "is_packed_call",
    "lstm",
    "lstm_cell",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "rnn_relu",
    "rnn_relu_cell",
    "rnn_tanh",
    "rnn_tanh_cell",
]

#: A recurrent state: ``(h, c)`` for an LSTM, ``(h,)`` otherwise.
State = tuple[Tensor, ...]
#: One step: (precomputed input projection ``W_ih x + b_ih``, state, the layer's weights).
Step = Callable[[Tensor, State, Sequence[Tensor | None]], State]

_PADDED = ("input", "hx", "params", "has_biases", "num_layers", "dropout", "train", "bidirectional", "batch_first")
_PACKED = ("data", "batch_sizes", "hx", "params", "has_biases", "num_layers", "dropout", "train", "bidirectional")
_CELL = ("input", "hx", "w_ih", "w_hh", "b_ih", "b_hh")


def _bind(names: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any], op: str) -> dict[str, Any]:
    """The arguments of a kernel call by name, positional ones first; all but the biases required."""
    bound = bind(names, args, kwargs, op)
    missing = [name for name in names if name not in bound and name not in ("b_ih", "b_hh")]
    if missing:
        raise TypeError(f"{op}() is missing arguments: {', '.join(missing)}")
    return bound


def is_packed_call(args: Sequence[Any], kwargs: dict[str, Any] | None = None) -> bool:
    """Whether a call of ``lstm``, ``gru``, ``rnn_tanh`` or ``rnn_relu`` is the packed variant.

    The packed variant is ``(data, batch_sizes, hx, params, ...)``, the padded one
    ``(input, hx, params, ...)``. ``batch_sizes`` is a 1-D integer tensor; ``hx`` is a
    tuple of tensors (LSTM) or a 3-D floating-point tensor.

    Parameters
    ----------
    args : sequence
        The positional arguments of the call.
    kwargs : dict, optional
        Its keyword arguments.

    Returns
    -------
    bool
        True for the packed-sequence variant.
    """
    kwargs = kwargs or {}
    if "batch_sizes" in kwargs or "data" in kwargs:
        return True
    if len(args) < 2:
        return False
    second = args[1]
    return isinstance(second, Tensor) and second.dim() == 1 and not second.is_floating_point()


def _lstm_step(x_proj: Tensor, state: State, weights: Sequence[Tensor | None]) -> State:
    """One LSTM step: gates (input, forget, cell, output) from ``W_ih x + b_ih + W_hh h + b_hh``."""
    h, c = state
    w_hh, b_hh, w_hr = weights[1], weights[3], weights[4]
    assert w_hh is not None
    size = c.shape[-1]
    gates = x_proj + F.linear(h, w_hh, b_hh)
    i = torch.sigmoid(gates[..., :size])
    f = torch.sigmoid(gates[..., size : 2 * size])
    g = torch.tanh(gates[..., 2 * size : 3 * size])
    o = torch.sigmoid(gates[..., 3 * size :])
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    if w_hr is not None:
        h_new = F.linear(h_new, w_hr)
    return h_new, c_new


def _gru_step(x_proj: Tensor, state: State, weights: Sequence[Tensor | None]) -> State:
    """One GRU step: reset gate ``r``, update gate ``z``, candidate ``n``."""
    (h,) = state
    w_hh, b_hh = weights[1], weights[3]
    assert w_hh is not None
    size = h.shape[-1]
    h_proj = F.linear(h, w_hh, b_hh)
    r = torch.sigmoid(x_proj[..., :size] + h_proj[..., :size])
    z = torch.sigmoid(x_proj[..., size : 2 * size] + h_proj[..., size : 2 * size])
    n = torch.tanh(x_proj[..., 2 * size :] + r * h_proj[..., 2 * size :])
    return ((1 - z) * n + z * h,)


def _elman_step(activation: Callable[[Tensor], Tensor]) -> Step:
    """One step of an Elman RNN with the given activation."""

    def step(x_proj: Tensor, state: State, weights: Sequence[Tensor | None]) -> State:
        w_hh, b_hh = weights[1], weights[3]
        assert w_hh is not None
        return (activation(x_proj + F.linear(state[0], w_hh, b_hh)),)

    return step


def _run_direction(
    step: Step, x_proj: Sequence[Tensor], h0: State, weights: Sequence[Tensor | None], reverse: bool
) -> tuple[list[Tensor], State]:
    """Run one direction of one layer over the steps; batch sizes may shrink (packed input).

    ``x_proj[t]`` is the input projection of step ``t``, its first dimension the batch size
    at ``t`` (non-increasing in ``t``). Returns the outputs per step and the final state,
    in which each sequence contributes its state after its own last (first, if reverse) step.
    """
    outputs: list[Tensor] = [x_proj[0]] * len(x_proj)
    state = h0
    if not reverse:
        finished: list[State] = []
        for t, x in enumerate(x_proj):
            size = x.shape[0]
            if size < state[0].shape[0]:
                finished.append(tuple(s[size:] for s in state))
                state = tuple(s[:size] for s in state)
            state = step(x, state, weights)
            outputs[t] = state[0]
        if finished:
            parts = [state, *reversed(finished)]
            state = tuple(torch.cat([part[k] for part in parts]) for k in range(len(state)))
        return outputs, state
    last = x_proj[-1].shape[0]
    if last < h0[0].shape[0]:
        state = tuple(s[:last] for s in h0)
    for t in range(len(x_proj) - 1, -1, -1):
        x = x_proj[t]
        size, active = x.shape[0], state[0].shape[0]
        if size > active:
            state = tuple(torch.cat([s, s0[active:size]]) for s, s0 in zip(state, h0))
        state = step(x, state, weights)
        outputs[t] = state[0]
    return outputs, state


def _layer_weights(params: Sequence[Tensor], has_biases: bool, count: int, op: str) -> list[list[Tensor | None]]:
    """``[w_ih, w_hh, b_ih, b_hh, w_hr]`` per layer and direction (absent ones ``None``)."""
    params = list(params)
    stride, remainder = divmod(len(params), count)
    plain = 4 if has_biases else 2
    if remainder or stride not in (plain, plain + 1):
        raise ValueError(f"{op}: {len(params)} weight tensors do not fit {count} layers and directions")
    if stride == plain + 1 and op != "lstm":
        raise ValueError(f"{op}: only an LSTM has projection weights")
    weights: list[list[Tensor | None]] = []
    for k in range(count):
        chunk = params[k * stride : (k + 1) * stride]
        biases: list[Tensor | None] = [chunk[2], chunk[3]] if has_biases else [None, None]
        weights.append([chunk[0], chunk[1], *biases, chunk[plain] if stride > plain else None])
    return weights


def _run(op: str, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Tensor, ...]:
    """Shared body of the full-sequence kernels; returns ``(output, *final states)``."""
    packed = is_packed_call(args, kwargs)
    a = _bind(_PACKED if packed else _PADDED, args, kwargs, op)
    num_layers: int = a["num_layers"]
    directions = 2 if a["bidirectional"] else 1
    if a["dropout"] > 0 and a["train"] and num_layers > 1:
        raise ModelModeError(
            f"{op}: the recurrent layer applies dropout={a['dropout']} between its layers in "
            "training mode, which makes its output random; call model.eval() before explaining."
        )
    hx = a["hx"]
    states: list[Tensor] = list(hx) if op == "lstm" else [hx]
    weights = _layer_weights(a["params"], a["has_biases"], num_layers * directions, op)
    batch_first = bool(a.get("batch_first", False)) and not packed
    if packed:
        sizes = [int(size) for size in a["batch_sizes"].tolist()]
        offsets = [sum(sizes[:t]) for t in range(len(sizes) + 1)]
        layer_input: Tensor = a["data"]
    else:
        layer_input = a["input"]
        steps = layer_input.shape[1 if batch_first else 0]

    def split(projection: Tensor) -> list[Tensor]:
        if packed:
            return [projection[offsets[t] : offsets[t + 1]] for t in range(len(sizes))]
        if batch_first:
            return [projection[:, t] for t in range(steps)]
        return [projection[t] for t in range(steps)]

    def join(outputs: list[Tensor]) -> Tensor:
        if packed:
            return torch.cat(outputs, 0)
        return torch.stack(outputs, 1 if batch_first else 0)

    finals: list[State] = []
    for layer in range(num_layers):
        results = []
        for direction in range(directions):
            index = layer * directions + direction
            w = weights[index]
            assert w[0] is not None
            x_proj = split(F.linear(layer_input, w[0], w[2]))
            h0 = tuple(s[index] for s in states)
            outputs, final = _run_direction(step, x_proj, h0, w, reverse=direction == 1)
            results.append(join(outputs))
            finals.append(final)
        layer_input = results[0] if directions == 1 else torch.cat(results, -1)
    return (layer_input, *(torch.stack([f[k] for f in finals]) for k in range(len(states))))


def lstm(*args: Any, **kwargs: Any) -> tuple[Tensor, Tensor, Tensor]:
    """Unrolled ``torch._VF.lstm``; same arguments, same ``(output, h_n, c_n)``.

    Parameters
    ----------
    *args, **kwargs
        ``(input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
        batch_first)``, or for packed sequences ``(data, batch_sizes, hx, params,
        has_biases, num_layers, dropout, train, bidirectional)``; ``hx`` is ``(h_0, c_0)``
        and ``params`` the module's ``_flat_weights``.

    Returns
    -------
    tuple of Tensor
        The output sequence (padded or packed data, as the input) and the final states.

    Raises
    ------
    ModelModeError
        If dropout between layers is active (training mode).
    """
    output, h, c = _run("lstm", _lstm_step, args, kwargs)
    return output, h, c


def gru(*args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]:
    """Unrolled ``torch._VF.gru``; same arguments as :func:`lstm` (``hx`` one tensor), ``(output, h_n)``."""
    output, h = _run("gru", _gru_step, args, kwargs)
    return output, h


def rnn_tanh(*args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]:
    """Unrolled ``torch._VF.rnn_tanh``; same arguments as :func:`gru`, ``(output, h_n)``."""
    output, h = _run("rnn_tanh", _elman_step(torch.tanh), args, kwargs)
    return output, h


def rnn_relu(*args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]:
    """Unrolled ``torch._VF.rnn_relu``; same arguments as :func:`gru`, ``(output, h_n)``."""
    output, h = _run("rnn_relu", _elman_step(torch.relu), args, kwargs)
    return output, h


def _cell(op: str, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> State:
    """Shared body of the cell kernels: one step from ``(input, hx, w_ih, w_hh, b_ih, b_hh)``."""
    a = _bind(_CELL, args, kwargs, op)
    hx = a["hx"]
    state: State = tuple(hx) if op == "lstm_cell" else (hx,)
    weights = [a["w_ih"], a["w_hh"], a.get("b_ih"), a.get("b_hh"), None]
    return step(F.linear(a["input"], a["w_ih"], a.get("b_ih")), state, weights)


def lstm_cell(*args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]:
    """Unrolled ``torch._VF.lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None)``.

    Parameters
    ----------
    *args, **kwargs
        ``input``, ``hx`` (a pair ``(h, c)``), the weights and the optional biases.

    Returns
    -------
    tuple of Tensor
        ``(h', c')``.
    """
    h, c = _cell("lstm_cell", _lstm_step, args, kwargs)
    return h, c


def gru_cell(*args: Any, **kwargs: Any) -> Tensor:
    """Unrolled ``torch._VF.gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None)``; returns ``h'``."""
    return _cell("gru_cell", _gru_step, args, kwargs)[0]


def rnn_tanh_cell(*args: Any, **kwargs: Any) -> Tensor:
    """Unrolled ``torch._VF.rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None)``; returns ``h'``."""
    return _cell("rnn_tanh_cell", _elman_step(torch.tanh), args, kwargs)[0]


def rnn_relu_cell(*args: Any, **kwargs: Any) -> Tensor:
    """Unrolled ``torch._VF.rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None)``; returns ``h'``."""
    return _cell("rnn_relu_cell", _elman_step(torch.relu), args, kwargs)[0]


def pack_padded_sequence(input: Tensor, lengths: Tensor, batch_first: bool) -> tuple[Tensor, Tensor]:
    """Unrolled ``torch._VF._pack_padded_sequence``; returns ``(data, batch_sizes)``.

    Parameters
    ----------
    input : Tensor
        Padded sequences, ``(T, B, *)`` (``(B, T, *)`` if ``batch_first``), sorted by
        decreasing length (``nn.utils.rnn.pack_padded_sequence`` sorts them first).
    lengths : Tensor
        The ``B`` lengths, decreasing, on the CPU.
    batch_first : bool
        Whether the batch is the first dimension of ``input``.

    Returns
    -------
    tuple of Tensor
        The steps' active rows one after the other, and the number per step (int64, CPU).
    """
    counts = [int(n) for n in lengths.tolist()]
    sizes = [sum(n > t for n in counts) for t in range(max(counts, default=0))]
    pieces = [input[:size, t] if batch_first else input[t, :size] for t, size in enumerate(sizes)]
    return torch.cat(pieces), torch.tensor(sizes, dtype=torch.int64)


def pad_packed_sequence(
    data: Tensor, batch_sizes: Tensor, batch_first: bool, padding_value: float, total_length: int
) -> tuple[Tensor, Tensor]:
    """Unrolled ``torch._VF._pad_packed_sequence``; returns ``(padded, lengths)``.

    Parameters
    ----------
    data, batch_sizes : Tensor
        A packed sequence's data and batch sizes.
    batch_first : bool
        Whether to return ``(B, T, *)`` rather than ``(T, B, *)``.
    padding_value : float
        The value of the padded positions.
    total_length : int
        Pad to this many steps if positive (at least the longest sequence).

    Returns
    -------
    tuple of Tensor
        The padded sequences and their lengths (int64, CPU).
    """
    sizes = [int(n) for n in batch_sizes.tolist()]
    if 0 < total_length < len(sizes):
        raise ValueError(f"total_length={total_length} is shorter than the longest sequence ({len(sizes)})")
    batch, rest = sizes[0], tuple(data.shape[1:])
    steps: list[Tensor] = []
    offset = 0
    for size in sizes:
        step = data[offset : offset + size]
        if size < batch:
            step = torch.cat([step, data.new_full((batch - size, *rest), padding_value)])
        steps.append(step)
        offset += size
    steps += [data.new_full((batch, *rest), padding_value)] * max(total_length - len(sizes), 0)
    lengths = torch.tensor([sum(size > b for size in sizes) for b in range(batch)], dtype=torch.int64)
    return torch.stack(steps, 1 if batch_first else 0), lengths


_UNROLLED_BY_NAME: dict[str, Callable[..., Any]] = {
    "lstm": lstm,
    "gru": gru,
    "rnn_tanh": rnn_tanh,
    "rnn_relu": rnn_relu,
    "lstm_cell": lstm_cell,
    "gru_cell": gru_cell,
    "rnn_tanh_cell": rnn_tanh_cell,
    "rnn_relu_cell": rnn_relu_cell,
}


def _aliases(name: str) -> list[Callable[..., Any]]:
    """The function objects under which kernel ``name`` is called.

    ``torch.<name>`` (which ``torch._VF.<name>`` and ``torch._C._VariableFunctions.<name>``
    are), the ATen packet ``torch.ops.aten.<name>`` and its overloads (``input`` and
    ``data`` for the full-sequence kernels, ``default`` for the others; not ``out``).
    """
    packet = getattr(torch.ops.aten, name)
    overloads = [getattr(packet, overload) for overload in packet.overloads() if overload != "out"]
    return [getattr(torch, name), packet, *overloads]


#: Each fused kernel, under every name it is called by (``torch.lstm is torch._VF.lstm``,
#: ``torch.ops.aten.lstm.input``, ...), to its unrolled version.
UNROLLED: dict[Callable[..., Any], Callable[..., Any]] = {
    alias: unrolled for name, unrolled in _UNROLLED_BY_NAME.items() for alias in _aliases(name)
}

#: The packing kernels behind ``nn.utils.rnn.pack_padded_sequence`` and
#: ``pad_packed_sequence`` (``torch._VF._pack_padded_sequence``, ...) to unrolled versions
#: made of indexing, ``torch.cat`` and ``torch.stack``, for packed input that carries relevance.
UNROLLED_PACKING: dict[Callable[..., Any], Callable[..., Any]] = {
    alias: unrolled
    for name, unrolled in (("_pack_padded_sequence", pack_padded_sequence), ("_pad_packed_sequence", pad_packed_sequence))
    for alias in _aliases(name)
}
