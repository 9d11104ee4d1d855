"""The entry point, the registry and the result type."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import xaikit
from xaikit.core import Attribution, Explainer, register_method


def test_methods_lists_lrp_with_options() -> None:
    assert "lrp" in xaikit.methods()
    details = xaikit.methods(details=True)
    assert isinstance(details, dict)
    assert "composite" in details["lrp"]["options"]
    assert details["lrp"]["summary"].startswith("Layer-wise relevance propagation")


def test_unknown_method_and_option_errors_list_the_alternatives() -> None:
    model, x = nn.Linear(3, 2), torch.rand(2, 3)
    with pytest.raises(ValueError, match=r"registered methods are: .*lrp"):
        xaikit.explain(model, x, method="no-such-method")
    with pytest.raises(TypeError, match=r"unknown option.*'compsite'.*composite"):
        xaikit.explain(model, x, method="lrp", compsite="epsilon")
    with pytest.raises(ValueError, match=r"unknown composite 'nope'.*epsilon_plus"):
        xaikit.explain(model, x, method="lrp", composite="nope")


def test_explainer_objects_and_names_agree() -> None:
    model = nn.Linear(3, 2).double()
    x = torch.rand(4, 3, dtype=torch.float64)
    by_name = xaikit.explain(model, x, method="lrp", composite="epsilon_gamma_box")
    by_object = xaikit.explain(model, x, method=xaikit.lrp.LRP(composite="epsilon_gamma_box"))
    assert torch.equal(by_name.attribution, by_object.attribution)
    assert by_name.method == "lrp" and by_name.options["composite"] == "epsilon_gamma_box"


def test_explanation_indexing_and_delta() -> None:
    model = nn.Linear(3, 2, bias=False).double()
    x = torch.rand(4, 3, dtype=torch.float64)
    e = xaikit.explain(model, x, composite="lrp0", feature_names=["a", "b", "c"])
    sub = e[1:3]
    assert len(sub) == 2 and sub.feature_names == ["a", "b", "c"]
    torch.testing.assert_close(sub.attribution, e.attribution[1:3])
    torch.testing.assert_close(e.delta, torch.zeros(4, dtype=torch.float64), atol=1e-12, rtol=0)
    assert e[0].attribution.shape == (1, 3)
    assert e.numpy().shape == (4, 3)


def test_registering_a_method_makes_it_reachable_by_name() -> None:
    @register_method("test-constant")
    class Constant(Explainer):
        """Attribute 1 to every feature (a test double)."""

        def __init__(self, value: float = 1.0) -> None:
            self.value = value

        def attribute(self, model, inputs, target):  # type: ignore[no-untyped-def]
            out = model(inputs)
            resolved = target.resolve(out.detach())
            return Attribution(torch.full_like(inputs, self.value), resolved.select(out).detach(), resolved)

    try:
        e = xaikit.explain(nn.Linear(3, 2), torch.rand(2, 3), method="test-constant", value=2.0)
        assert torch.equal(e.attribution, torch.full((2, 3), 2.0))
        assert e.options == {"value": 2.0}
        with pytest.raises(ValueError, match="already registered"):
            register_method("test-constant")(type("Other", (Constant,), {}))
    finally:
        xaikit.core.unregister_method("test-constant")
    with pytest.raises(ValueError, match="unknown explanation method 'test-constant'"):
        xaikit.explain(nn.Linear(3, 2), torch.rand(2, 3), method="test-constant")


def test_a_broken_method_plugin_warns_and_the_others_still_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plug-ins of the ``xaikit.methods`` entry-point group load once; one that fails is named."""
    from importlib.metadata import EntryPoint

    from xaikit.core import registry

    broken = EntryPoint("broken", "xaikit_no_such_module", registry.ENTRY_POINT_GROUP)
    working = EntryPoint("gradients", "xaikit.gradients", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "_PLUGINS_LOADED", False)
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [broken, working])
    with pytest.warns(RuntimeWarning, match="'broken' .*xaikit_no_such_module.* failed to import"):
        registry.load_plugins()
    assert "saliency" in registry.methods()
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [])
    monkeypatch.setattr(registry, "_PLUGINS_LOADED", False)
    with pytest.warns(RuntimeWarning, match="not installed as a package"):
        registry.load_plugins()
