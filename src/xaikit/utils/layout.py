"""The memory layout of the image batches that perturbation methods and metrics feed to a model.

Perturbation methods and evaluation metrics run a model on thousands of perturbed copies of
a batch, so the speed of the model's forward passes is what they cost. On the CPU, PyTorch's
convolutions are markedly faster on *channels-last* (NHWC) 4-D batches than on the default
NCHW layout (forward passes 2.2x for :class:`xaikit.models.SmallCNN` and 1.2x for the
VGG-16-style net, measured on this project's 2-core box). The output values are the same
up to float round-off.

:class:`LayoutForward` calls the model on channels-last copies of multi-channel 4-D CPU
batches, in forward passes that record no graph (``torch.no_grad()``) only. Gradients are
not continuous in the round-off of the forward pass: where two inputs of a max-pool window
are equal or nearly equal (flat image regions, small activations), or a ReLU input is
within round-off of zero, the other layout's round-off can route the whole gradient to
another input. With channels-last batches the input gradient of the VGG-16-style net at a
random image changed by 5% of its scale, its integrated gradients by 0.1%, and integrated
gradients on a model built to have such ties by 20% (``tests/utils/test_layout.py``), so
gradient-based methods always call the model on the batch as given. Forward values are
continuous (a max-pool returns the same maximum whichever tied input it picks), so
forward-only uses keep the layout.

A model that cannot take channels-last batches (typically ``x.view(len(x), -1)`` on a
channels-last activation, which raises) is called on contiguous batches from then on.
Turn the layout change off for a block with :func:`channels_last_disabled`, or for the
process with :func:`set_channels_last`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from xaikit.utils.settings import Setting

__all__ = ["LayoutForward", "channels_last_disabled", "channels_last_enabled", "set_channels_last"]

_SETTING = Setting(True)


def set_channels_last(enabled: bool) -> None:
    """Let perturbation methods feed image batches to models as channels-last (default ``True``)."""
    _SETTING.set(bool(enabled))


def channels_last_enabled() -> bool:
    """Whether perturbation methods may feed channels-last image batches to models."""
    return _SETTING.value


def channels_last_disabled() -> AbstractContextManager[None]:
    """Feed models contiguous (NCHW) batches inside the block, then restore the setting."""
    return _SETTING.override(False)


def wants_channels_last(batch: Tensor) -> bool:
    """A multi-channel 4-D floating-point batch on the CPU (where the layout pays off)."""
    return (
        batch.ndim == 4
        and batch.shape[1] > 1
        and batch.device.type == "cpu"
        and batch.is_floating_point()
        and not batch.requires_grad
    )


@dataclass
class LayoutForward:
    """``model(batch)``, with multi-channel 4-D CPU batches passed as channels-last in no-grad passes.

    Only forward passes that record no graph (``torch.is_grad_enabled()`` false, as inside
    ``torch.no_grad()``) get the channels-last copy; with grad mode on the model gets the
    batch as given, so gradients never depend on the layout (see the module docstring).

    Parameters
    ----------
    model : callable
        The model.
    enabled : bool
        Whether to try channels-last (default: the process setting,
        :func:`channels_last_enabled`). Switched off for good after the model raised a
        ``RuntimeError`` on a channels-last batch; that batch is then run again contiguous,
        so a model that fails either way raises its contiguous error.
    """

    model: Callable[[Tensor], Any]
    enabled: bool = field(default_factory=channels_last_enabled)

    def __call__(self, batch: Tensor) -> Any:
        if self.enabled and not torch.is_grad_enabled() and wants_channels_last(batch):
            try:
                return self.model(batch.contiguous(memory_format=torch.channels_last))
            except RuntimeError:
                self.enabled = False
        return self.model(batch)


def as_layout_forward(model: Callable[[Tensor], Any]) -> LayoutForward:
    """``model`` wrapped in a :class:`LayoutForward` (unchanged if it already is one)."""
    return model if isinstance(model, LayoutForward) else LayoutForward(model)
