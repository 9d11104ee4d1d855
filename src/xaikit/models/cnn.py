"""Small convolutional reference architectures (images and time series)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

__all__ = ["CNN1d", "DigitsCNN", "DigitsVGG", "SmallCNN"]


class _FeaturesClassifier(nn.Module):
    """Base of the CNNs below: logits are ``classifier(features(x))``.

    Subclasses set the ``features`` and ``classifier`` modules; one that must adapt its
    input first (e.g. resize it) overrides :meth:`_prepare`.
    """

    if TYPE_CHECKING:  # set by the subclasses; not declared at runtime, for TorchScript
        features: nn.Module
        classifier: nn.Module

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Map the input to what ``features`` takes (here: unchanged)."""
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute logits.

        Parameters
        ----------
        x : torch.Tensor
            Inputs ``(N, C, ...)`` of the shape the class documents: images
            ``(N, C, H, W)`` or, for a 1-D CNN, series ``(N, C, T)``.

        Returns
        -------
        torch.Tensor
            Logits of shape ``(N, num_classes)``.
        """
        out: torch.Tensor = self.classifier(self.features(self._prepare(x)))
        return out


class DigitsCNN(_FeaturesClassifier):
    """Small CNN for the 8x8 scikit-learn digits, ``(N, 1, 8, 8)``.

    ``conv3x3(16) -> ReLU -> conv3x3(32) -> ReLU -> MaxPool2d(2) -> Flatten
    -> Linear(512, 64) -> ReLU -> Dropout -> Linear(64, num_classes)``.

    Parameters
    ----------
    num_classes : int, default 10
        Number of output logits.
    dropout : float, default 0.25
        Dropout probability before the last layer.

    Attributes
    ----------
    features : torch.nn.Sequential
        Convolutional part, maps ``(N, 1, 8, 8)`` to ``(N, 32, 4, 4)``.
    classifier : torch.nn.Sequential
        ``Flatten`` followed by the fully connected part.
    """

    def __init__(self, num_classes: int = 10, dropout: float = 0.25) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(64, self.num_classes),
        )


class DigitsVGG(_FeaturesClassifier):
    """VGG-style CNN for the 8x8 scikit-learn digits, pooled down to a single position.

    The digits are first upsampled bilinearly to ``upsample x upsample`` pixels (16 by
    default, a fixed layer without parameters), then go through VGG stages of
    ``conv3x3 -> ReLU`` layers each followed by ``MaxPool2d(2)``; with the defaults

    ``Upsample(16) -> [conv(16) -> ReLU] x 2 -> MaxPool -> [conv(32) -> ReLU] x 2 ->
    MaxPool -> [conv(64) -> ReLU] x 2 -> MaxPool -> conv(64) -> ReLU -> MaxPool ->
    Flatten -> Linear(64, 64) -> ReLU -> Dropout -> Linear(64, num_classes)``.

    Four max-pool stages bring the 16x16 map to 1x1, so the dense layers cannot pick image
    regions: where an explanation puts its mass is decided by the max-pool switches alone.
    This is the setting in which DeconvNet and guided backpropagation become nearly
    class-insensitive (Mahendran and Vedaldi, 2016; Nie et al., 2018). The model takes the
    8x8 digits ``(N, 1, 8, 8)`` themselves, so explanations live on the original pixel grid.

    Parameters
    ----------
    num_classes : int, default 10
        Number of output logits.
    stages : tuple of tuple of int, default ((16, 16), (32, 32), (64, 64), (64,))
        Output channels of the convolutions of each stage; every stage ends with a
        ``MaxPool2d(2)``.
    upsample : int, default 16
        Side of the upsampled input; it must be divisible by ``2 ** len(stages)``.
        ``8`` leaves the digits as they are.
    hidden : int, default 64
        Width of the hidden dense layer.
    dropout : float, default 0.25
        Dropout probability before the last layer.

    Attributes
    ----------
    resize : torch.nn.Module
        ``Upsample`` to ``(upsample, upsample)`` (``Identity`` for 8).
    features : torch.nn.Sequential
        Convolution, ReLU and max-pool layers, mapping ``(N, 1, upsample, upsample)`` to
        ``(N, C, upsample / 2**len(stages), ...)``.
    classifier : torch.nn.Sequential
        ``Flatten`` followed by the fully connected part.

    Examples
    --------
    >>> model = DigitsVGG()
    >>> model(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        num_classes: int = 10,
        stages: tuple[tuple[int, ...], ...] = ((16, 16), (32, 32), (64, 64), (64,)),
        upsample: int = 16,
        hidden: int = 64,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        if not stages or any(not stage for stage in stages):
            raise ValueError("stages must be a non-empty sequence of non-empty channel tuples")
        side = int(upsample)
        if side < 1 or side % (2 ** len(stages)):
            raise ValueError(
                f"upsample must be a positive multiple of 2**len(stages) = {2 ** len(stages)}, got {upsample}"
            )
        self.num_classes = int(num_classes)
        self.input_size = side
        self.resize: nn.Module = (
            nn.Identity()
            if side == 8
            else nn.Upsample(size=(side, side), mode="bilinear", align_corners=False)
        )
        layers: list[nn.Module] = []
        prev = 1
        for stage in stages:
            for ch in stage:
                layers += [nn.Conv2d(prev, int(ch), kernel_size=3, padding=1), nn.ReLU()]
                prev = int(ch)
            layers.append(nn.MaxPool2d(2))
            side //= 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(prev * side * side, int(hidden)),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(int(hidden), self.num_classes),
        )

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Upsample the ``(N, 1, 8, 8)`` digits to ``(N, 1, input_size, input_size)``."""
        out: torch.Tensor = self.resize(x)
        return out


class SmallCNN(_FeaturesClassifier):
    """Generic small CNN for images of shape ``(N, in_channels, H, W)``.

    Three ``conv3x3 -> ReLU`` stages (16, 32, 64 channels by default), the
    first two followed by ``MaxPool2d(2)`` while the spatial size allows it,
    then ``AdaptiveAvgPool2d(1) -> Flatten -> Linear``.

    Parameters
    ----------
    in_channels : int, default 3
        Number of input channels.
    num_classes : int, default 10
        Number of output logits.
    input_size : int, default 32
        Expected (square) spatial input size; it decides how many max-pools
        are used (none that would shrink the map below 2x2). Thanks to the
        adaptive pooling, other sizes are accepted too.
    channels : tuple of int, default (16, 32, 64)
        Output channels of the convolution stages.

    Attributes
    ----------
    features : torch.nn.Sequential
        Convolution, ReLU and max-pool layers.
    classifier : torch.nn.Sequential
        ``AdaptiveAvgPool2d(1) -> Flatten -> Linear``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        input_size: int = 32,
        channels: tuple[int, ...] = (16, 32, 64),
    ) -> None:
        super().__init__()
        if input_size < 1:
            raise ValueError("input_size must be positive")
        if not channels:
            raise ValueError("channels must not be empty")
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.input_size = int(input_size)
        layers: list[nn.Module] = []
        size = self.input_size
        prev = self.in_channels
        for i, ch in enumerate(channels):
            layers.append(nn.Conv2d(prev, ch, kernel_size=3, padding=1))
            layers.append(nn.ReLU())
            if i < len(channels) - 1 and size >= 4:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            prev = ch
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(prev, self.num_classes),
        )


