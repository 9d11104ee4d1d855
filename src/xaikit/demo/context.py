"""What demo sections share: the output folder, the run's settings, common data."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch


@dataclass
class DigitsData:
    """The digits model and the test digits the demo explains.

    Attributes
    ----------
    model : torch.nn.Module
        The trained :class:`~xaikit.models.DigitsCNN`, in eval mode.
    x, y : torch.Tensor
        The explained test digits ``(n, 1, 8, 8)`` and their labels.
    predicted : torch.Tensor
        The model's predicted class of each explained digit.
    x_train : torch.Tensor
        Training digits (a background set for methods that need one).
    accuracy : float
        Test accuracy of the model.
    """

    model: torch.nn.Module
    x: torch.Tensor
    y: torch.Tensor
    predicted: torch.Tensor
    x_train: torch.Tensor
    accuracy: float


@dataclass
class DemoContext:
    """Shared state of one demo run.

    Attributes
    ----------
    out : pathlib.Path
        The folder being written (a temporary folder renamed into place at the end).
    quick : bool
        Fewer samples and steps.
    progress : bool
        Show progress bars.
    seed : int
        Seed of everything random in the demo.
    shared : dict
        Results that later sections reuse (for example the digits explanations).
    stream : TextIO
        Where progress messages go.
    """

    out: Path
    quick: bool = False
    progress: bool = True
    seed: int = 0
    shared: dict[str, Any] = field(default_factory=dict)
    stream: TextIO = field(default_factory=lambda: sys.stderr)

    def log(self, message: str) -> None:
        """Print a progress message."""
        print(f"[xaikit demo] {message}", file=self.stream, flush=True)

    def path(self, *parts: str) -> Path:
        """A path inside the output folder, with its parent folders created."""
        target = self.out.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def evaluation_digits(self) -> tuple[torch.Tensor, torch.Tensor]:
        """More test digits for the evaluation metrics (64, or 16 in quick runs) and labels."""
        from xaikit.models import load_digits_split

        _, _, x_test, y_test = load_digits_split(seed=self.seed)
        n = 16 if self.quick else 64
        return x_test[:n], y_test[:n]

    def digits(self) -> DigitsData:
        """The trained digits CNN (cached on disk) and one test digit per class."""
        if "digits" not in self.shared:
            from xaikit.models import digits_cnn, load_digits_split

            model = digits_cnn(progress=self.progress, seed=self.seed)
            x_train, _, x_test, y_test = load_digits_split(seed=self.seed)
            with torch.no_grad():
                predicted = model(x_test).argmax(1)
            accuracy = float((predicted == y_test).double().mean())
            classes = range(4 if self.quick else 8)
            index = torch.tensor([int((y_test == c).nonzero()[0]) for c in classes])
            self.shared["digits"] = DigitsData(
                model, x_test[index], y_test[index], predicted[index], x_train, accuracy
            )
        data: DigitsData = self.shared["digits"]
        return data
