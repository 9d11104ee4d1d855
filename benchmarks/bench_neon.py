"""Benchmark: NEON cluster explanations against shap's KernelExplainer on the same function.

The explained function is k-means cluster evidence
``f_c(x) = min_{k != c} ||x - mu_k||^2 - ||x - mu_c||^2`` of the assigned cluster ``c``
(10,000 points, d = 6, k = 6). NEON explains all points in one LRP pass of the
neuralized model; KernelExplainer estimates Shapley values of the same function
(``model(Z)[:, c]`` through the neuralized module, no gradient) point by point.

Run::

    python benchmarks/bench_neon.py [--points 10000] [--shap-points 40] [--repeats 7] [--threads 2]

Prints a markdown table (medians over repeats) and the rank correlation between the two
explanations; ``--output FILE`` also writes it there.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from xaikit.neon import neuralize


def _median_time(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), times


def run(n_points: int, n_shap: int, repeats: int, background: int, seed: int, threads: int = 2) -> str:
    """Run the benchmark and return the markdown report."""
    torch.set_num_threads(threads)
    x_np, _ = make_blobs(n_points, n_features=6, centers=6, cluster_std=2.0, random_state=seed)
    kmeans = KMeans(6, n_init=10, random_state=seed).fit(x_np)
    model = neuralize(kmeans)
    x = model.transform(x_np)

    neon_all, neon_times = _median_time(lambda: model.explain(x, preprocess=False), repeats)
    explanation = model.explain(x, preprocess=False)
    assert explanation.target is not None
    assigned = explanation.target.numpy()

    import shap

    def evidence(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out: np.ndarray = model(torch.as_tensor(z, dtype=torch.float64)).numpy()
        return out

    rng = np.random.default_rng(seed)
    bg = x_np[rng.choice(n_points, background, replace=False)]
    explainer = shap.KernelExplainer(evidence, bg)
    chosen = rng.choice(n_points, n_shap, replace=False)
    shap_values = np.zeros((n_shap, 6))
    shap_times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer.shap_values(x_np[chosen[:1]], silent=True)  # warm-up
        for i, n in enumerate(chosen):
            start = time.perf_counter()
            values = explainer.shap_values(x_np[n : n + 1], silent=True)
            shap_times.append(time.perf_counter() - start)
            values = np.asarray(values)
            # shap returns (1, d, K) in recent versions, a list of K (1, d) arrays in old ones.
            per_class = values[0] if values.ndim == 3 else values[:, 0, :].T
            shap_values[i] = per_class[:, assigned[n]]
    shap_point = float(np.median(shap_times))
    neon_point = neon_all / n_points
    neon_rel = explanation.attribution.numpy()[chosen]

    per_point = [spearmanr(neon_rel[i], shap_values[i]).statistic for i in range(n_shap)]
    pooled = spearmanr(neon_rel.ravel(), shap_values.ravel()).statistic
    top_agree = float(np.mean(neon_rel.argmax(1) == shap_values.argmax(1)))
    rows = [
        "| method | points | median time (s) | per point (ms) |",
        "|---|---:|---:|---:|",
        f"| NEON (xaikit, one LRP pass) | {n_points} | {neon_all:.4f} | {1e3 * neon_point:.5f} |",
        f"| shap KernelExplainer ({background} background, exact 2^6 coalitions) | {n_shap} (one at a time) "
        f"| {shap_point * n_shap:.3f} | {1e3 * shap_point:.2f} |",
    ]
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (load average {load}), torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, shap {shap.__version__}.",
        "",
        *rows,
        "",
        f"- NEON for {n_points} points: median {neon_all:.3f} s over {repeats} repeats "
        f"(min {min(neon_times):.3f} s, max {max(neon_times):.3f} s).",
        f"- Speed-up per point: **{shap_point / neon_point:,.0f}x** (KernelExplainer median per point / NEON per point).",
        f"- Rank correlation NEON vs SHAP (Spearman over the 6 features): median {np.median(per_point):.3f}, "
        f"mean {np.mean(per_point):.3f} over {n_shap} points; pooled over all (point, feature) pairs {pooled:.3f}; "
        f"same top feature for {100 * top_agree:.0f}% of the points.",
        f"- Conservation: max |sum_i R_i - f_c(x)| = {float(explanation.delta.abs().max()):.2e} (NEON); "
        f"SHAP sums to f_c(x) - E_background[f_c].",
    ]
    return "\n".join(lines)


def main() -> None:
    """Command line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--shap-points", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--background", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    report = run(args.points, args.shap_points, args.repeats, args.background, args.seed, args.threads)
    print(report)
    if args.output is not None:
        args.output.write_text(report + "\n")


if __name__ == "__main__":
    main()
