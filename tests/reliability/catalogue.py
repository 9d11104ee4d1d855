"""The bad-input catalogue: cases every registered method is run on (issue 11).

A case builds a model, a batch and a target from a clean float64 setting and says what
must happen: ``"error"`` (an :class:`~xaikit.utils.errors.XaikitError` whose message
names a fix) or ``"same"`` (the result equals the clean float64 result, within the
case's tolerance). Each method has its options in :data:`METHOD_OPTIONS` and the model
family it needs; a registered method missing there fails the catalogue test, so a new
method joins the catalogue when it is registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DT = torch.float64
FEATURES = 4
CLASSES = 3

#: Options of every registered method on the catalogue's small models (kept cheap).
METHOD_OPTIONS: dict[str, dict[str, Any]] = {
    "contrastive_lrp": {"composite": "epsilon"},
    "crp": {"layer": "fc1", "composite": "epsilon", "per_concept": True},  # its module, in the model at hand
    "dasp": {},
    "deconvnet": {},
    "deeplift": {},
    "deepshap": {"baselines": "background"},
    "excitation_backprop": {},
    "extremal_perturbation": {"cells": 2, "iterations": 4},
    "expected_gradients": {"baselines": "background", "samples": 8},
    "grad_cam": {},
    "grad_cam_plus_plus": {},
    "gradient_x_input": {},
    "guided_backprop": {},
    "guided_grad_cam": {},
    "integrated_gradients": {"steps": 8},
    "kernel_shap": {"samples": 64, "progress": False},
    "lime": {"samples": 64, "progress": False},
    "lrp": {"composite": "epsilon"},
    "meaningful_perturbation": {"cells": 2, "iterations": 4},
    "noise_tunnel": {"samples": 4},
    "occlusion": {"progress": False},
    "pattern_attribution": {"patterns": "patterns"},
    "pattern_net": {"patterns": "patterns"},
    "prediction_difference": {"data": torch.rand(6, 1, 6, 6, dtype=DT, generator=torch.Generator().manual_seed(0)),
                              "window": 2, "samples": 3, "padding": 1, "progress": False},
    "rap": {},
    "rectgrad": {},
    "rise": {"masks": 16, "cells": 2, "progress": False},
    "saliency": {},
    "shapley": {"progress": False},
    "shapley_sampling": {"samples": 8, "progress": False},
    "smooth_integrated_gradients": {"samples": 2, "steps": 4},
    "taylor": {"root": "nearest", "iterations": 3},
    "attention_rollout": {},
    "gradient_weighted_attention": {},
}

#: Methods that explain convolutional feature maps (the catalogue gives them a CNN).
NEEDS_CONV = frozenset({"grad_cam", "grad_cam_plus_plus", "guided_grad_cam", "meaningful_perturbation",
                        "extremal_perturbation", "prediction_difference"})
#: Methods that read attention weights (the catalogue gives them a small self-attention model).
NEEDS_ATTENTION = frozenset({"attention_rollout", "gradient_weighted_attention"})

#: Words one of which a message naming a fix contains.
FIX_WORDS = (
    "pass", "use", "call", "convert", "wrap", "make", "move", "create", "clean", "check",
    "repair", "reload", "explain", "give", "remove", "set", "choose", "select", "do not",
)


class Tabular(nn.Module):
    """A small MLP (4 features, 3 classes)."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.fc1 = nn.Linear(FEATURES, 6)
        self.fc2 = nn.Linear(6, CLASSES)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.7)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.relu(self.fc1(x)))


class Conv(nn.Module):
    """A small CNN on (1, 6, 6) images, 3 classes."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(1)
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.fc = nn.Linear(3 * 9, CLASSES)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)

    def forward(self, x: Tensor) -> Tensor:
        h = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(h.flatten(1))


class SelfAttention(nn.Module):
    """One self-attention layer on ``(N, 4, 3)`` token features, 3 classes."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(5)
        self.qkv = nn.Linear(3, 9)
        self.fc = nn.Linear(3, CLASSES)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.7)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        weights = torch.softmax(q.unsqueeze(1) @ k.unsqueeze(1).transpose(-2, -1), dim=-1)
        return self.fc((x + (weights @ v.unsqueeze(1)).squeeze(1)).mean(1))


class Wrapped(nn.Module):
    """``inner`` with its output passed through ``transform`` (a misbehaving model)."""

    def __init__(self, inner: nn.Module, transform: Callable[[Tensor, Tensor], Any]) -> None:
        super().__init__()
        self.inner = inner
        self.transform = transform

    def forward(self, x: Tensor) -> Any:
        return self.transform(x, self.inner(x))


