"""Relevance maximization against activation maximization (issue 15, item 2).

The constructed case where they must differ: one channel copies the image (a 1x1
convolution with weight 1 and a ReLU); the explained logit reads only the left half of
that channel. Samples with a bright blob on the right fire the channel most (activation
maximization picks them) but contribute nothing to the logit; samples with a dim blob on
the left are where the channel is relevant (relevance maximization picks them).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from xaikit.concepts import reference_crops, reference_samples
from xaikit.utils.errors import InputError

DT = torch.float64


def left_reader() -> nn.Sequential:
    copy = nn.Conv2d(1, 2, 1, bias=False)
    head = nn.Linear(2 * 8 * 8, 1, bias=False)
    with torch.no_grad():
        copy.weight.copy_(torch.tensor([1.0, 0.5]).view(2, 1, 1, 1))
        reads = torch.zeros(2, 8, 8)
        reads[0, :, :4] = 1.0  # the logit reads channel 0 on the left half only
        head.weight.copy_(reads.flatten()[None])
    return nn.Sequential(copy, nn.ReLU(), nn.Flatten(), head).to(DT).eval()


def blobs(seed: int) -> tuple[torch.Tensor, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.zeros((24, 1, 8, 8))
    right = np.arange(24) % 2 == 0  # even samples: a bright blob on the right, odd: a dim one on the left
    for i in range(24):
        r = rng.integers(0, 6)
        if right[i]:
            x[i, 0, r:r + 2, 5:7] = 1.0 + 0.1 * rng.random()
        else:
            x[i, 0, r:r + 2, 1:3] = 0.5 + 0.1 * rng.random()
    x += 0.01 * rng.random(x.shape)
    return torch.from_numpy(x), right


def test_relevance_and_activation_maximization_pick_different_samples() -> None:
    x, right = blobs(0)
    refs = reference_samples(left_reader(), x, "1", target=0, top_k=5, batch_size=7, composite="epsilon")
    assert refs.by_relevance.shape == (2, 5)
    assert right[refs.by_activation[0]].all()  # the brightest channel-0 responses: right blobs
    assert not right[refs.by_relevance[0]].any()  # the relevant ones: left blobs
    assert refs.overlap()[0] == 0.0
    assert np.all(np.diff(refs.relevance[0]) <= 0) and np.all(np.diff(refs.activation[0]) <= 0)
    # channel 1 is never read: its relevance is zero everywhere, ties go to the lowest indices
    np.testing.assert_array_equal(refs.by_relevance[1], np.arange(5))


def test_reference_samples_are_deterministic_and_independent_of_the_batch_size() -> None:
    x, _ = blobs(1)
    first = reference_samples(left_reader(), x, "1", target=0, top_k=4, batch_size=5)
    again = reference_samples(left_reader(), x.numpy(), "1", target=[0] * 24, top_k=4, batch_size=24)
    np.testing.assert_array_equal(first.by_relevance, again.by_relevance)
    np.testing.assert_array_equal(first.by_activation, again.by_activation)
    np.testing.assert_allclose(first.relevance, again.relevance, rtol=1e-12)


def test_reference_samples_read_a_zarr_array_batch_by_batch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    zarr = pytest.importorskip("zarr")
    x, _ = blobs(2)
    stored = zarr.create_array(str(tmp_path / "x.zarr"), shape=x.shape, chunks=(5, 1, 8, 8), dtype="float64")
    stored[:] = x.numpy()
    from_store = reference_samples(left_reader(), stored, "1", target=0, top_k=4, batch_size=5)
    in_memory = reference_samples(left_reader(), x, "1", target=0, top_k=4, batch_size=5)
    np.testing.assert_array_equal(from_store.by_relevance, in_memory.by_relevance)
    maps = from_store.heatmaps(left_reader(), stored, 0, composite="epsilon")
    torch.testing.assert_close(maps.inputs, x[from_store.by_relevance[0]])


def test_heatmaps_of_a_concept_on_its_reference_samples() -> None:
    x, _ = blobs(0)
    model = left_reader()
    refs = reference_samples(model, x, "1", target=0, top_k=3)
    maps = refs.heatmaps(model, x, 0, composite="epsilon")
    assert maps.attribution.shape == (3, 1, 8, 8)
    assert float(maps.attribution[..., 4:].abs().sum()) == 0.0  # nothing on the right half
    torch.testing.assert_close(maps.inputs, x[refs.by_relevance[0]])


def test_reference_crops_frame_the_relevant_blob() -> None:
    x, _ = blobs(0)
    model = left_reader()
    refs = reference_samples(model, x, "1", target=0, top_k=4)
    crops = refs.crops(model, x, 0, 2, composite="epsilon")
    assert crops.images.shape == (4, 1, 2, 2)
    for image, corner, index in zip(crops.images, crops.corners, refs.by_relevance[0], strict=True):
        row, column = (int(v) for v in corner)
        assert column == 1 and x[index, 0, row, 1] > 0.4  # the 2x2 left blob, exactly
        torch.testing.assert_close(image, x[index, :, row:row + 2, 1:3])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 5), st.integers(1, 6))
def test_the_crop_holds_the_most_positive_relevance_of_all_windows(seed: int, height: int, width: int) -> None:
    rng = np.random.default_rng(seed)
    images, maps = (torch.from_numpy(rng.standard_normal((3, 2, 5, 6))) for _ in range(2))
    crops = reference_crops(images, maps, (height, width))
    positive = maps.clamp(min=0).sum(1)
    for n in range(3):
        sums = [(float(positive[n, r:r + height, c:c + width].sum()), r, c)
                for r in range(5 - height + 1) for c in range(6 - width + 1)]
        best = max(s for s, _, _ in sums)
        row, column = (int(v) for v in crops.corners[n])
        assert float(positive[n, row:row + height, column:column + width].sum()) == pytest.approx(best, rel=1e-12)
        torch.testing.assert_close(crops.heatmaps[n], maps[n, :, row:row + height, column:column + width])
    with pytest.raises(InputError, match="fit the images"):
        reference_crops(images, maps, 7)


def test_bad_arguments_are_refused() -> None:
    x, _ = blobs(0)
    with pytest.raises(InputError, match="top_k"):
        reference_samples(left_reader(), x, "1", top_k=0)
    with pytest.raises(InputError, match="one class per sample"):
        reference_samples(left_reader(), x, "1", target=[0, 0])
    with pytest.raises(InputError, match="no samples"):
        reference_samples(left_reader(), x[:0], "1")
