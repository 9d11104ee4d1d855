"""The Shapley axioms as checks of any method (issue 16, item 5): what the literature says each
method satisfies, found by the checks."""

from __future__ import annotations

import pytest

from xaikit.evaluate import AXIOMS, shapley_axioms

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def holds(method: str, **options: object) -> dict[str, bool]:
    table = shapley_axioms(method, options or None)
    assert list(table["axiom"]) == list(AXIOMS)
    return dict(zip(table["axiom"], table["holds"], strict=True))


def test_exact_shapley_values_satisfy_every_axiom_to_round_off() -> None:
    table = shapley_axioms("shapley")
    assert float(table["error"].max()) < 1e-10


def test_the_gradient_fails_efficiency_only_and_its_magnitude_also_fails_linearity_and_monotonicity() -> None:
    assert holds("saliency") == {"efficiency": False, "symmetry": True, "dummy": True, "linearity": True,
                                 "monotonicity": True}
    magnitude = holds("saliency", absolute=True)
    assert not magnitude["efficiency"] and not magnitude["linearity"] and not magnitude["monotonicity"]
    assert magnitude["symmetry"] and magnitude["dummy"]


def test_occlusion_keeps_all_but_efficiency_and_sampled_shapley_keeps_efficiency_exactly() -> None:
    assert holds("occlusion") == {"efficiency": False, "symmetry": True, "dummy": True, "linearity": True,
                                  "monotonicity": True}
    sampled = shapley_axioms("shapley_sampling", {"samples": 4}).set_index("axiom")["error"]
    assert sampled["efficiency"] < 1e-10  # every permutation telescopes to f(x) - f(0)
    assert sampled["symmetry"] > 1e-3  # but 4 permutations do not treat the twins alike
    finer = shapley_axioms("shapley_sampling", {"samples": 200}).set_index("axiom")["error"]
    assert finer["symmetry"] < sampled["symmetry"]


def test_integrated_gradients_is_efficient_up_to_its_quadrature() -> None:
    coarse = shapley_axioms("integrated_gradients", {"steps": 8}).set_index("axiom")["error"]
    fine = shapley_axioms("integrated_gradients", {"steps": 256}).set_index("axiom")["error"]
    assert fine["efficiency"] < coarse["efficiency"] and fine["efficiency"] < 1e-3
    assert float(fine.drop("efficiency").max()) < 1e-10


def test_too_few_features_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 4 features"):
        shapley_axioms("saliency", features=3)


def test_the_axiom_table_has_one_row_per_method_of_the_same_errors() -> None:
    from xaikit.evaluate import axiom_table

    table = axiom_table({"exact": "shapley", "gradient": "saliency"})
    assert list(table.columns) == list(AXIOMS) and list(table.index) == ["exact", "gradient"]
    single = shapley_axioms("saliency").set_index("axiom")["error"]
    assert table.loc["gradient"].to_dict() == pytest.approx(single.to_dict())
