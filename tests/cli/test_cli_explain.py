"""``xaikit explain``: round trips against ``xaikit.explain``; bad input fails cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import xaikit
from xaikit.cli import main
from xaikit.cli.arguments import parse_options


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return xaikit.models.DigitsCNN().eval()


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    _, _, x_test, _ = xaikit.models.load_digits_split()
    return x_test[:5]


@pytest.fixture
def files(tmp_path: Path, model: torch.nn.Module, digits: torch.Tensor) -> dict[str, Path]:
    weights = tmp_path / "digits.pt"
    torch.save(model.state_dict(), weights)
    batch = tmp_path / "digits.npy"
    np.save(batch, digits.numpy())
    return {"weights": weights, "batch": batch}


def run_cli(*args: str | Path) -> int:
    return main([str(a) for a in args])


def nothing_written(out: Path) -> bool:
    return not out.exists() and not any(p.name.startswith(f".{out.name}.") for p in out.parent.iterdir())


LRP_BOX = ("--method", "lrp", "--option", "composite=epsilon_gamma_box",
           "--option", 'composite_options={"low": 0, "high": 1}')


def test_state_dict_round_trip_equals_python(files: dict[str, Path], model: torch.nn.Module,
                                             digits: torch.Tensor, tmp_path: Path) -> None:
    out = tmp_path / "out"
    status = run_cli("explain", files["weights"], files["batch"], "--arch", "digits_cnn", *LRP_BOX,
                     "--out", out, "--no-progress")
    assert status == 0
    written = np.load(out / "attribution.npy")
    expected = xaikit.explain(model, digits, method="lrp", composite="epsilon_gamma_box",
                              composite_options={"low": 0, "high": 1})
    assert written.shape == tuple(digits.shape) and written.dtype == np.float32
    np.testing.assert_allclose(written, expected.attribution.numpy(), rtol=1e-6, atol=1e-7)
    record = json.loads((out / "explanation.json").read_text())
    assert record["method"] == "lrp" and record["options"]["composite"] == "epsilon_gamma_box"
    np.testing.assert_allclose([s["output"] for s in record["samples"]], expected.output.numpy(), rtol=1e-6)
    assert [s["target"] for s in record["samples"]] == expected.target.tolist()
    assert sorted(p.name for p in (out / "heatmaps").iterdir()) == [f"digits-{i}.png" for i in range(5)]
    with Image.open(out / "heatmaps" / "digits-0.png") as heatmap:
        assert heatmap.size == (128, 128)
    assert (out / "report.html").read_text(encoding="utf-8").count("data:image/png;base64,") == 1


def test_png_inputs_and_explicit_target(tmp_path: Path, files: dict[str, Path], model: torch.nn.Module,
                                        digits: torch.Tensor) -> None:
    paths = []
    for i, image in enumerate(digits[:2]):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(np.round(image[0].numpy() * 255).astype(np.uint8)).save(path)
        paths.append(path)
    out = tmp_path / "png-out"
    assert run_cli("explain", files["weights"], *paths, "--arch", "digits_cnn", "--target", "3,7",
                   "--out", out, "--no-progress") == 0
    loaded = torch.from_numpy(np.stack([np.asarray(Image.open(p), dtype=np.float32)[None] / 255 for p in paths]))
    expected = xaikit.explain(model, loaded, torch.tensor([3, 7]))
    np.testing.assert_allclose(np.load(out / "attribution.npy"), expected.attribution.numpy(), rtol=1e-6, atol=1e-7)
    assert sorted(p.name for p in (out / "heatmaps").iterdir()) == ["digit0.png", "digit1.png"]
    summary = pd.read_csv(out / "summary.csv")
    assert summary["target"].tolist() == [3, 7]


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
@pytest.mark.parametrize("kind", ["torchscript", "export"])
def test_torchscript_and_export_files(kind: str, tmp_path: Path, model: torch.nn.Module,
                                      digits: torch.Tensor, files: dict[str, Path]) -> None:
    path = tmp_path / f"model-{kind}.pt"
    if kind == "torchscript":
        torch.jit.save(torch.jit.script(model), str(path))
    else:
        program = torch.export.export(model, (digits,), dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
        torch.export.save(program, str(path))
    out = tmp_path / "out"
    assert run_cli("explain", path, files["batch"], "--method", "saliency", "--out", out, "--no-progress") == 0
    expected = xaikit.explain(model, digits, method="saliency")
    np.testing.assert_allclose(np.load(out / "attribution.npy"), expected.attribution.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(("method", "options"), [
    ("saliency", ()), ("integrated_gradients", ("--option", "steps=8")), ("lrp", ("--option", "composite=epsilon_plus")),
])
def test_a_static_batch_export_is_run_in_its_own_batch_size(
    method: str, options: tuple[str, ...], tmp_path: Path, model: torch.nn.Module, digits: torch.Tensor,
    files: dict[str, Path],
) -> None:
    """Exported for exactly 2 samples, explained on 5: re-batched (last batch padded), same result."""
    path = tmp_path / "static.pt2"
    torch.export.save(torch.export.export(model, (digits[:2],)), str(path))
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="exactly 2 samples.*padded"):
        assert run_cli("explain", path, files["batch"], "--method", method, *options, "--out", out,
                       "--no-progress") == 0
    settings = {"steps": 8} if method == "integrated_gradients" else {"composite": "epsilon_plus"} if method == "lrp" else {}
    expected = xaikit.explain(model, digits, method=method, **settings)
    np.testing.assert_allclose(np.load(out / "attribution.npy"), expected.attribution.numpy(), rtol=1e-4, atol=1e-6)


def test_tabular_csv_with_header(tmp_path: Path) -> None:
    torch.manual_seed(1)
    mlp = xaikit.models.MLP(3, (8,), 2).eval()
    weights = tmp_path / "mlp.pt"
    torch.save(mlp.state_dict(), weights)
    table = pd.DataFrame({"age": [0.1, 0.5, -0.3], "income": [1.0, -1.0, 0.2], "debt": [0.0, 0.3, 0.9]})
    table.to_csv(tmp_path / "table.csv", index=False)
    out = tmp_path / "out"
    assert run_cli("explain", weights, tmp_path / "table.csv", "--arch", "mlp", "--arch-option", "in_features=3",
                   "--arch-option", "hidden=[8]", "--arch-option", "out_features=2",
                   "--method", "lrp", "--option", "composite=epsilon", "--out", out, "--no-progress") == 0
    x = torch.tensor(table.to_numpy(), dtype=torch.float32)
    expected = xaikit.explain(mlp, x, method="lrp", composite="epsilon")
    np.testing.assert_allclose(np.load(out / "attribution.npy"), expected.attribution.numpy(), rtol=1e-6, atol=1e-7)
    assert not (out / "heatmaps").exists()
    assert len(list((out / "figures").glob("*.png"))) == 3  # one bar chart per row


def test_explanation_file_holds_the_merged_batches(tmp_path: Path, files: dict[str, Path],
                                                   model: torch.nn.Module, digits: torch.Tensor) -> None:
    out = tmp_path / "out"
    assert run_cli("explain", files["weights"], files["batch"], "--arch", "digits_cnn",
                   "--method", "integrated_gradients", "--option", "steps=4", "--batch-size", "2",
                   "--out", out, "--no-progress") == 0
    saved = xaikit.Explanation.load(out / "explanation.npz")
    expected = xaikit.explain(model, digits, method="integrated_gradients", steps=4, progress=False)
    assert len(saved) == 5 and saved.method == "integrated_gradients" and saved.options["steps"] == 4
    np.testing.assert_array_equal(saved.attribution.numpy(), np.load(out / "attribution.npy"))
    torch.testing.assert_close(saved.attribution, expected.attribution, rtol=1e-5, atol=1e-6)
    assert saved.baseline is not None and expected.baseline is not None
    torch.testing.assert_close(saved.baseline, expected.baseline, rtol=1e-5, atol=1e-6)
    assert saved.extras["completeness_gap"].shape == (5,) and "completeness_gap" in saved.per_sample_extras
    assert torch.equal(saved.inputs, digits) and torch.equal(saved.target, expected.target)


def assert_fails(capsys: pytest.CaptureFixture[str], status: int, message: str, out: Path) -> None:
    err = capsys.readouterr().err.strip()
    assert status != 0
    assert len(err.splitlines()) == 1, err
    assert err.startswith("xaikit explain: error: ") and message in err, err
    assert nothing_written(out)


def test_malformed_model_file(tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a model\x00\x01")
    out = tmp_path / "out"
    status = run_cli("explain", bad, files["batch"], "--arch", "digits_cnn", "--out", out)
    assert_fails(capsys, status, "cannot read model file", out)


def test_state_dict_of_another_architecture(tmp_path: Path, files: dict[str, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    status = run_cli("explain", files["weights"], files["batch"], "--arch", "small_cnn", "--out", out)
    assert_fails(capsys, status, "does not fit architecture 'small_cnn'", out)
    status = run_cli("explain", files["weights"], files["batch"], "--out", out)
    assert_fails(capsys, status, "name its architecture with --model-class", out)


def test_missing_input(tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    status = run_cli("explain", files["weights"], tmp_path / "nope.png", "--arch", "digits_cnn", "--out", out)
    assert_fails(capsys, status, "input file", out)
    status = run_cli("explain", tmp_path / "nope.pt", files["batch"], "--arch", "digits_cnn", "--out", out)
    assert_fails(capsys, status, "model file", out)


def test_unknown_method_and_bad_options(tmp_path: Path, files: dict[str, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ("explain", files["weights"], files["batch"], "--arch", "digits_cnn", "--out", out)
    assert_fails(capsys, run_cli(*args, "--method", "telepathy"), "unknown explanation method 'telepathy'", out)
    assert_fails(capsys, run_cli(*args, "--option", "wibble=1"), "unknown option", out)
    assert_fails(capsys, run_cli(*args, "--option", "no-equals-sign"), "key=value", out)
    assert_fails(capsys, run_cli(*args, "--target", "99"), "out of range", out)


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_failing_explanation_writes_nothing(tmp_path: Path, model: torch.nn.Module, files: dict[str, Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    scripted = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(model), str(scripted))
    out = tmp_path / "out"
    status = run_cli("explain", scripted, files["batch"], "--method", "lrp", "--out", out)
    assert status == 1
    assert_fails(capsys, status, "TorchScript hides the model's operations", out)


def test_refuses_to_replace_a_foreign_folder(tmp_path: Path, files: dict[str, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    status = run_cli("explain", files["weights"], files["batch"], "--arch", "digits_cnn", "--out", out)
    assert status == 2 and "--force" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert run_cli("explain", files["weights"], files["batch"], "--arch", "digits_cnn", "--out", out,
                   "--force", "--no-progress") == 0
    assert (out / "attribution.npy").is_file() and not (out / "notes.txt").exists()


def test_option_values_are_json_when_possible() -> None:
    assert parse_options(["steps=32", "composite=epsilon_plus", 'o={"low": 0}', "flag=true", "x=[1, 2]"]) == {
        "steps": 32, "composite": "epsilon_plus", "o": {"low": 0}, "flag": True, "x": [1, 2],
    }


@pytest.mark.slow
def test_console_script_reports_one_line_and_exit_status(tmp_path: Path, files: dict[str, Path]) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "xaikit.cli", "explain", str(files["weights"]), str(files["batch"]),
         "--arch", "digits_cnn", "--method", "telepathy", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "unknown explanation method" in done.stderr and done.stdout == ""
    assert not out.exists()
