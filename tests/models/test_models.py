"""Tests of the reference architectures and the pretrained digits CNN."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xaikit.models import (
    MLP,
    VGG,
    Bottleneck,
    CNN1d,
    DigitsCNN,
    DigitsVGG,
    ResNet,
    SmallCNN,
    digits_cnn,
    load_digits_split,
    reference_model,
    resnet50,
    resnet_small,
    vgg16,
)
from xaikit.models.pretrained import WEIGHTS_VERSION, default_cache_dir


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# --------------------------------------------------------------------------- MLP


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "softplus", "identity"])
def test_mlp_shapes_and_structure(activation: str) -> None:
    model = MLP(5, hidden=(7, 6), out_features=4, activation=activation)
    assert model(torch.randn(3, 5)).shape == (3, 4)
    linears = [m for m in model.net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(5, 7), (7, 6), (6, 4)]
    assert isinstance(model.net, nn.Sequential)
    assert isinstance(model.net[-1], nn.Linear)
    assert len(model.net) == 5


def test_mlp_no_hidden_no_bias() -> None:
    model = MLP(3, hidden=(), out_features=2, bias=False)
    assert len(model.net) == 1
    assert model.net[0].bias is None
    assert model(torch.randn(4, 3)).shape == (4, 2)


def test_mlp_bad_activation() -> None:
    with pytest.raises(ValueError, match="unknown activation"):
        MLP(3, activation="nope")


# --------------------------------------------------------------------------- CNNs


def test_digits_cnn_shapes() -> None:
    model = DigitsCNN()
    x = torch.rand(2, 1, 8, 8)
    assert model.features(x).shape == (2, 32, 4, 4)
    assert model(x).shape == (2, 10)
    assert isinstance(model.features, nn.Sequential)
    assert isinstance(model.classifier, nn.Sequential)


@pytest.mark.parametrize(("channels", "size"), [(3, 32), (1, 28), (3, 16), (1, 3)])
def test_small_cnn_shapes(channels: int, size: int) -> None:
    model = SmallCNN(in_channels=channels, num_classes=7, input_size=size)
    assert model(torch.rand(2, channels, size, size)).shape == (2, 7)


@pytest.mark.parametrize(("channels", "length"), [(1, 64), (3, 100), (2, 3)])
def test_cnn1d_shapes(channels: int, length: int) -> None:
    model = CNN1d(in_channels=channels, num_classes=5, length=length)
    assert model(torch.randn(4, channels, length)).shape == (4, 5)
    assert any(isinstance(m, nn.Conv1d) for m in model.modules())


# --------------------------------------------------------------------------- VGG


def test_vgg16_full_width_structure() -> None:
    with torch.device("meta"):
        model = vgg16()
    assert isinstance(model, VGG)
    assert model.classifier[0].in_features == 2048
    assert model.classifier[0].out_features == 4096
    assert model.classifier[3].in_features == 4096
    assert model.classifier[-1].out_features == 1000
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 256] + [512] * 6
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    pools = [m for m in model.features if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 5
    # every conv is directly followed by an in-place ReLU
    feats = list(model.features)
    for i, m in enumerate(feats):
        if isinstance(m, nn.Conv2d):
            assert isinstance(feats[i + 1], nn.ReLU) and feats[i + 1].inplace
    assert not any(isinstance(m, nn.AdaptiveAvgPool2d) for m in model.modules())


def test_vgg16_small_forward() -> None:
    model = vgg16(num_classes=6, width=0.125).eval()
    x = torch.rand(2, 3, 64, 64)
    feats = torch.flatten(model.features(x), 1)
    assert feats.shape == (2, 64 * 2 * 2)
    assert model.classifier[0].in_features == 256
    assert model(x).shape == (2, 6)


def test_vgg16_batchnorm_and_input_size() -> None:
    model = vgg16(num_classes=3, in_channels=1, input_size=32, width=0.0625, batch_norm=True)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 13
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 3)
    with pytest.raises(ValueError):
        vgg16(input_size=40)


# --------------------------------------------------------------------------- ResNet


def test_resnet_small_forward() -> None:
    model = resnet_small(num_classes=5).eval()
    assert isinstance(model, ResNet)
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 4
    assert model.fc.in_features == 128 * 4
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 5)


def test_resnet50_layout() -> None:
    with torch.device("meta"):
        model = resnet50()
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 16
    assert model.fc.in_features == 2048
    assert model.conv1.stride == (1, 1) and model.conv1.kernel_size == (3, 3)
    small = resnet50(num_classes=4, in_channels=1, width=0.125, layers=(1, 2, 1, 1))
    assert small(torch.rand(1, 1, 16, 16)).shape == (1, 4)


def test_bottleneck_uses_plain_residual_add() -> None:
    block = Bottleneck(16, 4).eval()  # 16 -> 4 -> 4 -> 16, identity shortcut
    assert block.downsample is None
    with torch.no_grad():
        block.conv3.weight.zero_()
        block.bn3.weight.zero_()
        block.bn3.bias.zero_()
    x = torch.randn(2, 16, 5, 5)
    torch.testing.assert_close(block(x), F.relu(x))
    # with a bias on the residual branch, the output is relu(x + bias)
    with torch.no_grad():
        block.bn3.bias.fill_(0.5)
    torch.testing.assert_close(block(x), F.relu(x + 0.5))


def test_resnet_uses_functional_relu() -> None:
    model = resnet_small()
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    block = Bottleneck(8, 4, stride=2, downsample=nn.Conv2d(8, 16, 1, stride=2))
    assert block(torch.randn(1, 8, 6, 6)).shape == (1, 16, 3, 3)


# --------------------------------------------------------------------------- factory


@pytest.mark.parametrize(
    ("name", "kwargs", "shape"),
    [
        ("mlp", {"in_features": 4}, (2, 4)),
        ("digits_cnn", {}, (2, 1, 8, 8)),
        ("digits_vgg", {}, (2, 1, 8, 8)),
        ("digits_vgg", {"upsample": 8, "stages": ((8,), (8,), (8,))}, (2, 1, 8, 8)),
        ("small_cnn", {"in_channels": 1, "input_size": 16}, (2, 1, 16, 16)),
        ("cnn1d", {}, (2, 1, 64)),
        ("vgg16", {"width": 0.0625, "num_classes": 10}, (2, 3, 64, 64)),
        ("resnet50", {"width": 0.0625, "layers": (1, 1, 1, 1), "num_classes": 10}, (2, 3, 16, 16)),
        ("Resnet-Small", {"num_classes": 10}, (2, 3, 16, 16)),
    ],
)
def test_reference_model(name: str, kwargs: dict[str, object], shape: tuple[int, ...]) -> None:
    model = reference_model(name, **kwargs).eval()
    out = model(torch.rand(*shape))
    assert out.shape[0] == 2 and out.dim() == 2


def test_digits_vgg_rejects_sizes_the_pools_cannot_halve() -> None:
    with pytest.raises(ValueError, match="multiple of 2\\*\\*len\\(stages\\) = 16"):
        reference_model("digits_vgg", upsample=12)
    with pytest.raises(ValueError, match="non-empty"):
        reference_model("digits_vgg", stages=((16,), ()))


def test_digits_vgg_training_is_deterministic_and_leaves_the_global_rng() -> None:
    from xaikit.models import pretrained

    state = torch.get_rng_state()
    first = pretrained._train(DigitsVGG, 3, 1, 1e-3, False, "")
    assert torch.equal(torch.get_rng_state(), state)
    second = pretrained._train(DigitsVGG, 3, 1, 1e-3, False, "")
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_reference_model_unknown() -> None:
    with pytest.raises(ValueError, match="unknown reference model"):
        reference_model("alexnet")


# --------------------------------------------------------------------------- digits data


def test_load_digits_split() -> None:
    x_tr, y_tr, x_te, y_te = load_digits_split()
    assert x_tr.dtype == torch.float32 and x_te.dtype == torch.float32
    assert y_tr.dtype == torch.int64 and y_te.dtype == torch.int64
    assert x_tr.shape[1:] == (1, 8, 8) and x_te.shape[1:] == (1, 8, 8)
    assert x_tr.shape[0] + x_te.shape[0] == 1797
    assert x_te.shape[0] == 450
    assert float(x_tr.min()) >= 0.0 and float(x_tr.max()) == 1.0
    # stratified: every class present in both parts with similar frequencies
    tr = np.bincount(y_tr.numpy(), minlength=10) / len(y_tr)
    te = np.bincount(y_te.numpy(), minlength=10) / len(y_te)
    assert np.abs(tr - te).max() < 0.01
    again = load_digits_split()
    assert all(torch.equal(a, b) for a, b in zip((x_tr, y_tr, x_te, y_te), again))
    other = load_digits_split(seed=1)
    assert not torch.equal(y_te, other[3])


# --------------------------------------------------------------------------- pretrained


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Train once (the slow part) and record the global RNG state around it."""
    cache = tmp_path_factory.mktemp("cache_a")
    torch.manual_seed(1234)
    np.random.seed(1234)  # noqa: NPY002 (the global state is what we check)
    torch_state = torch.get_rng_state()
    np_state = pickle.dumps(np.random.get_state())  # noqa: NPY002
    start = time.perf_counter()
    model = digits_cnn(cache_dir=cache, retrain=True)
    seconds = time.perf_counter() - start
    return {
        "model": model,
        "cache": cache,
        "seconds": seconds,
        "torch_state_before": torch_state,
        "torch_state_after": torch.get_rng_state(),
        "np_state_before": np_state,
        "np_state_after": pickle.dumps(np.random.get_state()),  # noqa: NPY002
    }


