"""``xaikit explain-dataset``: the store equals the Python call's; resumes; refuses a mismatch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import xaikit
from xaikit.cli import main

h5py = pytest.importorskip("h5py")
pytest.importorskip("zarr")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    model = xaikit.models.DigitsCNN().eval()
    torch.save(model.state_dict(), tmp_path / "digits.pt")
    _, _, x_test, y_test = xaikit.models.load_digits_split()
    np.save(tmp_path / "x.npy", x_test[:70].numpy())
    np.save(tmp_path / "y.npy", y_test[:70].numpy())
    with h5py.File(tmp_path / "data.h5", "w") as file:
        file["x"], file["y"] = x_test[:70].numpy(), y_test[:70].numpy()
    return {"weights": tmp_path / "digits.pt", "x": tmp_path / "x.npy", "y": tmp_path / "y.npy",
            "h5": tmp_path / "data.h5"}


def run_cli(*args: str | Path) -> int:
    return main([str(a) for a in args])


def test_cli_store_equals_python_and_resumes(files: dict[str, Path], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "cli.zarr"
    base = ("explain-dataset", files["weights"], files["x"], "--arch", "digits_cnn", "--labels", files["y"],
            "--target", "label", "--chunk-size", "32", "--store", store, "--no-progress")
    assert run_cli(*base) == 0
    assert "70 samples in 3 chunks" in capsys.readouterr().out
    model = xaikit.models.DigitsCNN().eval()
    model.load_state_dict(torch.load(files["weights"], weights_only=True))
    expected = xaikit.explain_dataset(model, np.load(files["x"]), "lrp", store=tmp_path / "py.zarr",
                                      labels=np.load(files["y"]), target="label", chunk_size=32, progress=False)
    written = xaikit.store.open_store(store)
    np.testing.assert_array_equal(written.read("methods/lrp/attribution"), expected.read("methods/lrp/attribution"))
    assert run_cli(*base) == 0  # resumed: nothing left to do
    assert len(xaikit.store.open_store(store).provenance["resumed"]) == 1
    assert run_cli(*base, "--option", "composite=epsilon_plus") == 2
    message = capsys.readouterr().err
    assert "made by another run" in message and "composite" in message and "overwrite=True" in message
    h5 = ("explain-dataset", files["weights"], files["h5"], "--dataset", "x", "--labels", "y", "--arch", "digits_cnn",
          "--target", "label", "--chunk-size", "32", "--store", tmp_path / "h5.zarr", "--no-progress")
    assert run_cli(*h5) == 0
    np.testing.assert_array_equal(xaikit.store.open_store(tmp_path / "h5.zarr").read("methods/lrp/attribution"),
                                  expected.read("methods/lrp/attribution"))
    on_dask = ("explain-dataset", files["weights"], files["h5"], "--dataset", "x", "--labels", "y", "--arch",
               "digits_cnn", "--target", "label", "--chunk-size", "32", "--store", tmp_path / "dask.zarr",
               "--workers", "2", "--no-progress")
    assert run_cli(*on_dask) == 0  # the HDF5 source is reopened by each worker
    np.testing.assert_array_equal(xaikit.store.open_store(tmp_path / "dask.zarr").read("methods/lrp/attribution"),
                                  expected.read("methods/lrp/attribution"))
    assert run_cli("explain-dataset", files["weights"], files["h5"], "--arch", "digits_cnn",
                   "--store", tmp_path / "z.zarr") == 2
    assert "--dataset" in capsys.readouterr().err
