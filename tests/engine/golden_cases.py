"""Reference results recorded before the engine-contract redesign, and how to recompute them.

Each case is a name and a function returning a NumPy array. ``record()`` wrote
``golden.npz`` from the code as it stood before the redesign (commit 8b5a661);
``test_golden.py`` recomputes every case and asserts bit-identical arrays.

Cases whose result the redesign changes on purpose (the defects named in the issue:
gamma on negative inputs, z^B bounds taken from the batch, channels-last at max-pool
ties) are not recorded: the presets get explicit bounds, gamma runs on non-negative
layer inputs only, and integrated gradients runs in the contiguous layout.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import xaikit
from xaikit.models import MLP, DigitsCNN, resnet_small, vgg16

GOLDEN = Path(__file__).with_name("golden.npz")


def _seeded(factory: Callable[[], torch.nn.Module], seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return factory().eval()


def _inputs(shape: tuple[int, ...], seed: int, low: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g)
    return x if low == 0.0 else x * 2 - 1


def _mlp() -> torch.nn.Module:
    return _seeded(lambda: MLP(6, (16, 12), 4))


def _digits() -> torch.nn.Module:
    return _seeded(DigitsCNN)


def _vgg() -> torch.nn.Module:
    return _seeded(lambda: vgg16(num_classes=5, input_size=32, width=0.125))


def _vgg_bn() -> torch.nn.Module:
    model = _seeded(lambda: vgg16(num_classes=5, input_size=32, width=0.125, batch_norm=True))
    g = torch.Generator().manual_seed(5)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model


def _resnet() -> torch.nn.Module:
    return _seeded(lambda: resnet_small(num_classes=5))


_MODELS: dict[str, tuple[Callable[[], torch.nn.Module], tuple[int, ...], float]] = {
    "mlp": (_mlp, (5, 6), -1.0),
    "digits": (_digits, (4, 1, 8, 8), 0.0),
    "vgg": (_vgg, (2, 3, 32, 32), 0.0),
    "vgg_bn": (_vgg_bn, (2, 3, 32, 32), 0.0),
    "resnet": (_resnet, (2, 3, 32, 32), 0.0),
}

_BOXED = {"low": 0.0, "high": 1.0}
_LRP_PRESETS: dict[str, dict[str, object]] = {
    "epsilon": {},
    "lrp0": {},
    "zplus": {},
    "alpha1_beta0": {},
    "epsilon_plus": {},
    "epsilon_plus_flat": {},
    "epsilon_gamma_box": _BOXED,
    "epsilon_gamma_box_flat": {},
    "epsilon_alpha2_beta1": {},
    "epsilon_alpha2_beta1_flat": {},
    "lrp_cmp": _BOXED,
    "lrp_cmp_flat": {},
}
#: presets whose gamma rule would meet negative inputs on the MLP (a defect fixed on purpose)
_GAMMA_PRESETS = {"epsilon_gamma_box", "epsilon_gamma_box_flat", "lrp_cmp", "lrp_cmp_flat"}


def _explain(model_name: str, method: str, **options: object) -> np.ndarray:
    factory, shape, low = _MODELS[model_name]
    model = factory()
    x = _inputs(shape, seed=len(model_name), low=low)
    e = xaikit.explain(model, x, method=method, **options)
    return np.concatenate([e.attribution.detach().numpy().ravel(), e.output.detach().numpy().ravel()])


def _neon() -> np.ndarray:
    from sklearn.cluster import KMeans

    from xaikit.datasets import WHOLESALE_SPENDING, load_wholesale

    data = np.log(load_wholesale()[list(WHOLESALE_SPENDING)].to_numpy(float))
    data = (data - data.mean(0)) / data.std(0)
    kmeans = KMeans(n_clusters=6, n_init=10, random_state=0).fit(data)
    e = xaikit.explain(xaikit.neuralize(kmeans), torch.from_numpy(data[:40]), method="lrp", composite="neon")
    return np.concatenate([e.attribution.numpy().ravel(), e.output.numpy().ravel()])


def cases() -> dict[str, Callable[[], np.ndarray]]:
    """Every recorded case by name."""
    out: dict[str, Callable[[], np.ndarray]] = {}
    for model_name in _MODELS:
        for preset, opts in _LRP_PRESETS.items():
            if model_name == "mlp" and preset in _GAMMA_PRESETS:
                continue
            out[f"lrp/{preset}/{model_name}"] = (
                lambda m=model_name, p=preset, o=opts: _explain(m, "lrp", composite=p, composite_options=dict(o) or None)
            )
        for method in ("integrated_gradients", "saliency", "deeplift", "guided_backprop", "deconvnet"):
            out[f"{method}/{model_name}"] = lambda m=model_name, k=method: _explain(m, k)
    out["kernel_shap/mlp"] = lambda: _explain("mlp", "kernel_shap", samples=64, seed=0)
    out["shapley/mlp"] = lambda: _explain("mlp", "shapley")
    out["occlusion/digits"] = lambda: _explain("digits", "occlusion")
    out["lrp/logodds/mlp"] = lambda: _explain_logodds()
    out["neon/kmeans/wholesale"] = _neon
    return out


def _explain_logodds() -> np.ndarray:
    model = _mlp()
    x = _inputs((5, 6), seed=3, low=-1.0)
    e = xaikit.explain(model, x, target=xaikit.LogOdds(1), method="lrp", composite="epsilon")
    return np.concatenate([e.attribution.numpy().ravel(), e.output.numpy().ravel()])


def compute(name: str) -> np.ndarray:
    """Recompute one case in the recording conditions (one thread, contiguous layout)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with xaikit.utils.channels_last_disabled():
            return cases()[name]()
    finally:
        torch.set_num_threads(threads)


def record() -> None:
    """Write :data:`GOLDEN` (run once, before the redesign)."""
    np.savez_compressed(GOLDEN, **{name: compute(name) for name in cases()})


if __name__ == "__main__":
    record()
