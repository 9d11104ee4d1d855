"""``xaikit.Explanation`` as a first-class result: selection, baselines, concatenation, files, plots."""

from __future__ import annotations

import ast
import io
import json
import os
import pickle
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

import xaikit
from xaikit.core import hooks
from xaikit.core.explanation import Explanation, is_per_sample
from xaikit.core.explanation_file import FORMAT_NAME, FORMAT_VERSION, ExplanationFileError
from xaikit.perturbation import Background

CORE = Path(xaikit.__file__).parent / "core"


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double().eval()


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return mlp()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.linspace(-1.0, 1.0, 12, dtype=torch.float64).reshape(3, 4) + torch.tensor([[0.3], [-0.2], [0.5]])


@pytest.fixture(scope="module")
def ig(model: nn.Module, x: torch.Tensor) -> Explanation:
    return xaikit.explain(model, x, method="integrated_gradients", steps=8, progress=False)


def bits(t: torch.Tensor) -> bytes:
    """The raw bytes of a tensor (compares NaN payloads and signed zeros too)."""
    data = t.detach().cpu().contiguous()
    if data.dtype == torch.bfloat16:
        data = data.view(torch.int16)
    return data.numpy().tobytes()


def assert_identical(a: torch.Tensor | None, b: torch.Tensor | None) -> None:
    if a is None or b is None:
        assert a is None and b is None
        return
    assert a.dtype == b.dtype and a.shape == b.shape
    assert bits(a) == bits(b)


