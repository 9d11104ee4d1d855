"""Every model and input format ``xaikit explain`` accepts, each with a file of the wrong
format beside it: the good file gives the Python API's attribution, the bad one exits with
status 2 and one line naming the file and the problem (no traceback, no colour codes).

Hugging Face folders are covered in ``test_cli_huggingface.py``; crafted torch.export
archives in ``tests/reliability/test_loading_security.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import xaikit
from xaikit.cli import main

IMAGES = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return xaikit.models.DigitsCNN().eval()


def explain_cli(model_path: Path, *inputs: Path, extra: tuple[str, ...] = ()) -> tuple[int, Path]:
    out = model_path.parent / f"out-{len(list(model_path.parent.iterdir()))}"
    status = main(["explain", str(model_path), *map(str, inputs), "--method", "saliency", "--no-progress",
                   "--out", str(out), *extra])
    return status, out


def refused(capsys: pytest.CaptureFixture[str], status: int, *words: str) -> None:
    assert status == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and "Traceback" not in message and "\x1b[" not in message, message
    for word in words:
        assert word in message, message


def _state_dict(model: torch.nn.Module, path: Path) -> tuple[str, ...]:
    torch.save(model.state_dict(), path)
    return ("--arch", "digits_cnn")


def _safetensors(model: torch.nn.Module, path: Path) -> tuple[str, ...]:
    from safetensors.torch import save_file

    save_file(model.state_dict(), str(path))
    return ("--arch", "digits_cnn")


def _torchscript(model: torch.nn.Module, path: Path) -> tuple[str, ...]:
    torch.jit.save(torch.jit.script(model), str(path))
    return ()


def _export(model: torch.nn.Module, path: Path) -> tuple[str, ...]:
    program = torch.export.export(model, (IMAGES,), dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    torch.export.save(program, str(path))
    return ()


MODEL_FORMATS: dict[str, tuple[str, Callable[[torch.nn.Module, Path], tuple[str, ...]], bytes, str]] = {
    # name: (suffix, writer, bytes of a broken file, words of its refusal)
    "state dict": (".pt", _state_dict, b"PK\x03\x04 truncated", "cannot read"),
    "safetensors": (".safetensors", _safetensors, b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}", "safetensors"),
    "TorchScript": (".pt", _torchscript, b"not a zip archive", "cannot read"),
    "torch.export": (".pt2", _export, b"not a zip archive", "cannot read"),
}


@pytest.mark.parametrize("kind", list(MODEL_FORMATS))
def test_each_model_format_and_a_broken_file_of_it(kind: str, model: torch.nn.Module, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    suffix, write, broken, words = MODEL_FORMATS[kind]
    np.save(tmp_path / "x.npy", IMAGES.numpy())
    extra = write(model, tmp_path / f"model{suffix}")
    status, out = explain_cli(tmp_path / f"model{suffix}", tmp_path / "x.npy", extra=extra)
    assert status == 0
    expected = xaikit.explain(model, IMAGES, method="saliency").attribution.numpy()
    np.testing.assert_allclose(np.load(out / "attribution.npy"), expected, rtol=1e-5, atol=1e-7)
    capsys.readouterr()
    (tmp_path / f"broken{suffix}").write_bytes(broken)
    form = () if kind in ("TorchScript", "torch.export") else extra
    forced = {"TorchScript": ("--format", "torchscript"), "torch.export": ("--format", "export")}.get(kind, ())
    status, _ = explain_cli(tmp_path / f"broken{suffix}", tmp_path / "x.npy", extra=(*form, *forced))
    refused(capsys, status, f"broken{suffix}", words)


def _png(folder: Path) -> list[Path]:
    paths = []
    for k, image in enumerate(IMAGES):
        path = folder / f"img{k}.png"
        Image.fromarray(np.round(image[0].numpy() * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def _reread(paths: list[Path]) -> torch.Tensor:
    """What the images hold after 8-bit (and JPEG) encoding: the reference input."""
    return torch.stack([torch.from_numpy(np.asarray(Image.open(p).convert("L"), dtype=np.float32) / 255)[None]
                        for p in paths])


INPUT_CASES = ["png", "jpeg", "folder", "npy", "npz", "csv"]


@pytest.mark.parametrize("kind", INPUT_CASES)
def test_each_input_format_and_a_file_of_the_wrong_format(kind: str, model: torch.nn.Module, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    torch.save(model.state_dict(), tmp_path / "m.pt")
    arch = ("--arch", "digits_cnn")
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    if kind == "png":
        good, x = _png(pictures), None
        (tmp_path / "bad.png").write_bytes(b"not an image")
        bad, words = [tmp_path / "bad.png"], ("cannot read image", "bad.png")
    elif kind == "jpeg":
        good = []
        for k, image in enumerate(IMAGES):
            Image.fromarray(np.round(image[0].numpy() * 255).astype(np.uint8)).save(pictures / f"i{k}.jpg", quality=95)
            good.append(pictures / f"i{k}.jpg")
        x = None
        (tmp_path / "bad.jpg").write_text("a text file named .jpg")
        bad, words = [tmp_path / "bad.jpg"], ("cannot read image", "bad.jpg")
    elif kind == "folder":
        _png(pictures)
        good, x = [pictures], None
        (tmp_path / "no-images").mkdir()
        (tmp_path / "no-images" / "notes.txt").write_text("x")
        bad, words = [tmp_path / "no-images"], ("holds no image files", "no-images")
    elif kind == "npy":
        np.save(tmp_path / "x.npy", IMAGES.numpy())
        good, x = [tmp_path / "x.npy"], IMAGES
        with open(tmp_path / "bad.npy", "wb") as file:  # an object array: loading it would unpickle
            np.lib.format.write_array(file, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        bad, words = [tmp_path / "bad.npy"], ("bad.npy", "pickle")
    elif kind == "npz":
        np.savez(tmp_path / "x.npz", inputs=IMAGES.numpy(), labels=np.zeros(2))
        good, x = [tmp_path / "x.npz"], IMAGES
        np.savez(tmp_path / "bad.npz", a=np.zeros(2), b=np.zeros(2))
        bad, words = [tmp_path / "bad.npz"], ("bad.npz", "name it 'inputs'")
    else:  # csv: a tabular model
        mlp = xaikit.models.MLP(3, (4,), 2).eval()
        torch.save(mlp.state_dict(), tmp_path / "m.pt")
        arch = ("--arch", "mlp", "--arch-option", "in_features=3", "--arch-option", "out_features=2",
                "--arch-option", "hidden=[4]")
        (tmp_path / "x.csv").write_text("a,b,c\n0.1,0.2,0.3\n0.4,0.5,0.6\n")
        good, x = [tmp_path / "x.csv"], torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
        (tmp_path / "bad.csv").write_text("a,b,name\n0.1,0.2,first\n")
        bad, words = [tmp_path / "bad.csv"], ("bad.csv", "non-numeric column", "name")
        model = mlp
    status, out = explain_cli(tmp_path / "m.pt", *good, extra=arch)
    assert status == 0, capsys.readouterr().err
    reference = x if x is not None else _reread(sorted(pictures.iterdir()))
    expected = xaikit.explain(model, reference.to(torch.float32), method="saliency").attribution.numpy()
    np.testing.assert_allclose(np.load(out / "attribution.npy"), expected, rtol=1e-5, atol=1e-7)
    capsys.readouterr()
    status, _ = explain_cli(tmp_path / "m.pt", *bad, extra=arch)
    refused(capsys, status, *words)


def test_a_text_file_for_an_image_model_is_an_unsupported_type(model: torch.nn.Module, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    torch.save(model.state_dict(), tmp_path / "m.pt")
    (tmp_path / "t.txt").write_text("hello\n")
    status, _ = explain_cli(tmp_path / "m.pt", tmp_path / "t.txt", extra=("--arch", "digits_cnn"))
    refused(capsys, status, "unsupported input file type", ".txt")
