"""Nothing a model file holds runs as code when xaikit loads it (issue 11, finding 15).

Each crafted ``torch.export`` archive starts from a real ``torch.export.save`` file and
is rewritten the way an attacker would: a weight marked ``use_pickle`` with a
``__reduce__`` payload, a pickled sample input that the safe unpickler refuses (PyTorch
then retries with ``weights_only=False``), a symbolic shape that :func:`sympy.sympify`
evaluates, an input guard that ``ExportedProgram.module()`` compiles, a compiled
AOTInductor entry. Each payload would create a marker file; the tests assert that
xaikit raises a clear error and that the marker does not exist. The unchanged archive,
whatever its suffix, still loads, and ``trust_code=True`` opts out of the checks.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from xaikit.cli import main
from xaikit.cli.errors import CLIError
from xaikit.cli.loading import load_model

Edit = Callable[[str, bytes], bytes | None]


class _Payload:
    """Unpickling this creates the marker file: ``open(marker, "w")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


def _code(marker: Path) -> str:
    """A Python expression that creates the marker file when evaluated."""
    return f"__import__('pathlib').Path({str(marker)!r}).touch()"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A genuine ``torch.export.save`` archive of a small model with a dynamic batch."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).eval()
    program = torch.export.export(
        model, (torch.randn(2, 3),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    path = tmp_path_factory.mktemp("export") / "model.pt2"
    torch.export.save(program, str(path))
    return path


def _rewrite(source: Path, target: Path, edit: Edit, extra: dict[str, bytes] | None = None) -> Path:
    """Copy the archive entry by entry through ``edit`` (``None`` drops an entry)."""
    with zipfile.ZipFile(source) as archive:
        entries = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    root = entries[0][0].split("/", 1)[0]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as out:
        for name, data in entries:
            changed = edit(name[len(root) + 1 :], data)
            if changed is not None:
                out.writestr(name, changed)
        for name, data in (extra or {}).items():
            out.writestr(f"{root}/{name}", data)
    return target


def _pickled_weight(marker: Path) -> Edit:
    def edit(name: str, data: bytes) -> bytes:
        if name == "data/weights/model_weights_config.json":
            config = json.loads(data)
            config["config"]["0.weight"]["use_pickle"] = True
            return json.dumps(config).encode()
        if name == "data/weights/" + "weight_0":
            return pickle.dumps(_Payload(marker))
        return data

    return edit


def _pickled_sample_inputs(marker: Path) -> Edit:
    def edit(name: str, data: bytes) -> bytes:
        return pickle.dumps(_Payload(marker)) if name == "data/sample_inputs/model.pt" else data

    return edit


def _shape_code(marker: Path) -> Edit:
    def edit(name: str, data: bytes) -> bytes:
        if name != "models/model.json":
            return data
        text = data.decode()
        symbol = "Symbol('s" if "Symbol('s" in text else None
        assert symbol is not None, "the archive has no symbolic batch size to rewrite"
        return text.replace(symbol, f"{_code(marker)} or {symbol}", 1).encode()

    return edit


def _guard_code(marker: Path) -> Edit:
    def edit(name: str, data: bytes) -> bytes:
        if name != "models/model.json":
            return data
        program = json.loads(data)
        program["guards_code"] = [f"{_code(marker)} is None"]
        return json.dumps(program).encode()

    return edit


CRAFTED: dict[str, Callable[[Path], Edit]] = {
    "pickled weight": _pickled_weight,
    "pickled sample inputs": _pickled_sample_inputs,
    "code in a symbolic shape": _shape_code,
    "code in an input guard": _guard_code,
}


@pytest.mark.parametrize("suffix", [".pt2", ".pt"])
@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_crafted_export_archive_is_refused_and_runs_nothing(
    kind: str, suffix: str, archive: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "code-ran"
    crafted = _rewrite(archive, tmp_path / f"crafted{suffix}", CRAFTED[kind](marker))
    with pytest.raises(CLIError, match=r"refusing to load torch\.export file") as caught:
        load_model(crafted)
    assert not marker.exists(), f"loading the archive with a {kind} ran its code"
    message = str(caught.value)
    assert "could run code" in message and "trust_code=True" in message and "--trust-code" in message


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_the_payloads_do_run_under_plain_torch_export_load(archive: Path, tmp_path: Path) -> None:
    """The crafted archives are real attacks: PyTorch's own loader runs every payload."""
    for number, kind in enumerate(sorted(CRAFTED)):
        marker = tmp_path / f"ran-{number}"
        crafted = _rewrite(archive, tmp_path / f"crafted-{number}.pt2", CRAFTED[kind](marker))
        try:
            torch.export.load(str(crafted)).module()(torch.randn(2, 3))
        except Exception:  # the payload ran before whatever failed
            pass
        assert marker.exists(), kind


def test_cli_explain_refuses_a_crafted_archive(archive: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "code-ran"
    crafted = _rewrite(archive, tmp_path / "model.pt", _pickled_weight(marker))
    batch = tmp_path / "batch.npy"
    np.save(batch, np.zeros((2, 3), dtype=np.float32))
    status = main(["explain", str(crafted), str(batch), "--method", "saliency",
                   "--out", str(tmp_path / "out"), "--no-progress"])
    assert status == 2
    assert not marker.exists()
    err = capsys.readouterr().err
    assert "stored as a pickle" in err and "--trust-code" in err
    assert not (tmp_path / "out").exists()


def test_compiled_code_in_the_archive_is_refused(archive: Path, tmp_path: Path) -> None:
    crafted = _rewrite(archive, tmp_path / "aoti.pt2", lambda name, data: data,
                       extra={"data/aotinductor/model/model.so": b"\x7fELF not really"})
    with pytest.raises(CLIError, match="compiled native code"):
        load_model(crafted)


def test_pickled_constant_objects_are_refused(archive: Path, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"

    def edit(name: str, data: bytes) -> bytes:
        if name == "data/constants/model_constants_config.json":
            entry = {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": True, "tensor_meta": None}
            return json.dumps({"config": {"evil": entry}}).encode()
        return data

    crafted = _rewrite(archive, tmp_path / "opaque.pt2", edit,
                       extra={"data/constants/opaque_obj_0": pickle.dumps(_Payload(marker))})
    with pytest.raises(CLIError, match="constant 'evil' is stored as a pickle"):
        load_model(crafted)
    assert not marker.exists()


def test_entries_outside_the_archive_folder_are_refused(archive: Path, tmp_path: Path) -> None:
    """PyTorch's fallback reader for old archives unpickles top-level ``serialized_*.pt``."""
    crafted = _rewrite(archive, tmp_path / "legacy.pt2", lambda name, data: data)
    with zipfile.ZipFile(crafted, "a") as out:
        out.writestr("serialized_state_dict.pt", pickle.dumps(_Payload(tmp_path / "ran")))
    with pytest.raises(CLIError, match="outside the archive folder"):
        load_model(crafted, model_format="export")
    assert not (tmp_path / "ran").exists()


def test_operators_outside_torch_ops_are_refused_by_the_verifier(archive: Path, tmp_path: Path) -> None:
    def edit(name: str, data: bytes) -> bytes:
        if name != "models/model.json":
            return data
        return data.replace(b'"torch.ops.aten.relu.default"', b'"torch.os.getcwd"')

    crafted = _rewrite(archive, tmp_path / "target.pt2", edit)
    with pytest.raises(CLIError, match=r"cannot read torch\.export file"):
        load_model(crafted)


@pytest.mark.parametrize("suffix", [".pt2", ".pt", ".bin"])
def test_a_genuine_archive_loads_under_any_name(suffix: str, archive: Path, tmp_path: Path) -> None:
    copy = tmp_path / f"model{suffix}"
    copy.write_bytes(archive.read_bytes())
    model = load_model(copy)
    x = torch.randn(5, 3)
    expected = torch.export.load(str(archive)).module()(x)
    torch.testing.assert_close(model(x), expected)


def test_a_genuine_archive_with_guards_loads(tmp_path: Path) -> None:
    """Guards and symbolic shapes that torch.export.save writes pass the checks."""

    class Pair(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return x[:, :2] * y.sum() + x.shape[0]

    batch = torch.export.Dim("batch", min=2, max=64)
    program = torch.export.export(Pair(), (torch.randn(4, 3), torch.randn(4)),
                                  dynamic_shapes=({0: batch}, {0: batch}))
    assert program._guards_code, "expected torch.export to record an input guard"
    path = tmp_path / "pair.pt2"
    torch.export.save(program, str(path))
    model = load_model(path)
    x, y = torch.randn(6, 3), torch.randn(6)
    torch.testing.assert_close(model(x, y), Pair()(x, y))


def test_trust_code_loads_what_torch_loads(archive: Path, tmp_path: Path) -> None:
    """With ``trust_code=True`` the checks are skipped (the payload runs, as documented)."""
    marker = tmp_path / "code-ran"
    crafted = _rewrite(archive, tmp_path / "guard.pt2", _guard_code(marker))
    model = load_model(crafted, trust_code=True)
    model(torch.randn(2, 3))
    assert marker.exists()


def test_state_dicts_are_read_with_the_safe_unpickler(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "weights.pt"
    torch.save({"weight": _Payload(marker)}, path)
    with pytest.raises(CLIError, match=r"holds pickled Python objects.*refused"):
        load_model(path, arch="digits_cnn")
    assert not marker.exists()
