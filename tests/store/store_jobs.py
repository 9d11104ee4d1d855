"""The explanation job the store tests run, in the test process and as a subprocess.

``python store_jobs.py STORE`` explains :func:`job_data` with :func:`job_model` into
``STORE`` (the resumability test kills that process mid-run).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

import xaikit
from xaikit.store import ExplanationStore, explain_dataset

SAMPLES, FEATURES, CLASSES, CHUNK = 610, 12, 3, 20  # the last chunk holds 10


def job_model() -> torch.nn.Module:
    generator = torch.Generator().manual_seed(7)
    model = xaikit.models.MLP(FEATURES, (24, 24), CLASSES).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return model


def job_data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(11)
    inputs = torch.randn(SAMPLES, FEATURES, generator=generator)
    labels = torch.randint(0, CLASSES, (SAMPLES,), generator=generator)
    return inputs, labels


#: The methods: LRP, integrated gradients (slow enough to be killed mid-run), SmoothGrad (seeded).
def job_methods() -> dict[str, Any]:
    return {
        "lrp": xaikit.make_method("lrp", composite="epsilon"),
        "ig": xaikit.make_method("integrated_gradients", steps=400),
        "smoothgrad": xaikit.make_method("smoothgrad", samples=8, seed=3),
    }


def run_job(store: str | Path, **kwargs: Any) -> ExplanationStore:
    inputs, labels = job_data()
    return explain_dataset(
        job_model(), inputs, job_methods(), store=store, labels=labels, chunk_size=CHUNK, progress=False, **kwargs
    )


if __name__ == "__main__":
    torch.set_num_threads(1)
    run_job(sys.argv[1])
