"""The pretrained-model cache (issue 11, findings 12 and 13, and the cache's unclear errors).

- A corrupted cache file (one flipped exponent bit, or non-finite weights, or no
  checksum) is never loaded: a ``RuntimeWarning`` says so and the model is trained again.
- Loading from a warm cache leaves the global torch random state as it was.
- A file that is not xaikit's, a folder where the file goes and a file where the folder
  goes are reported at once, before any training, with the fix.

Training is replaced by a fast stand-in (an untrained model from a fixed seed), so no
test here trains a network.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import xaikit.models.pretrained as pretrained
from xaikit.models import DigitsCNN, DigitsVGG, digits_cnn, digits_vgg
from xaikit.models.pretrained import WEIGHTS_VERSION

LOADERS: dict[str, tuple[Callable[..., nn.Module], str, type[nn.Module]]] = {
    "digits_cnn": (digits_cnn, "_train_digits_cnn", DigitsCNN),
    "digits_vgg": (digits_vgg, "_train_digits_vgg", DigitsVGG),
}


@pytest.fixture
def trainings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Replace training by building the architecture from seed 7; records each 'training'."""
    calls: list[str] = []
    for name, (_, attribute, cls) in LOADERS.items():

        def fake(
            seed: int, progress: bool, background: str, name: str = name, cls: type[nn.Module] = cls
        ) -> nn.Module:
            calls.append(name)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(7)
                return cls()

        monkeypatch.setattr(pretrained, attribute, fake)
    yield calls


def _cache_file(folder: Path, name: str = "digits_cnn") -> Path:
    return folder / f"{name}-{WEIGHTS_VERSION}-seed0.pt"


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _flip_exponent_bit(path: Path, tensor: torch.Tensor) -> None:
    """Flip the highest exponent bit of the first element of ``tensor`` in the file."""
    data = bytearray(path.read_bytes())
    raw = tensor.detach().contiguous().numpy().tobytes()
    at = data.find(raw)
    assert at >= 0 and data.find(raw, at + 1) < 0, "the tensor's bytes are not unique in the file"
    data[at + 3] ^= 0x40  # float32, little-endian: bit 30 is the top exponent bit
    path.write_bytes(bytes(data))


def test_a_flipped_exponent_bit_is_detected_and_the_model_retrained(
    tmp_path: Path, trainings: list[str]
) -> None:
    original = _weights(digits_cnn(cache_dir=tmp_path))
    assert trainings == ["digits_cnn"]
    key = "classifier.1.weight"
    _flip_exponent_bit(_cache_file(tmp_path), original[key])
    corrupted = torch.load(_cache_file(tmp_path), weights_only=True)[key]
    assert not torch.equal(corrupted, original[key])  # the file is really damaged
    with pytest.warns(RuntimeWarning, match="corrupted|no checksum"):
        model = digits_cnn(cache_dir=tmp_path)
    assert trainings == ["digits_cnn", "digits_cnn"]
    for name, value in model.state_dict().items():
        assert torch.equal(value, original[name]), name
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the replaced file loads cleanly
        again = digits_cnn(cache_dir=tmp_path)
    assert trainings == ["digits_cnn", "digits_cnn"]
    assert torch.equal(again.state_dict()[key], original[key])


@pytest.mark.parametrize("writer", ["checksummed", "plain"])
def test_non_finite_weights_are_not_loaded(writer: str, tmp_path: Path, trainings: list[str]) -> None:
    """NaN weights are refused even under a valid checksum (the checksum only proves integrity)."""
    state = _weights(DigitsCNN())
    state["classifier.1.bias"][0] = float("nan")
    if writer == "checksummed":
        from xaikit.models._cache import save_cached

        save_cached(state, _cache_file(tmp_path))
    else:
        torch.save(state, _cache_file(tmp_path))
    with pytest.warns(RuntimeWarning, match="NaN or infinite" if writer == "checksummed" else "no checksum"):
        model = digits_cnn(cache_dir=tmp_path)
    assert trainings == ["digits_cnn"]
    assert all(bool(torch.isfinite(v).all()) for v in model.state_dict().values())


def test_a_cache_without_checksum_is_replaced(tmp_path: Path, trainings: list[str]) -> None:
    torch.save(_weights(DigitsCNN()), _cache_file(tmp_path))  # what xaikit wrote before
    with pytest.warns(RuntimeWarning, match="no checksum"):
        digits_cnn(cache_dir=tmp_path)
    assert trainings == ["digits_cnn"]
    assert "xaikit.sha256" in torch.load(_cache_file(tmp_path), weights_only=True)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_loading_from_a_warm_cache_leaves_the_global_rng_alone(
    name: str, tmp_path: Path, trainings: list[str]
) -> None:
    loader, _, cls = LOADERS[name]
    loader(cache_dir=tmp_path)  # fills the cache
    before = torch.random.get_rng_state()
    numpy_before = np.random.get_state()[1].copy()  # noqa: NPY002 (the global state is the point)
    model = loader(cache_dir=tmp_path)
    assert trainings == [name]  # loaded, not trained
    assert isinstance(model, cls) and not model.training
    assert torch.equal(torch.random.get_rng_state(), before)
    assert np.array_equal(np.random.get_state()[1], numpy_before)  # noqa: NPY002


@pytest.mark.parametrize(
    "content", [[1, 2, 3], {"weights": 1.5}, torch.zeros(3)], ids=["list", "dict-of-floats", "tensor"]
)
def test_a_cache_file_that_is_not_a_state_dict_is_an_error_before_training(
    content: object, tmp_path: Path, trainings: list[str]
) -> None:
    path = _cache_file(tmp_path)
    torch.save(content, path)
    saved = path.read_bytes()
    with pytest.raises(ValueError, match="not a mapping of names to tensors") as caught:
        digits_cnn(cache_dir=tmp_path)
    assert str(path) in str(caught.value) and "retrain=True" in str(caught.value)
    assert trainings == []
    assert path.read_bytes() == saved  # not overwritten
    digits_cnn(cache_dir=tmp_path, retrain=True)  # the fix the message names
    assert trainings == ["digits_cnn"]


def test_a_folder_where_the_cache_file_goes_is_an_error_before_training(
    tmp_path: Path, trainings: list[str]
) -> None:
    _cache_file(tmp_path).mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder; remove or rename that folder"):
        digits_cnn(cache_dir=tmp_path)
    with pytest.raises(IsADirectoryError):
        digits_cnn(cache_dir=tmp_path, retrain=True)
    assert trainings == []


@pytest.mark.parametrize("depth", [0, 1], ids=["cache-folder", "folder-above"])
def test_a_file_where_the_cache_folder_goes_is_an_error_before_training(
    depth: int, tmp_path: Path, trainings: list[str]
) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    cache_dir = blocker / "inner" if depth else blocker
    with pytest.raises(NotADirectoryError, match="is a file; move that file away") as caught:
        digits_cnn(cache_dir=cache_dir)
    assert "XAIKIT_CACHE" in str(caught.value)
    assert trainings == []


def test_the_textured_digits_model_has_its_own_cache_file(tmp_path: Path, trainings: list[str]) -> None:
    digits_cnn(cache_dir=tmp_path)
    digits_cnn(cache_dir=tmp_path, background="texture")
    assert trainings == ["digits_cnn", "digits_cnn"]  # the black model's file does not serve the textured one
    assert sorted(p.name.split("-v")[0] for p in tmp_path.glob("*.pt")) == ["digits_cnn", "digits_cnn-texture"]
    with pytest.raises(ValueError, match="background must be one of"):
        digits_cnn(cache_dir=tmp_path, background="white")