@pytest.mark.slow
def test_digits_cnn_accuracy(trained: dict[str, object]) -> None:
    model = trained["model"]
    assert isinstance(model, DigitsCNN)
    assert not model.training
    _, _, x_te, y_te = load_digits_split()
    with torch.no_grad():
        acc = (model(x_te).argmax(1) == y_te).float().mean().item()
    assert acc > 0.95


def test_digits_cnn_global_rng_untouched(trained: dict[str, object]) -> None:
    assert torch.equal(trained["torch_state_before"], trained["torch_state_after"])  # type: ignore[arg-type]
    assert trained["np_state_before"] == trained["np_state_after"]


@pytest.mark.slow
def test_digits_cnn_deterministic(trained: dict[str, object], tmp_path: Path) -> None:
    other = digits_cnn(cache_dir=tmp_path, retrain=True)
    first = trained["model"]
    assert isinstance(first, DigitsCNN)
    a, b = first.state_dict(), other.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_digits_cnn_cache_round_trip(trained: dict[str, object]) -> None:
    cache = trained["cache"]
    assert isinstance(cache, Path)
    files = sorted(p.name for p in cache.iterdir())
    assert files == [f"digits_cnn-{WEIGHTS_VERSION}-seed0.pt"]  # no temp files left
    state = torch.load(cache / files[0], weights_only=True)
    start = time.perf_counter()
    loaded = digits_cnn(cache_dir=cache)
    assert time.perf_counter() - start < 1.0  # loaded, not retrained
    assert not loaded.training
    first = trained["model"]
    assert isinstance(first, DigitsCNN)
    for key, value in first.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
        assert torch.equal(state[key], value)


def test_digits_cnn_corrupt_cache_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / f"digits_cnn-{WEIGHTS_VERSION}-seed0.pt"
    path.write_bytes(b"not a checkpoint")
    # a stale/garbage file is ignored; train with a mock to keep this fast
    import xaikit.models.pretrained as pre

    calls: list[int] = []

    def fake_train(seed: int, progress: bool, background: str) -> DigitsCNN:
        calls.append(seed)
        return DigitsCNN()

    mp = pytest.MonkeyPatch()
    mp.setattr(pre, "_train_digits_cnn", fake_train)
    try:
        model = digits_cnn(cache_dir=tmp_path)
    finally:
        mp.undo()
    assert calls == [0]
    assert not model.training
    reloaded = torch.load(path, weights_only=True)
    assert torch.equal(reloaded["classifier.1.weight"], model.state_dict()["classifier.1.weight"])


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XAIKIT_CACHE", os.fspath(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("XAIKIT_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "xaikit"