class CNN1d(_FeaturesClassifier):
    """Small 1-D CNN for time series of shape ``(N, C, T)``.

    ``Conv1d(16, k=5) -> ReLU -> MaxPool1d(2) -> Conv1d(32, k=5) -> ReLU ->
    AdaptiveAvgPool1d(1) -> Flatten -> Linear``.

    Parameters
    ----------
    in_channels : int, default 1
        Number of input channels (variables of the series).
    num_classes : int, default 2
        Number of output logits.
    length : int, default 64
        Expected series length; the max-pool is omitted for series shorter
        than 4 steps. Other lengths are accepted thanks to the adaptive pool.

    Attributes
    ----------
    features : torch.nn.Sequential
        Convolution, ReLU and pooling layers.
    classifier : torch.nn.Sequential
        ``AdaptiveAvgPool1d(1) -> Flatten -> Linear``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, length: int = 64) -> None:
        super().__init__()
        if length < 1:
            raise ValueError("length must be positive")
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.length = int(length)
        layers: list[nn.Module] = [
            nn.Conv1d(self.in_channels, 16, kernel_size=5, padding=2),
            nn.ReLU(),
        ]
        if self.length >= 4:
            layers.append(nn.MaxPool1d(2))
        layers += [nn.Conv1d(16, 32, kernel_size=5, padding=2), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Linear(32, self.num_classes),
        )
