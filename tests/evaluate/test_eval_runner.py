"""The one-call runner: tidy table, raw curves, all input kinds, agreement with the metric functions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from _models import gradient_x_input

import xaikit
from xaikit.evaluate import (
    METRICS,
    EvaluationResult,
    FlippingResult,
    RandomizationResult,
    evaluate,
    gini,
    method_specs,
    pixel_flipping,
)

CASES = {
    "tabular": (lambda: xaikit.models.MLP(6, (16,), 3), (6,)),
    "series": (lambda: xaikit.models.CNN1d(2, 3, length=16), (2, 16)),
    "image": (lambda: xaikit.models.SmallCNN(2, 3, input_size=8), (2, 8, 8)),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_every_metric_on_every_input_kind(kind: str) -> None:
    factory, shape = CASES[kind]
    torch.manual_seed(0)
    model = factory().eval()
    x = torch.randn(4, *shape, generator=torch.Generator().manual_seed(1))
    masks = torch.zeros(4, *shape, dtype=torch.bool)
    masks.view(4, -1)[:, :5] = True
    metrics = list(METRICS)
    options = {
        "pixel_flipping": {"step": 3},
        "region_perturbation": {"step": 2},
        "sensitivity_n": {"n": [1, 4], "n_subsets": 8},
        "faithfulness_correlation": {"n_subsets": 8},
        "continuity": {"n_samples": 2},
        "runtime": {"repeats": 1},
    }
    result = evaluate(
        model, x, None, {"lrp-eps": ("lrp", {"composite": "epsilon"}), "gxi": gradient_x_input},
        metrics, masks=masks, options=options, progress=False,
    )
    assert isinstance(result, EvaluationResult)
    table = result.table
    assert list(table.columns) == ["method", "metric", "score", "detail", "sample", "value"]
    assert set(table["method"]) == {"lrp-eps", "gxi"} and set(table["metric"]) == set(metrics)
    assert str(table["sample"].dtype) == "Int64"
    per_sample = table[table["sample"].notna()]
    assert set(per_sample["sample"].astype(int)) == set(range(4))
    assert np.isfinite(table[table["metric"].isin(["pixel_flipping", "complexity", "localization"])]["value"]).all()
    summary = result.summary()
    assert {"mean", "std", "count"} <= set(summary.columns)
    wide = result.pivot()
    assert list(wide.columns) == ["lrp-eps", "gxi"]  # in the order given
    assert isinstance(result.curves[("gxi", "pixel_flipping")]["morf"], FlippingResult)
    assert isinstance(result.curves[("gxi", "randomization")]["randomization"], RandomizationResult)
    assert result.attributions["gxi"].shape == x.shape


def test_table_agrees_with_the_metric_functions_and_is_deterministic() -> None:
    torch.manual_seed(0)
    model = xaikit.models.SmallCNN(1, 3, input_size=8).eval()
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 1, 2, 0, 1])
    run = {"methods": {"gxi": gradient_x_input}, "metrics": ["pixel_flipping", "complexity"], "seed": 3}
    result = evaluate(model, x, y, **run)
    attribution = gradient_x_input(model, x, xaikit.ClassTarget(y))
    morf = pixel_flipping(model, x, attribution, y)
    rows = result.table.query("score == 'aopc_morf'").sort_values("sample")
    np.testing.assert_allclose(rows["value"], morf.aopc, rtol=1e-6)
    np.testing.assert_allclose(result.curves[("gxi", "pixel_flipping")]["morf"].curves, morf.curves)
    np.testing.assert_allclose(result.table.query("score == 'gini'")["value"], gini(attribution), rtol=1e-6)
    random = pixel_flipping(model, x, None, y, order="random", seed=3)
    np.testing.assert_allclose(result.curves[("gxi", "pixel_flipping")]["random"].curves, random.curves)
    pd.testing.assert_frame_equal(result.table, evaluate(model, x, y, **run).table)


def test_method_specs_forms() -> None:
    specs = method_specs(["lrp", gradient_x_input])
    assert [s.label for s in specs] == ["lrp", "gradient_x_input"]
    specs = method_specs({"a": ("lrp", {"composite": "zplus"}), "b": "lrp"})
    assert specs[0].options == {"composite": "zplus"} and specs[1].method == "lrp"
    assert method_specs("lrp")[0].label == "lrp"
    with pytest.raises(ValueError, match="more than once"):
        method_specs(["lrp", "lrp"])
    with pytest.raises(TypeError, match="use a mapping"):
        method_specs([("lrp", {"composite": "zplus"})])  # type: ignore[list-item]


def test_runner_errors() -> None:
    model = xaikit.models.MLP(4, (8,), 2).eval()
    x = torch.randn(3, 4)
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(model, x, methods=["lrp"], metrics=["beauty"])
    with pytest.raises(ValueError, match="needs ground-truth masks"):
        evaluate(model, x, methods=["lrp"], metrics=["localization"])
    with pytest.raises(ValueError, match="not run"):
        evaluate(model, x, methods=["lrp"], metrics=["complexity"], options={"pixel_flipping": {"step": 2}})
    with pytest.raises(ValueError, match="unknown explanation method"):
        evaluate(model, x, methods=["no_such_method"], metrics=["complexity"])
