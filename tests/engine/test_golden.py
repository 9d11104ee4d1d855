"""Results on the reference models are bit-identical to those recorded before the redesign."""

from __future__ import annotations

import numpy as np
import pytest
from golden_cases import GOLDEN, cases, compute

_RECORDED = np.load(GOLDEN)


def test_every_case_was_recorded() -> None:
    assert sorted(_RECORDED.files) == sorted(cases())


@pytest.mark.parametrize("name", sorted(cases()))
def test_bit_identical_to_the_recording(name: str) -> None:
    expected = _RECORDED[name]
    actual = compute(name)
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)
