"""Your own model on the command line: --model-class with a state dict or safetensors file,
.npz and integer inputs with --scale; clear refusals (pickled models, bad class names)."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import xaikit
from xaikit.cli import main

MODULE = textwrap.dedent('''
    import torch
    import torch.nn.functional as F
    from torch import nn


    class ResidualNet(nn.Module):
        """A residual CNN with functional ReLUs and batch norm, as users write them."""

        def __init__(self, classes: int = 4) -> None:
            super().__init__()
            self.stem = nn.Conv2d(1, 6, 3, padding=1)
            self.block = nn.Conv2d(6, 6, 3, padding=1)
            self.norm = nn.BatchNorm2d(6)
            self.head = nn.Linear(6, classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = F.relu(self.stem(x))
            h = F.relu(h + self.norm(self.block(h)))
            return self.head(h.mean((2, 3)))
''')


@pytest.fixture
def own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    (tmp_path / "mynets.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("mynets", None)
    import mynets  # type: ignore[import-not-found]

    torch.manual_seed(0)
    model = mynets.ResidualNet(classes=5).eval()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    images = torch.rand(3, 1, 8, 8)
    np.save(tmp_path / "images.npy", images.numpy())
    return model, images, tmp_path


def run_cli(*args: object) -> int:
    return main([str(a) for a in args])


def test_model_class_with_a_state_dict_or_safetensors_equals_python(own, capsys) -> None:  # type: ignore[no-untyped-def]
    model, images, folder = own
    expected = xaikit.explain(model, images, method="lrp", composite="epsilon_plus").attribution.numpy()
    base = ("--model-class", "mynets:ResidualNet", "--arch-option", "classes=5", "--method", "lrp",
            "--option", "composite=epsilon_plus", "--no-progress")
    assert run_cli("explain", folder / "weights.pt", folder / "images.npy", *base, "--out", folder / "a") == 0
    np.testing.assert_allclose(np.load(folder / "a" / "attribution.npy"), expected, rtol=1e-5, atol=1e-7)
    from safetensors.torch import save_file

    save_file(model.state_dict(), str(folder / "weights.safetensors"))
    np.savez(folder / "images.npz", inputs=images.numpy(), other=np.zeros(2))
    assert run_cli("explain", folder / "weights.safetensors", folder / "images.npz", *base, "--out", folder / "b") == 0
    np.testing.assert_allclose(np.load(folder / "b" / "attribution.npy"), expected, rtol=1e-5, atol=1e-7)


def test_integer_inputs_are_scaled_on_request_and_warned_about_otherwise(own) -> None:  # type: ignore[no-untyped-def]
    model, _, folder = own
    raw = np.random.default_rng(0).integers(0, 256, (2, 1, 8, 8), dtype=np.uint8)
    np.save(folder / "raw.npy", raw)
    base = ("--model-class", "mynets:ResidualNet", "--arch-option", "classes=5", "--method", "saliency",
            "--no-progress")
    assert run_cli("explain", folder / "weights.pt", folder / "raw.npy", *base, "--scale", "255",
                   "--out", folder / "scaled") == 0
    expected = xaikit.explain(model, torch.from_numpy(raw / 255.0).float(), method="saliency").attribution.numpy()
    np.testing.assert_allclose(np.load(folder / "scaled" / "attribution.npy"), expected, rtol=1e-5, atol=1e-7)
    with pytest.warns(UserWarning, match=r"range over \[\d+, \d+\].*--scale 255"):
        assert run_cli("explain", folder / "weights.pt", folder / "raw.npy", *base, "--out", folder / "raw") == 0


def test_refusals_name_the_fix_without_colour_codes(own, capsys) -> None:  # type: ignore[no-untyped-def]
    model, _, folder = own
    torch.save(model, folder / "whole.pt")  # the whole pickled model
    cases = [
        (("explain", folder / "whole.pt", folder / "images.npy", "--model-class", "mynets:ResidualNet"),
         r"pickled Python objects.*state_dict\(\).*--model-class"),
        (("explain", folder / "weights.pt", folder / "images.npy", "--model-class", "mynets.ResidualNet"),
         "package.module:ClassName"),
        (("explain", folder / "weights.pt", folder / "images.npy", "--model-class", "nowhere:Net"),
         "cannot import 'nowhere'"),
        (("explain", folder / "weights.pt", folder / "images.npy", "--model-class", "mynets:Missing"),
         "has no 'Missing'"),
        (("explain", folder / "weights.pt", folder / "images.npy", "--model-class", "mynets:ResidualNet"),
         r"does not fit architecture 'mynets:ResidualNet'"),  # 4 classes by default, the weights have 5
        (("explain", folder / "weights.pt", folder / "images.npy", "--model-class", "mynets:ResidualNet",
          "--arch", "mlp"), "not both"),
    ]
    for args, pattern in cases:
        assert run_cli(*args, "--out", folder / "never") == 2
        message = capsys.readouterr().err
        assert re.search(pattern, message), message
        assert "\x1b[" not in message
    assert not (folder / "never").exists()


def test_a_folder_of_images_is_read_in_name_order(own) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from xaikit.cli.loading import load_inputs

    _, _, folder = own
    pictures = folder / "pictures"
    pictures.mkdir()
    rng = np.random.default_rng(1)
    grey = [rng.integers(0, 256, (8, 8), dtype=np.uint8) for _ in range(3)]
    for name, values in zip(("b.png", "a.png", "c.png"), grey):
        Image.fromarray(values).save(pictures / name)
    (pictures / "notes.txt").write_text("not an image")
    inputs = load_inputs([pictures])
    assert inputs.names == ["a", "b", "c"]
    np.testing.assert_allclose(inputs.batch[0, 0].numpy(), grey[1] / 255.0, rtol=1e-6)
    empty = folder / "empty"
    empty.mkdir()
    with pytest.raises(Exception, match="holds no image files"):
        load_inputs([empty])
