"""One option contract: unknown options list the valid ones, old names warn for one release."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import xaikit
from xaikit.evaluate import evaluate, pixel_flipping
from xaikit.utils.options import OptionError, accepts_old_names, check_options


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).eval()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, x: xaikit.explain(m, x, method="lrp", compsite="epsilon"), r"method 'lrp' got an unknown option 'compsite' \(did you mean 'composite'\?\)"),
        (lambda m, x: xaikit.explain(m, x, method="lrp", composite="epsilon", composite_options={"epsilom": 1.0}), r"composite 'epsilon' got an unknown option 'epsilom'.*epsilon, relative"),
        (lambda m, x: evaluate(m, x, methods=["saliency"], metrics=["pixel_flipping"], options={"pixel_flipping": {"stepp": 2}}), r"metric 'pixel_flipping' got an unknown option 'stepp'"),
        (lambda m, x: evaluate(m, x, methods=["saliency"], metrics=["complexity"], options={"complexity": {"qualiti": 50}}), r"metric 'complexity' got an unknown option 'qualiti' \(did you mean 'quality'\?\)"),
    ],
)
def test_unknown_options_are_refused_the_same_way_everywhere(call: object, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        call(_model(), torch.rand(3, 4))  # type: ignore[operator]


def test_option_error_is_both_a_type_and_a_value_error() -> None:
    with pytest.raises(TypeError):
        check_options("thing", {"b": 1}, ["a"])
    with pytest.raises(ValueError):
        check_options("thing", {"b": 1}, ["a"])


@pytest.mark.parametrize(
    ("method", "old", "new"),
    [("integrated_gradients", {"rule": "trapezoid", "steps": 4}, {"quadrature": "trapezoid", "steps": 4}),
     ("deeplift", {"rule": "reveal_cancel", "eps": 1e-8}, {"multipliers": "reveal_cancel", "epsilon": 1e-8})],
)
def test_old_option_names_still_work_with_a_deprecation_warning(method: str, old: dict, new: dict) -> None:
    model, x = _model(), torch.rand(3, 4)
    with pytest.warns(DeprecationWarning, match="is now called"):
        before = xaikit.explain(model, x, method=method, **old)
    after = xaikit.explain(model, x, method=method, **new)
    torch.testing.assert_close(before.attribution, after.attribution, rtol=0.0, atol=0.0)
    assert before.options == after.options


def test_show_progress_is_now_progress() -> None:
    model, x = _model(), torch.rand(3, 4)
    a = torch.rand(3, 4)
    with pytest.warns(DeprecationWarning, match="'show_progress' is now called 'progress'"):
        old = pixel_flipping(model, x, a, target=0, show_progress=False)
    new = pixel_flipping(model, x, a, target=0, progress=False)
    assert old.aopc.tolist() == new.aopc.tolist()
    with pytest.raises(OptionError, match="got both"):
        pixel_flipping(model, x, a, target=0, progress=False, show_progress=False)


def test_accepts_old_names_keeps_the_signature() -> None:
    @accepts_old_names(old="new")
    def f(*, new: int = 1) -> int:
        return new

    import inspect

    assert list(inspect.signature(f).parameters) == ["new"]
    with pytest.warns(DeprecationWarning):
        assert f(old=5) == 5
