"""RISE and ROAD on the digits CNN: xaikit's batched runs against straightforward loops and Quantus.

1. RISE with 4,000 masks on N test digits: xaikit (every mask of every digit through the
   masking engine's batched forward passes) against a per-sample loop (for each digit, its
   4,000 masked copies in one forward pass, the same masks), results compared.
2. ROAD (MoRF and LeRF, 10%..90%, noisy linear imputation) on the LRP heatmaps of N
   digits: xaikit's ``road`` (one sparse solve per chunk of copies, batched forwards)
   against a per-sample loop (one imputation and one forward pass per digit and fraction,
   the same imputation function, noise off so that the curves must agree), and Quantus
   0.6's ``ROAD`` (MoRF only; its own imputation and a per-sample, per-fraction loop).

Run::

    .venv/bin/python benchmarks/bench_rise_road.py [--samples 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

import xaikit
from xaikit.evaluate import ROAD_FRACTIONS, road
from xaikit.perturbation import MaskSampler, linear_imputation


def timed(call):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = call()
    return value, time.perf_counter() - start


def rise_loop(model, x, target, masks: int, cells: int) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """RISE one digit at a time: its masked copies in one forward pass."""
    kept = MaskSampler(masks, x.shape[1:], cells, 0.5, 0).render(torch.arange(masks), x.dtype)
    out = []
    with torch.no_grad():
        for n in range(len(x)):
            values = model(kept * x[n])[:, int(target[n])]
            out.append(torch.tensordot(values, kept, dims=1) / (masks * 0.5))
    return torch.stack(out)


def rise_naive(model, x, target, masks: int, cells: int) -> float:  # type: ignore[no-untyped-def]
    """Seconds of the most straightforward RISE: one forward pass per digit and mask (200 masks of
    2 digits timed, scaled to all masks and digits)."""
    kept = MaskSampler(masks, x.shape[1:], cells, 0.5, 0).render(torch.arange(200), x.dtype)
    start = time.perf_counter()
    with torch.no_grad():
        for n in range(2):
            total = torch.zeros_like(x[n])
            for mask in kept:
                total += float(model((mask * x[n])[None])[0, int(target[n])]) * mask
    return (time.perf_counter() - start) * (masks / 200) * (len(x) / 2)


def road_loop(model, x, attribution, target, order: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """ROAD one digit and one fraction at a time (noise off)."""
    n_pixels = x[0, 0].numel()
    curves = np.zeros((len(x), len(ROAD_FRACTIONS) + 1))
    with torch.no_grad():
        for n in range(len(x)):
            ranking = attribution[n].sum(0).flatten().double()
            order_ = torch.argsort(-ranking if order == "morf" else ranking, stable=True)
            curves[n, 0] = float(model(x[n:n + 1])[0, int(target[n])])
            for k, fraction in enumerate(ROAD_FRACTIONS, start=1):
                removed = np.zeros(n_pixels, dtype=bool)
                removed[order_[: int(np.rint(fraction * n_pixels))].numpy()] = True
                planes = x[n].double().numpy()
                mask = np.broadcast_to(removed.reshape(x.shape[2:]), planes.shape)
                imputed = torch.from_numpy(linear_imputation(planes, mask)).to(x.dtype)
                curves[n, k] = float(model(imputed[None])[0, int(target[n])])
    return curves


def main() -> None:
    """Time both and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = xaikit.models.digits_cnn()
    _, _, x_test, y_test = xaikit.models.load_digits_split()
    x, y = x_test[: args.samples], y_test[: args.samples]
    print(f"digits CNN, {len(x)} test digits, CPU, {args.threads} threads, torch {torch.__version__}\n")

    xaikit.explain(model, x[:2], y[:2], method="rise", masks=64, cells=4, progress=False)  # imports, first calls
    explained, fast = timed(lambda: xaikit.explain(model, x, y, method="rise", masks=4000, cells=4, progress=False))
    _, larger = timed(lambda: xaikit.explain(model, x, y, method="rise", masks=4000, cells=4, batch_size=1024,
                                             progress=False))
    looped, slow = timed(lambda: rise_loop(model, x, y, 4000, 4))
    naive = rise_naive(model, x, y, 4000, 4)
    gap = float((explained.attribution - looped).abs().max() / looped.abs().max())
    print("| RISE, 4,000 masks | seconds | ratio |")
    print("|---|---:|---:|")
    print(f"| xaikit `method=\"rise\"` (automatic batch size) | {fast:.2f} | 1.0 |")
    print(f"| xaikit, batch_size=1024 | {larger:.2f} | {larger / fast:.2f} |")
    print(f"| per-sample loop (the 4,000 masked copies of a digit in one pass) | {slow:.2f} | {slow / fast:.2f} |")
    print(f"| per-sample, per-mask loop (one forward pass each; 2 x 200 timed, scaled) | {naive:.1f} | "
          f"{naive / fast:.0f} |")
    print(f"(largest difference {gap:.1e} of the largest saliency)\n")

    heatmaps = xaikit.explain(model, x, y, method="lrp").attribution
    road(model, x[:2], heatmaps[:2], y[:2], progress=False)  # imports (scipy.sparse), first calls
    result, fast = timed(lambda: road(model, x, heatmaps, y, noise=0.0, progress=False))
    looped_curves, slow = timed(lambda: (road_loop(model, x, heatmaps, y, "morf"),
                                         road_loop(model, x, heatmaps, y, "lerf")))
    agree = max(float(np.abs(result.morf.curves - looped_curves[0]).max()),
                float(np.abs(result.lerf.curves - looped_curves[1]).max()))
    print("| ROAD, MoRF + LeRF, 9 fractions | seconds | ratio |")
    print("|---|---:|---:|")
    print(f"| xaikit `road` | {fast:.2f} | 1.0 |")
    print(f"| per-sample, per-fraction loop | {slow:.2f} | {slow / fast:.1f} |")
    try:
        import quantus

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric = quantus.ROAD(percentages=[10 * k for k in range(1, 10)], noise=0.01, disable_warnings=True,
                                  display_progressbar=False)
            _, quantus_seconds = timed(lambda: metric(model, x.numpy(), y.numpy(), a_batch=heatmaps.numpy(),
                                                      device="cpu", channel_first=True))
        _, with_noise = timed(lambda: road(model, x, heatmaps, y, progress=False))
        print(f"| Quantus 0.6 `ROAD` (MoRF only) | {quantus_seconds:.2f} | {quantus_seconds / fast:.1f} |")
        print(f"(with ROAD's noise on: xaikit {with_noise:.2f} s for both orders; Quantus does MoRF only, so "
              f"per order it takes {2 * quantus_seconds / with_noise:.1f}x xaikit's time)")
    except Exception as error:  # a peer's failure is reported, not fatal
        print(f"| Quantus 0.6 `ROAD` | failed: {type(error).__name__}: {str(error)[:80]} | |")
    print(f"(xaikit and the loop agree to {agree:.1e} on the curves)")


if __name__ == "__main__":
    main()
