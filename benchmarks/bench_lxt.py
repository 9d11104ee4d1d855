"""AttnLRP side by side with LXT (Achtibat et al., ICML 2024) on a Hugging Face Llama.

LXT explains a model by monkey-patching its ``transformers`` module (``modeling_llama``) for
good, so the two libraries cannot share a process: each case runs in a fresh subprocess on
the same seeded model and tokens, and the table reports each method's median time, its
median ratio to the plain gradient (w.r.t. the input embeddings) timed in the same process
(interleaved; for LXT, whose patch is for good, just before patching),
how far the resident set rises on the first full-size call (``peak_memory.py``; again in a
second run with the mmap threshold fixed, the live memory), and how far
the per-token relevance is from LXT's (largest difference over the largest |relevance|,
and one minus the smallest per-sequence Pearson correlation).

Model: ``LlamaForCausalLM`` from a small config (4 layers, d=256, 4 query and 2 key/value
heads, RoPE, RMS norm, gated SiLU MLP, vocabulary 512), random weights, float32, eval
mode, a batch of 8 sequences of 128 tokens; explained: the logit of the predicted next
token after the last position. Both attention implementations (``eager``, ``sdpa``).

LXT is installed with ``pip install --no-deps lxt`` (its other requirements are not needed
for the efficient rules); its package does not import here as a whole (see
:func:`patch_lxt`), so the worker applies LXT's own Llama patch map directly. Skipped with a
message when LXT is not installed.

Run::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_lxt.py [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from peak_memory import LIVE_MEMORY_ENV, peak_growth_mib

BATCH, LENGTH, VOCAB = 8, 128, 512
CASES = ("gradient", "xaikit attnlrp", "xaikit cp_lrp", "lxt attnlrp")


def build(attention: str) -> tuple[nn.Module, Tensor]:
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=LENGTH, attention_bias=False, mlp_bias=False,
        attn_implementation=attention,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    ids = torch.randint(0, VOCAB, (BATCH, LENGTH), generator=torch.Generator().manual_seed(1))
    return model, ids


def next_token(model: nn.Module, ids: Tensor) -> Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits[:, -1].argmax(-1)


def gradient_times_input(model: nn.Module, ids: Tensor, token: Tensor) -> Tensor:
    """Input x gradient at the embeddings, summed per token (what LXT's rules turn into AttnLRP)."""
    leaf = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    logits = model(inputs_embeds=leaf).logits[:, -1]
    (grad,) = torch.autograd.grad(logits.gather(1, token[:, None]).sum(), leaf)
    return (leaf.detach() * grad).sum(-1)


def patch_lxt() -> None:
    """Patch ``modeling_llama`` with LXT's own AttnLRP patch map for Llama (for good: a worker process).

    ``import lxt.efficient`` imports every family's patch, and two fail here (BERT's imports
    ``transformers.modeling_attn_mask_utils``, gone in transformers 5; ViT's imports
    torchvision), so the packages are registered without running their ``__init__`` and
    the Llama map is applied as ``lxt.efficient.monkey_patch`` does, its attention entry
    adapted to transformers 5's attention registry.
    """
    import importlib.util

    spec = importlib.util.find_spec("lxt")
    assert spec is not None and spec.origin is not None
    root = Path(spec.origin).parent
    for name, folder in (("lxt.efficient", "efficient"), ("lxt.efficient.models", "efficient/models")):
        package = types.ModuleType(name)
        package.__path__ = [str(root / folder)]
        sys.modules[name] = package
    from lxt.efficient.models import llama
    from lxt.efficient.patches import wrap_attention_forward
    from transformers.models.llama import modeling_llama

    for target, patch in llama.attnLRP.items():
        if target is modeling_llama:
            # LXT 2.1 replaces the AttentionInterface with a plain dict, which transformers 5
            # cannot use (no get_interface): wrap its entries in place with LXT's own wrapper
            modeling_llama.eager_attention_forward = wrap_attention_forward(modeling_llama.eager_attention_forward)
            interface = modeling_llama.ALL_ATTENTION_FUNCTIONS
            for key in list(interface.keys()):
                interface[key] = wrap_attention_forward(interface[key])
        elif not patch(target):
            raise RuntimeError(f"LXT could not patch {target}")


def runner(case: str, model: nn.Module, ids: Tensor, token: Tensor) -> Callable[[], Tensor]:
    if case in ("gradient", "lxt attnlrp"):
        return lambda: gradient_times_input(model, ids, token)
    import xaikit

    composite = case.split()[-1]
    return lambda: xaikit.explain(
        model, ids, token, method="lrp", composite=composite, output=xaikit.NextToken(-1)
    ).attribution


def _seconds(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def worker(case: str, attention: str, repeats: int, relevance_path: str) -> dict[str, object]:
    """With ``repeats = 0``: the peak memory of the first full-size call of ``case`` and its relevance.

    Otherwise the median time of ``case`` and its ratio to the plain gradient timed in this
    process: interleaved, except for LXT, whose patch changes the model's backward for good
    (there the gradient's repeats run just before the patch). Peak and times come from
    separate processes, as a full-size call leaves freed memory that the next one reuses.
    """
    model, ids = build(attention)
    token = next_token(model, ids)
    if repeats == 0:
        if case == "lxt attnlrp":
            patch_lxt()
        runner(case, model, ids[:1, :8], token[:1])()  # warm-up: kernels, thread pools
        relevance, peak = peak_growth_mib(runner(case, model, ids, token))
        np.save(relevance_path, relevance.detach().double().numpy())
        return {"peak_mib": peak}
    plain = runner("gradient", model, ids, token)
    plain()
    gradient_times = []
    if case == "lxt attnlrp":
        gradient_times = [_seconds(plain) for _ in range(repeats)]
        patch_lxt()
    run = runner(case, model, ids, token)
    run()
    times = []
    for _ in range(repeats):
        times.append(_seconds(run))
        if case != "lxt attnlrp":
            gradient_times.append(_seconds(plain))
    ratio = statistics.median(t / g for t, g in zip(times, gradient_times))
    return {"seconds": statistics.median(times), "ratio": ratio}


def agreement(relevance: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    gap = float(np.abs(relevance - reference).max() / np.abs(reference).max())
    correlation = min(float(np.corrcoef(a, b)[0, 1]) for a, b in zip(relevance, reference))
    return gap, correlation


def lxt_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("lxt") is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", nargs=3, metavar=("CASE", "ATTENTION", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.repeats, args.worker[2])))
        return
    if not lxt_installed():
        print("LXT is not installed (pip install --no-deps lxt); nothing to compare")
        return
    print(f"torch {torch.__version__}, {args.threads} threads, {args.repeats} repeats, batch {BATCH} x {LENGTH} tokens\n")
    print(
        "| attention | method | median s | time / gradient | peak growth MiB | live peak MiB (fixed mmap threshold) "
        "| max diff / max to LXT | 1 - min Pearson to LXT |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        for attention in ("eager", "sdpa"):
            results, relevance = {}, {}
            for case in CASES:
                path = str(Path(folder) / f"{attention}-{case.replace(' ', '_')}.npy")
                command = [sys.executable, __file__, "--worker", case, attention, path, "--threads", str(args.threads)]

                def run_worker(repeats: int, env: dict[str, str], command: list[str] = command) -> dict[str, float]:
                    out = subprocess.run(
                        [*command, "--repeats", str(repeats)], check=True, capture_output=True, text=True,
                        env={**os.environ, **env},
                    )
                    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

                results[case] = run_worker(args.repeats, {})
                results[case]["peak_mib"] = run_worker(0, {})["peak_mib"]
                results[case]["live_mib"] = run_worker(0, LIVE_MEMORY_ENV)["peak_mib"]
                relevance[case] = np.load(path)
            for case in CASES:
                r = results[case]
                gap, correlation = agreement(relevance[case], relevance["lxt attnlrp"])
                print(
                    f"| {attention} | {case} | {r['seconds']:.3f} | {r['ratio']:.2f} | "
                    f"{r['peak_mib']:.0f} | {r['live_mib']:.0f} | {gap:.1e} | {1 - correlation:.1e} |"
                )


if __name__ == "__main__":
    main()