def assert_values_identical(a: Any, b: Any) -> None:
    """Options or extras equal, with their types, tensors and arrays bit for bit."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, torch.Tensor):
        assert_identical(a, b)
    elif isinstance(a, np.ndarray | np.generic):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b)
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            assert_values_identical(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            assert_values_identical(u, v)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def assert_same_explanation(a: Explanation, b: Explanation) -> None:
    for name in ("attribution", "output", "target", "inputs", "baseline"):
        assert_identical(getattr(a, name), getattr(b, name))
    assert a.method == b.method
    assert a.per_sample_extras == b.per_sample_extras
    assert_values_identical(a.options, b.options)
    assert_values_identical(a.extras, b.extras)
    assert (None if a.feature_names is None else list(a.feature_names)) == (
        None if b.feature_names is None else list(b.feature_names)
    )


def toy(n: int = 3, **kwargs: Any) -> Explanation:
    """A hand-made explanation of ``n`` samples with per-sample and batch-wide extras."""
    defaults: dict[str, Any] = {
        "attribution": torch.arange(n * 2, dtype=torch.float32).reshape(n, 2),
        "output": torch.arange(n, dtype=torch.float32) + 10,
        "target": torch.arange(n) % 2,
        "method": "toy",
        "options": {"steps": 4},
        "inputs": -torch.arange(n * 2, dtype=torch.float32).reshape(n, 2),
        "extras": {"gap": torch.arange(n, dtype=torch.float64) / 10, "rule": "left", "table": torch.ones(n + 1)},
        "baseline": torch.arange(n, dtype=torch.float32) - 5,
    }
    defaults.update(kwargs)
    return Explanation(**defaults)


# --- selecting samples -------------------------------------------------------------------


def test_selecting_one_sample_slices_every_per_sample_field_and_extra(ig: Explanation) -> None:
    one = ig[1]
    assert len(one) == 1
    for name in ("attribution", "output", "target", "inputs", "baseline"):
        assert_identical(getattr(one, name), getattr(ig, name)[1:2])
    assert one.extras["completeness_gap"].shape == (1,)
    assert_identical(one.extras["completeness_gap"], ig.extras["completeness_gap"][1:2])
    assert_identical(one.extras["steps"], ig.extras["steps"][1:2])
    assert one.extras["quadrature"] == ig.extras["quadrature"] == "gauss_legendre"
    assert one.per_sample_extras == ig.per_sample_extras
    assert "quadrature" not in ig.per_sample_extras and "completeness_gap" in ig.per_sample_extras
    torch.testing.assert_close(one.delta, one.extras["completeness_gap"], rtol=0, atol=0)


def test_negative_and_out_of_range_indices(ig: Explanation) -> None:
    assert_identical(ig[-1].attribution, ig.attribution[2:3])
    assert_identical(ig[-3].output, ig.output[0:1])
    assert_identical(ig[np.int64(2)].output, ig.output[2:3])
    assert_identical(ig[torch.tensor(1)].output, ig.output[1:2])
    for bad in (3, 5, -4):
        with pytest.raises(IndexError, match=f"sample index {bad} is out of range"):
            ig[bad]
    with pytest.raises(IndexError):
        ig[[0, 3]]
    with pytest.raises(IndexError, match="boolean mask of 2 entries"):
        ig[torch.tensor([True, False])]
    with pytest.raises(TypeError):
        ig[torch.tensor([0.0, 1.0])]
    with pytest.raises(TypeError):
        ig["0"]  # type: ignore[index]


def test_iteration_yields_one_sample_explanations_and_ends(ig: Explanation) -> None:
    samples = list(ig)
    assert len(samples) == 3
    for i, sample in enumerate(samples):
        assert len(sample) == 1
        assert_identical(sample.attribution, ig.attribution[i : i + 1])
        assert_identical(sample.extras["f_input"], ig.extras["f_input"][i : i + 1])
    assert list(ig[:0]) == []


@pytest.mark.parametrize(
    ("index", "expected"),
    [([2, 0], [2, 0]), (torch.tensor([2, 0]), [2, 0]), (np.array([2, 0]), [2, 0]), ([-1, 0], [2, 0]),
     (torch.tensor([False, True, True]), [1, 2]), ([True, False, True], [0, 2]),
     (np.array([True, True, False]), [0, 1]), (slice(1, None), [1, 2]), (slice(None, None, 2), [0, 2]),
     ([], [])],
)
def test_integer_list_tensor_and_mask_indexing(ig: Explanation, index: Any, expected: list[int]) -> None:
    picked = ig[index]
    assert len(picked) == len(expected)
    for name in ("attribution", "output", "target", "inputs", "baseline"):
        assert_identical(getattr(picked, name), getattr(ig, name)[expected])
    for key in ig.per_sample_extras:
        assert_identical(picked.extras[key], ig.extras[key][expected])


def test_repr_is_short_and_names_shapes_not_values() -> None:
    e = toy(200, attribution=torch.rand(200, 3, 32, 32), inputs=torch.rand(200, 3, 32, 32))
    text = repr(e)
    assert len(text) < 600
    assert "method='toy'" in text and "samples=200" in text
    assert "attribution=tensor(float32[200, 3, 32, 32])" in text
    assert "gap*=tensor(float64[200])" in text  # * marks per-sample extras
    assert "rule='left'" in text
    output, gap = e.output.double(), e.delta.double().abs().max()
    assert f"output in [{float(output.min()):.3g}, {float(output.max()):.3g}]" in text
    assert f"max |delta| {float(gap):.3g}" in text
    assert "tensor([" not in text  # summaries, never tensor values


def test_notebook_display_holds_input_and_heatmap_images() -> None:
    e = toy(6, attribution=torch.rand(6, 1, 8, 8), inputs=torch.rand(6, 1, 8, 8))
    page = e._repr_html_()
    assert page.count('<img src="data:image/png;base64,') == 4 and "2 more samples" in page
    import base64
    import io

    from PIL import Image

    first = page.split('base64,', 1)[1].split('"', 1)[0]
    picture = Image.open(io.BytesIO(base64.b64decode(first)))
    assert picture.width > 1.5 * picture.height  # the input beside its heatmap
    assert "&#x27;toy&#x27;" in page or "'toy'" in page


def test_per_sample_rule_and_explicit_declaration() -> None:
    e = toy(3)
    assert e.per_sample_extras == {"gap"}  # table has 4 rows: batch-wide
    assert is_per_sample(torch.zeros(3, 2), 3) and is_per_sample(np.zeros(3), 3)
    assert not is_per_sample(torch.zeros(()), 3) and not is_per_sample([1, 2, 3], 3)
    assert_identical(e[0].extras["table"], e.extras["table"])
    declared = toy(3, extras={"names": ["a", "b", "c"], "square": torch.eye(3), "ids": ("x", "y", "z")},
                   per_sample_extras={"names", "ids"})
    picked = declared[[2, 0]]
    assert picked.extras["names"] == ["c", "a"] and picked.extras["ids"] == ("z", "x")
    assert_identical(picked.extras["square"], torch.eye(3))  # declared batch-wide despite 3 rows
    assert declared[1:].extras["names"] == ["b", "c"]
    with pytest.raises(ValueError, match="do not exist: nope"):
        toy(3, per_sample_extras={"nope"})
    with pytest.raises(ValueError, match=r"must have 3 rows.*table"):
        toy(3, per_sample_extras={"table"})
    with pytest.raises(ValueError, match="output must be a tensor with 3 rows"):
        toy(3, output=torch.zeros(2))
    with pytest.raises(ValueError, match="baseline must be a tensor with 3 rows"):
        toy(3, baseline=torch.zeros(4))


def test_occlusion_coverage_stays_batch_wide_when_its_length_equals_the_batch() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).eval()
    images = torch.rand(3, 3, 4, 4)
    e = xaikit.explain(model, images, 0, method="occlusion", patch=2, progress=False)
    assert e.extras["coverage"].shape == (3, 4, 4)  # one image's shape, first dim == N by chance
    assert "coverage" not in e.per_sample_extras and "patches" in e.per_sample_extras
    assert e[0].extras["coverage"].shape == (3, 4, 4)
    assert e[0].extras["patches"].shape == (1,)


def test_shapley_group_names_stay_batch_wide_and_group_values_are_sliced() -> None:
    model = nn.Linear(3, 2).double().eval()
    x = torch.rand(3, 3, dtype=torch.float64)
    e = xaikit.explain(model, x, 0, method="shapley", groups={"a": [0, 1], "b": [2]}, progress=False)
    assert e.extras["group_names"] == ["a", "b"]
    assert e[1].extras["group_names"] == ["a", "b"]
    assert_identical(e[1].extras["group_values"], e.extras["group_values"][1:2])


# --- baseline ------------------------------------------------------------------------------


def selected(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(inputs).gather(1, target[:, None])[:, 0]


REFERENCE = torch.tensor([0.2, -0.1, 0.4, 0.0], dtype=torch.float64)
BACKGROUND = torch.linspace(-0.5, 0.5, 20, dtype=torch.float64).reshape(5, 4)


@pytest.mark.parametrize(
    ("method", "options", "reference"),
    [
        ("integrated_gradients", {"baseline": REFERENCE, "steps": 8, "progress": False}, "point"),
        ("deeplift", {"baseline": REFERENCE}, "point"),
        ("deepshap", {"baselines": BACKGROUND, "progress": False}, "background"),
        ("expected_gradients", {"baselines": BACKGROUND, "samples": 4, "progress": False}, "background"),
        ("kernel_shap", {"baseline": REFERENCE, "samples": 8, "progress": False}, "point"),
        ("kernel_shap", {"baseline": Background(BACKGROUND), "samples": 8, "progress": False}, "background"),
        ("shapley", {"baseline": REFERENCE, "progress": False}, "point"),
        ("shapley", {"baseline": Background(BACKGROUND), "progress": False}, "background"),
        ("shapley_sampling", {"baseline": REFERENCE, "samples": 4, "progress": False}, "point"),
        ("lime", {"baseline": REFERENCE, "samples": 16, "progress": False}, "point"),
        ("occlusion", {"baseline": REFERENCE, "progress": False}, "point"),
    ],
)
def test_baseline_is_the_explained_value_at_the_reference(
    model: nn.Module, x: torch.Tensor, method: str, options: dict[str, Any], reference: str
) -> None:
    e = xaikit.explain(model, x, method=method, **options)
    assert e.target is not None and e.baseline is not None
    assert e.baseline.shape == (3,) and e.baseline.dtype == torch.float64
    if reference == "point":
        expected = selected(model, REFERENCE.expand(3, 4), e.target)
    else:  # the mean over the background rows
        expected = torch.stack([selected(model, BACKGROUND, t.repeat(5)).mean() for t in e.target])
    torch.testing.assert_close(e.baseline, expected, rtol=1e-12, atol=1e-12)
    # like shap's base_values: baseline + output is the value at the input, f(x)
    torch.testing.assert_close(e.baseline + e.output, selected(model, x, e.target), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(e.baseline + e.relevance_sum + e.delta, selected(model, x, e.target),
                               rtol=1e-12, atol=1e-12)
    assert_identical(e[2].baseline, e.baseline[2:3])


def test_smoothed_methods_average_the_baseline(model: nn.Module, x: torch.Tensor) -> None:
    smooth = xaikit.explain(model, x, method="smooth_integrated_gradients", samples=3, steps=3, progress=False)
    assert smooth.baseline is not None
    assert_identical(smooth.baseline, smooth.extras["f_starts"])
    torch.testing.assert_close(smooth.baseline + smooth.output, smooth.extras["f_input"], rtol=1e-12, atol=1e-12)
    tunnel = xaikit.explain(model, x, method="noise_tunnel", base_method="integrated_gradients",
                            base_options={"baseline": REFERENCE, "steps": 4}, samples=3, progress=False)
    assert tunnel.baseline is not None and tunnel.target is not None
    torch.testing.assert_close(tunnel.baseline, selected(model, REFERENCE.expand(3, 4), tunnel.target),
                               rtol=1e-12, atol=1e-12)
    assert xaikit.explain(model, x, method="noise_tunnel", samples=2, progress=False).baseline is None


@pytest.mark.parametrize("method", ["lrp", "saliency", "gradient_x_input"])
def test_methods_without_a_reference_have_no_baseline(model: nn.Module, x: torch.Tensor, method: str) -> None:
    e = xaikit.explain(model, x, method=method)
    assert e.baseline is None
    assert "baseline" not in e.to_numpy()


# --- concatenation --------------------------------------------------------------------------


def test_concat_of_slices_is_the_whole(ig: Explanation) -> None:
    whole = Explanation.concat([ig[:1], ig[1:]])
    assert_same_explanation(whole, ig)
    assert_same_explanation(Explanation.concat(list(ig)), ig)
    assert_same_explanation(Explanation.concat([ig]), ig)
    declared = toy(3, extras={"names": ["a", "b", "c"], "square": torch.eye(3)}, per_sample_extras={"names"})
    joined = Explanation.concat([declared[[2]], declared[:2]])
    assert joined.extras["names"] == ["c", "a", "b"]
    assert_identical(joined.attribution, declared.attribution[[2, 0, 1]])
    assert_identical(joined.extras["square"], torch.eye(3))


def test_concat_of_batches_matches_one_call(model: nn.Module, x: torch.Tensor) -> None:
    parts = [xaikit.explain(model, x[s], method="deeplift") for s in (slice(0, 2), slice(2, 3))]
    whole = xaikit.explain(model, x, method="deeplift")
    joined = Explanation.concat(parts)
    assert len(joined) == 3 and joined.per_sample_extras == whole.per_sample_extras
    for name in ("attribution", "output", "target", "inputs", "baseline"):
        torch.testing.assert_close(getattr(joined, name), getattr(whole, name), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(joined.extras["completeness_gap"], whole.extras["completeness_gap"],
                               rtol=0, atol=1e-12)


def test_concat_names_what_differs(model: nn.Module, x: torch.Tensor, ig: Explanation) -> None:
    with pytest.raises(ValueError, match="at least one"):
        Explanation.concat([])
    with pytest.raises(TypeError, match="item 1 is a Tensor"):
        Explanation.concat([ig, ig.attribution])  # type: ignore[list-item]
    lrp = xaikit.explain(model, x, method="lrp")
    with pytest.raises(ValueError, match=r"method 'lrp'.*'integrated_gradients'"):
        Explanation.concat([ig, lrp])
    finer = xaikit.explain(model, x, method="integrated_gradients", steps=16, progress=False)
    with pytest.raises(ValueError, match=r"option steps=16.*steps=8"):
        Explanation.concat([ig, finer])
    with pytest.raises(ValueError, match="explanation 0 has a target, explanation 1 none"):
        Explanation.concat([toy(2), toy(2, target=None)])
    with pytest.raises(ValueError, match="attribution"):
        Explanation.concat([toy(2), toy(2, attribution=torch.zeros(2, 2, dtype=torch.float64))])
    with pytest.raises(ValueError, match=r"other extras.*extra_key"):
        Explanation.concat([toy(2), toy(2, extras={**toy(2).extras, "extra_key": 1})])
    with pytest.raises(ValueError, match="feature names"):
        Explanation.concat([toy(2, feature_names=["a", "b"]), toy(2, feature_names=["a", "c"])])
    other_rule = toy(2, extras={**toy(2).extras, "rule": "right"})
    with pytest.raises(ValueError, match="batch-wide extra 'rule' differs"):
        Explanation.concat([toy(2), other_rule])
    dropped = Explanation.concat([toy(2), other_rule], conflicting_extras="drop")
    assert "rule" not in dropped.extras and len(dropped) == 4
    assert_identical(dropped.extras["gap"], torch.cat([toy(2).extras["gap"]] * 2))
    # a batch-wide tensor whose length equals one batch's size makes the rule disagree
    with pytest.raises(ValueError, match="which extras are per sample: table"):
        Explanation.concat([toy(3), toy(2, extras={**toy(2).extras, "table": torch.ones(2)})])


# --- files ----------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=4), st.integers(-5, 5)), inner, max_size=3),
    ),
    max_leaves=8,
)
float_dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def explanations(draw: st.DrawFn) -> Explanation:
    n = draw(st.integers(0, 4))
    shape = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    dtype = draw(float_dtypes)

    def tensor(lead: tuple[int, ...], of: Any = dtype) -> torch.Tensor:
        elements = st.floats(width=32 if of == np.float32 else 64, allow_nan=True, allow_infinity=True)
        return torch.from_numpy(draw(hnp.arrays(of, lead, elements=elements)))

    maybe = draw(st.fixed_dictionaries({}, optional={
        "target": st.just(torch.from_numpy(draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, 9))))),
        "inputs": st.just(tensor((n, *shape))),
        "baseline": st.just(tensor((n,))),
        "feature_names": st.lists(st.text(max_size=5), min_size=1, max_size=3),
    }))
    extras: dict[str, Any] = {"per_sample": tensor((n, 2), draw(float_dtypes)), "batch_wide": tensor((n + 1,))}
    extras.update(draw(st.dictionaries(st.text(max_size=6).map("json_".__add__), json_values, max_size=3)))
    extras["array"] = draw(hnp.arrays(np.int32, (2,)))
    extras["scalar"] = np.float32(draw(st.floats(width=32)))
    options = draw(st.dictionaries(st.text(max_size=6).map("json_".__add__), json_values, max_size=3))
    options["reference"] = tensor(tuple(shape))
    return Explanation(
        attribution=tensor((n, *shape)),
        output=tensor((n,)),
        method=draw(st.text(min_size=1, max_size=10)),
        options=options,
        extras=extras,
        **{"target": None, **maybe},
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(e=explanations(), compress=st.booleans())
def test_save_load_round_trip_is_bit_identical(tmp_path: Path, e: Explanation, compress: bool) -> None:
    path = tmp_path / "e.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing here needs a repr
        assert e.save(path, compress=compress) == path
    loaded = Explanation.load(path)
    assert_same_explanation(loaded, e)
    assert "per_sample" in loaded.per_sample_extras and "batch_wide" not in loaded.per_sample_extras


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_round_trip_keeps_every_float_dtype(tmp_path: Path, dtype: torch.dtype) -> None:
    values = torch.tensor([[0.1, -0.0, float("nan"), float("inf")], [1e-3, -2.5, 3.0, -float("inf")]])
    e = toy(2, attribution=values.to(dtype), inputs=None, target=None)
    loaded = Explanation.load(e.save(tmp_path / "e.npz"))
    assert_same_explanation(loaded, e)
    assert loaded.target is None and loaded.inputs is None


def test_round_trip_of_real_explanations(tmp_path: Path, model: nn.Module, x: torch.Tensor, ig: Explanation) -> None:
    shap = xaikit.explain(model, x, method="shapley_sampling", samples=4, groups={"a": [0, 1], "b": [2, 3]},
                          feature_names=["w", "h", "d", "t"], progress=False)
    for e in (ig, shap, xaikit.explain(model, x, method="lrp")):
        loaded = Explanation.load(e.save(tmp_path / f"{e.method}.npz"))
        assert_same_explanation(loaded, e)
        assert_same_explanation(loaded[-1], e[-1])


def test_file_is_an_npz_with_json_metadata(tmp_path: Path, ig: Explanation) -> None:
    path = ig.save(tmp_path / "ig.explanation")  # exactly the name given
    assert path.name == "ig.explanation" and sorted(p.name for p in tmp_path.iterdir()) == ["ig.explanation"]
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(archive["metadata"].tobytes().decode("utf-8"))
        assert {"attribution", "output", "target", "inputs", "baseline"} <= set(archive.files)
        np.testing.assert_array_equal(archive["attribution"], ig.attribution.numpy())
    assert meta["format"] == FORMAT_NAME and meta["version"] == FORMAT_VERSION == 1
    assert meta["method"] == "integrated_gradients" and meta["samples"] == 3
    assert meta["fields"]["attribution"]["dtype"] == "float64" and meta["fields"]["attribution"]["device"] == "cpu"
    assert meta["options"]["steps"] == 8 and meta["extras"]["quadrature"] == "gauss_legendre"
    assert meta["extras"]["steps"]["type"] == "tensor" and "steps" in meta["per_sample_extras"]


def test_values_without_a_file_form_become_reprs_with_a_warning_or_are_refused(tmp_path: Path) -> None:
    e = toy(2, options={"seed": torch.Generator(), "steps": 4}, extras={"hook": print, "ok": [1, 2.5]})
    with pytest.raises(ValueError, match=r"cannot save options\['seed'\] \(Generator\)"):
        e.save(tmp_path / "strict.npz", strict=True)
    assert not list(tmp_path.iterdir())  # nothing left behind
    with pytest.warns(UserWarning, match=r"options\['seed'\], extras\['hook'\] as repr strings"):
        e.save(tmp_path / "e.npz")
    loaded = Explanation.load(tmp_path / "e.npz")
    assert loaded.options["seed"].startswith("<torch._C.Generator") and loaded.options["steps"] == 4
    assert loaded.extras["hook"] == repr(print) and loaded.extras["ok"] == [1, 2.5]


_UNPICKLED: list[str] = []


def _record_unpickling() -> str:
    _UNPICKLED.append("ran")
    return "payload"


class Payload:
    """Runs ``_record_unpickling`` if ever unpickled."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (_record_unpickling, ())


