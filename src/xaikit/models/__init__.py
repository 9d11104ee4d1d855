"""Reference architectures used in the examples, benchmarks and tests.

Architectures
-------------
- :class:`MLP`: fully connected network.
- :class:`DigitsCNN`: small CNN for the 1x8x8 scikit-learn digits.
- :class:`DigitsVGG`: VGG-style CNN for the digits (upsampled to 16x16 inside,
  seven convolutions, four max-pool stages).
- :class:`SmallCNN`: generic small image CNN.
- :class:`CNN1d`: 1-D CNN for time series ``(N, C, T)``.
- :func:`vgg16`: VGG-16 (configuration D) for small inputs.
- :func:`resnet50` / :func:`resnet_small`: bottleneck ResNets whose blocks
  use functional ReLUs and a plain ``+`` residual.
- :class:`VisionTransformer`: a small ViT (patch convolution, class token,
  ``nn.TransformerEncoder``), e.g. for the digits.

Pretrained
----------
- :func:`digits_cnn`: :class:`DigitsCNN` trained locally on the digits and
  cached on disk; :func:`load_digits_split` gives the matching data split.
- :func:`digits_vgg`: :class:`DigitsVGG` trained and cached the same way.

Use :func:`reference_model` to build any architecture by name, and
:func:`fit_classifier` to train one (deterministic, global random state untouched).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from .cnn import CNN1d, DigitsCNN, DigitsVGG, SmallCNN
from .mlp import MLP
from .pretrained import default_cache_dir, digits_cnn, digits_vgg, load_digits_split
from .resnet import Bottleneck, ResNet, resnet50, resnet_small
from .training import fit_classifier
from .vgg import VGG, vgg16
from .vit import VisionTransformer

__all__ = [
    "MLP",
    "REFERENCE_MODELS",
    "VGG",
    "Bottleneck",
    "CNN1d",
    "DigitsCNN",
    "DigitsVGG",
    "ResNet",
    "SmallCNN",
    "VisionTransformer",
    "default_cache_dir",
    "digits_cnn",
    "digits_vgg",
    "fit_classifier",
    "load_digits_split",
    "reference_model",
    "resnet50",
    "resnet_small",
    "vgg16",
]

#: Factories used by :func:`reference_model`, by name.
REFERENCE_MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLP,
    "digits_cnn": DigitsCNN,
    "digits_vgg": DigitsVGG,
    "small_cnn": SmallCNN,
    "cnn1d": CNN1d,
    "vgg16": vgg16,
    "resnet50": resnet50,
    "resnet_small": resnet_small,
    "vision_transformer": VisionTransformer,
}


def reference_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a randomly initialised reference architecture by name.

    Parameters
    ----------
    name : str
        One of ``"mlp"``, ``"digits_cnn"``, ``"digits_vgg"``, ``"small_cnn"``, ``"cnn1d"``,
        ``"vgg16"``, ``"resnet50"``, ``"resnet_small"``, ``"vision_transformer"`` (case-insensitive,
        ``-`` is read as ``_``).
    **kwargs
        Passed to the constructor (e.g. ``in_features`` for ``"mlp"``,
        ``width`` for ``"vgg16"``).

    Returns
    -------
    torch.nn.Module
        The untrained model. For trained digits weights use
        :func:`digits_cnn` or :func:`digits_vgg`.

    Raises
    ------
    ValueError
        If the name is unknown.

    Examples
    --------
    >>> model = reference_model("mlp", in_features=4, out_features=2)
    >>> type(model).__name__
    'MLP'
    """
    key = name.lower().replace("-", "_")
    try:
        factory = REFERENCE_MODELS[key]
    except KeyError:
        known = ", ".join(REFERENCE_MODELS)
        raise ValueError(f"unknown reference model {name!r}; expected one of: {known}") from None
    return factory(**kwargs)