class Prefixed(nn.Module):
    """``inner`` applied to ``change(x)``: a misbehaving first step of a model."""

    def __init__(self, inner: nn.Module, change: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.inner = inner
        self.change = change

    def forward(self, x: Tensor) -> Tensor:
        return self.inner(self.change(x))


def _centre_in_place(x: Tensor) -> Tensor:
    x -= 0.5  # changes the caller's tensor
    return x


def _scale_through_data(x: Tensor) -> Tensor:
    x.data.mul_(2.0)  # invisible to the version counter
    return x


def _bernoulli_noise(x: Tensor) -> Tensor:
    return x * torch.bernoulli(torch.full_like(x, 0.8))  # no module type to find


def _functional_dropout(x: Tensor) -> Tensor:
    return F.dropout(x, 0.5, training=True)  # no dropout module to find


class Failing(nn.Module):
    """Raises ``error`` from its ``when``-th call on (a model that breaks mid-way)."""

    def __init__(self, inner: nn.Module, error: BaseException, when: int) -> None:
        super().__init__()
        self.inner = inner
        self.error = error
        self.when = when
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        if self.calls >= self.when:
            raise self.error
        return self.inner(x)


def clean_model(method: str) -> nn.Module:
    """The clean float64 model a method is run on."""
    model = Conv() if method in NEEDS_CONV else SelfAttention() if method in NEEDS_ATTENTION else Tabular()
    return model.to(DT).eval()


def clean_inputs(method: str, n: int = 3) -> Tensor:
    """The clean float64 batch."""
    gen = torch.Generator().manual_seed(2)
    shape = (n, 1, 6, 6) if method in NEEDS_CONV else (n, 4, 3) if method in NEEDS_ATTENTION else (n, FEATURES)
    return torch.rand(shape, generator=gen, dtype=DT)


def options_for(method: str, x: Tensor) -> dict[str, Any]:
    """The method's catalogue options, with a background set where it needs one."""
    options = dict(METHOD_OPTIONS[method])
    for key, value in options.items():
        if isinstance(value, str) and value == "background":
            gen = torch.Generator().manual_seed(3)
            options[key] = torch.rand((5, *x.shape[1:]), generator=gen, dtype=DT).to(x.dtype)
        elif isinstance(value, str) and value == "patterns":  # fitted on the clean model's training-like data
            from xaikit.gradients import fit_patterns

            gen = torch.Generator().manual_seed(4)
            with torch.random.fork_rng():  # building the model draws its initial weights from the global state
                model = clean_model(method)
            shape = clean_inputs(method).shape[1:]  # the clean model's inputs, whatever the case feeds it
            options[key] = fit_patterns(model, torch.rand((16, *shape), generator=gen, dtype=DT))
    return options


@dataclass(frozen=True)
class Case:
    """One catalogue case.

    ``build(method)`` returns ``(model, inputs, target)``; ``expect`` is ``"error"``,
    ``"same"`` or ``"same_or_error"``; ``rtol`` the tolerance of a ``"same"`` case
    against the clean result.
    """

    name: str
    build: Callable[[str], tuple[Any, Any, Any]]
    expect: str
    rtol: float = 1e-9
    #: Methods for which the case does not apply, with the reason (never "it fails").
    exempt: tuple[tuple[str, str], ...] = ()


def _clean(method: str) -> tuple[Any, Any, Any]:
    return clean_model(method), clean_inputs(method), 1


def _with_inputs(change: Callable[[Tensor], Any]) -> Callable[[str], tuple[Any, Any, Any]]:
    def build(method: str) -> tuple[Any, Any, Any]:
        model, x, target = _clean(method)
        return model, change(x), target

    return build


def _with_target(target: Any) -> Callable[[str], tuple[Any, Any, Any]]:
    def build(method: str) -> tuple[Any, Any, Any]:
        model, x, _ = _clean(method)
        return model, x, target

    return build


def _with_model(change: Callable[[nn.Module], Any]) -> Callable[[str], tuple[Any, Any, Any]]:
    def build(method: str) -> tuple[Any, Any, Any]:
        model, x, target = _clean(method)
        return change(model), x, target

    return build


def _poke(value: float) -> Callable[[Tensor], Tensor]:
    def change(x: Tensor) -> Tensor:
        x = x.clone()
        x.view(-1)[1] = value
        return x

    return change


def _nan_weight(model: nn.Module) -> nn.Module:
    first = next(model.parameters())
    with torch.no_grad():
        first.view(-1)[0] = float("nan")
    return model


def _nan_in_class_0(x: Tensor, y: Tensor) -> Tensor:
    return torch.cat([torch.full_like(y[:, :1], float("nan")), y[:, 1:]], dim=1)


def _frozen(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _train_mode_without_effect(model: nn.Module) -> nn.Module:
    return model.train()


def _non_contiguous(x: Tensor) -> Tensor:
    strided = torch.stack([x, -x], dim=-1)[..., 0]
    assert not strided.is_contiguous()
    return strided


def _channels_last(x: Tensor) -> Tensor:
    return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x


CASES: tuple[Case, ...] = (
    Case("nan_input", _with_inputs(_poke(float("nan"))), "error"),
    Case("inf_input", _with_inputs(_poke(float("inf"))), "error"),
    Case("no_batch_dimension", _with_inputs(lambda x: x[0].flatten()), "error"),
    Case("empty_batch", _with_inputs(lambda x: x[:0]), "error"),
    Case("integer_inputs", _with_inputs(lambda x: (x * 10).long()), "error"),
    Case("meta_device", _with_inputs(lambda x: x.to("meta")), "error"),
    Case("list_inputs", _with_inputs(lambda x: x.tolist()), "error"),
    Case("target_out_of_range", _with_target(CLASSES), "error"),
    Case("target_negative", _with_target(-1), "error"),
    Case("target_huge", _with_target(10**20), "error"),
    Case("target_float", _with_target(torch.tensor([0.5, 1.0, 2.0])), "error"),
    Case("target_bool", _with_target(True), "error"),
    Case("target_wrong_length", _with_target(torch.tensor([0, 1])), "error"),
    Case("target_unknown_name", _with_target("most_likely"), "error"),
    Case("tuple_output", _with_model(lambda m: Wrapped(m, lambda x, y: (y, y))), "error"),
    Case("dict_output", _with_model(lambda m: Wrapped(m, lambda x, y: {"logits": y})), "error"),
    Case("scalar_output", _with_model(lambda m: Wrapped(m, lambda x, y: y.sum())), "error"),
    Case("batch_dimension_dropped", _with_model(lambda m: Wrapped(m, lambda x, y: y.sum(0, keepdim=True))), "error"),
    Case("class_index_output", lambda m: (Wrapped(clean_model(m), lambda x, y: y.argmax(1)), clean_inputs(m), None), "error"),
    Case("functional_dropout", _with_model(lambda m: Prefixed(m, _functional_dropout)), "error"),
    Case("dropout_module_in_training", _with_model(lambda m: nn.Sequential(nn.Dropout(0.5), m).train()), "error"),
    Case("nan_weight", _with_model(_nan_weight), "error"),
    Case("writes_input_in_place", _with_model(lambda m: Prefixed(m, _centre_in_place)), "error"),
    Case("writes_input_through_data", _with_model(lambda m: Prefixed(m, _scale_through_data)), "error"),
    Case("random_noise_in_forward", _with_model(lambda m: Prefixed(m, _bernoulli_noise)), "error"),
    Case("mixes_rows_keeping_shape", _with_model(lambda m: Wrapped(m, lambda x, y: y - y.mean(0))), "error"),
    Case("transposes_square_output", lambda m: (Wrapped(clean_model(m), lambda x, y: y.T), clean_inputs(m), 1), "error"),
    Case("nan_in_unexplained_class", _with_model(lambda m: Wrapped(m, _nan_in_class_0)), "same_or_error"),
    Case("torchscript", _with_model(lambda m: torch.jit.script(m)), "same_or_error"),
    Case("traced", lambda m: (torch.jit.trace(clean_model(m), clean_inputs(m)), clean_inputs(m), 1), "same_or_error"),
    Case("same_model_again", _clean, "same"),
    Case("non_contiguous_inputs", _with_inputs(_non_contiguous), "same"),
    Case("channels_last_inputs", _with_inputs(_channels_last), "same"),
    Case("frozen_parameters", _with_model(_frozen), "same"),
    Case("training_mode_without_effect", _with_model(_train_mode_without_effect), "same"),
    Case("numpy_inputs", _with_inputs(lambda x: x.numpy()), "same"),
    Case("float32", lambda m: (clean_model(m).float(), clean_inputs(m).float(), 1), "same", rtol=1e-3),
)

#: Low-precision dtypes: the result equals the float64 one to their precision, or a clear error.
LOW_PRECISION: tuple[tuple[torch.dtype, float], ...] = ((torch.float16, 5e-2), (torch.bfloat16, 1e-1))