def rewrite(source: Path, target: Path, replace: dict[str, Any], allow_pickle: bool = True) -> None:
    """Copy an explanation file, replacing (or adding) members with arrays written by NumPy."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            if info.filename.removesuffix(".npy") not in replace:
                new.writestr(info, old.read(info))
        for key, array in replace.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=allow_pickle)
            new.writestr(f"{key}.npy", buffer.getvalue())


def test_pickled_object_arrays_are_refused_without_running_them(tmp_path: Path, ig: Explanation) -> None:
    good = ig.save(tmp_path / "good.npz")
    objects = np.empty(3, dtype=object)
    objects[:] = [Payload(), Payload(), Payload()]
    crafted = tmp_path / "crafted.npz"
    rewrite(good, crafted, {"output": objects})
    with np.load(crafted, allow_pickle=False) as archive, pytest.raises(ValueError, match="allow_pickle=False"):
        archive["output"]  # numpy itself refuses; load turns that into a clear error
    with pytest.raises(ExplanationFileError, match=r"'output' .*pickled Python objects; refusing"):
        Explanation.load(crafted)
    meta = tmp_path / "meta.npz"
    rewrite(good, meta, {"metadata": np.array([{"format": FORMAT_NAME}], dtype=object)})
    with pytest.raises(ExplanationFileError, match="metadata entry holds pickled"):
        Explanation.load(meta)
    plain = tmp_path / "plain.npz"
    plain.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ExplanationFileError, match="pickled data"):
        Explanation.load(plain)
    single = tmp_path / "single.npz"
    with single.open("wb") as stream:
        np.save(stream, objects, allow_pickle=True)
    with pytest.raises(ExplanationFileError, match="pickled data"):
        Explanation.load(single)
    assert _UNPICKLED == []  # no payload ran
    assert isinstance(ExplanationFileError("x"), ValueError)


def test_malformed_files_are_refused(tmp_path: Path, ig: Explanation) -> None:
    good = ig.save(tmp_path / "good.npz")
    with np.load(good, allow_pickle=False) as archive:
        meta = json.loads(archive["metadata"].tobytes().decode("utf-8"))

    def with_metadata(name: str, record: Any, **extra: Any) -> Path:
        path = tmp_path / name
        rewrite(good, path, {"metadata": np.frombuffer(json.dumps(record).encode(), dtype=np.uint8), **extra},
                allow_pickle=False)
        return path

    with pytest.raises(ExplanationFileError, match="version 2 is not supported"):
        Explanation.load(with_metadata("v2.npz", {**meta, "version": 2}))
    with pytest.raises(ExplanationFileError, match="not an xaikit explanation file"):
        Explanation.load(with_metadata("other.npz", {**meta, "format": "something"}))
    with pytest.raises(ExplanationFileError, match="does not describe: stowaway"):
        Explanation.load(with_metadata("extra.npz", meta, stowaway=np.zeros(2)))
    with pytest.raises(ExplanationFileError, match="shape"):
        Explanation.load(with_metadata("shape.npz", meta, output=np.zeros(2)))
    with pytest.raises(ExplanationFileError, match="stored as <f4"):
        Explanation.load(with_metadata("dtype.npz", meta, output=np.zeros(3, dtype=np.float32)))
    no_meta = tmp_path / "no-meta.npz"
    np.savez(no_meta, attribution=np.zeros(2))
    with pytest.raises(ExplanationFileError, match="no metadata"):
        Explanation.load(no_meta)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ExplanationFileError):
        Explanation.load(junk)
    with pytest.raises(FileNotFoundError):
        Explanation.load(tmp_path / "missing.npz")


# --- NumPy ----------------------------------------------------------------------------------


def test_to_numpy_gives_the_per_sample_fields(ig: Explanation) -> None:
    arrays = ig.to_numpy()
    assert list(arrays) == ["attribution", "output", "target", "inputs", "baseline"]
    for name, array in arrays.items():
        assert isinstance(array, np.ndarray)
        assert_identical(torch.from_numpy(array), getattr(ig, name))
    arrays["attribution"][0, 0] = 123.0  # a copy: the explanation is unchanged
    assert float(ig.attribution[0, 0]) != 123.0
    assert set(toy(2, target=None, inputs=None, baseline=None).to_numpy()) == {"attribution", "output"}
    half = toy(2, attribution=torch.ones(2, 2, dtype=torch.bfloat16)).to_numpy()
    assert half["attribution"].dtype == np.float32
    np.testing.assert_array_equal(ig.numpy(), ig.attribution.numpy())


# --- plotting without core importing plot ----------------------------------------------------


def test_core_never_imports_the_plotting_layer() -> None:
    offenders = []
    for source in sorted(CORE.glob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value] if node.value.startswith("xaikit.plot") else []
            offenders += [f"{source.name}: {n}" for n in names if n == "xaikit.plot" or n.startswith("xaikit.plot.")]
    assert offenders == []


def test_plot_works_after_import_xaikit_alone() -> None:
    script = (
        "import sys, torch, xaikit\n"
        "from torch import nn\n"
        "assert 'xaikit.plot' not in sys.modules and 'matplotlib' not in sys.modules\n"
        "e = xaikit.explain(nn.Linear(3, 2).eval(), torch.rand(2, 3), method='saliency')\n"
        "figure = e.plot(1)\n"
        "print(type(figure).__name__, 'xaikit.plot' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Figure", "True"]


def test_plot_goes_through_the_registered_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(hooks, "_PLOTTER", None)
    monkeypatch.setattr(hooks, "ENTRY_POINT_GROUP", "xaikit.no-such-group")
    with pytest.raises(RuntimeError, match="no plotting backend"):
        toy(2).plot()
    assert hooks.register_plotter(lambda e, i, **kw: calls.append((e, i, kw)) or "figure") is None
    e = toy(2)
    assert e.plot(1, clip_percentile=99) == "figure"
    assert calls == [(e, 1, {"clip_percentile": 99})]
    kept = hooks.register_plotter(lambda *a, **k: "other", replace=False)
    assert kept is not None and e.plot() == "figure"  # replace=False keeps the registered one
    with pytest.raises(TypeError):
        hooks.register_plotter("not callable")  # type: ignore[arg-type]


def test_without_a_registered_plotter_the_entry_point_loads_xaikit_plot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks, "_PLOTTER", None)
    import xaikit.plot

    assert hooks.get_plotter() is xaikit.plot.plot_explanation


def test_importing_xaikit_plot_registers_plot_explanation() -> None:
    import xaikit.plot

    assert hooks.get_plotter() is xaikit.plot.plot_explanation
