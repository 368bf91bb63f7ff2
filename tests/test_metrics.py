"""The paper's image measures (correlation and SSIM on the front half, per site) and the
seams of slice-wise refacing."""

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from refacing_lib.evaluate.metrics import (
    front_half,
    pearson,
    similarity,
    site_means,
    slice_discontinuity,
    ssim,
)


def test_front_half_is_the_anterior_columns():
    images = np.arange(2 * 3 * 5).reshape(2, 3, 5)
    np.testing.assert_array_equal(front_half(images), images[:, :, 2:])


def test_pearson_by_hand():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert pearson(x, -x) == pytest.approx(-1.0)
    y = np.array([[2.0, 1.0], [4.0, 3.0]])
    # deviations (-1.5, -0.5, 0.5, 1.5) and (-0.5, -1.5, 1.5, 0.5): 3 / 5
    assert pearson(x, y) == pytest.approx(0.6)
    mask = np.array([[True, True], [False, True]])
    assert pearson(x, y, mask) == pytest.approx(np.corrcoef([1, 2, 4], [2, 1, 3])[0, 1])
    assert np.isnan(pearson(x, np.ones((2, 2))))


def test_ssim_is_scikit_image_averaged_over_the_mask():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (32, 32))
    y = np.clip(x + rng.normal(0, 0.2, x.shape), -1, 1)
    assert ssim(x, x) == pytest.approx(1.0)
    assert ssim(x, y) == pytest.approx(structural_similarity(x, y, data_range=2.0))
    mask = np.zeros(x.shape, bool)
    mask[8:20, 10:30] = True
    _, full = structural_similarity(x, y, data_range=2.0, full=True)
    assert ssim(x, y, mask) == pytest.approx(full[mask].mean())


def test_similarity_per_image_and_per_site():
    rng = np.random.default_rng(1)
    originals = rng.uniform(-1, 1, (3, 16, 16))
    others = originals.copy()
    others[1, :, 8:] = -1                  # image 1: its front half blanked (a removed face)
    others[2, :, :8] = 0                   # image 2: only the back half changed
    changed = others != originals
    table = similarity(originals, others, changed)
    assert table["correlation"].tolist()[0] == pytest.approx(1.0)
    assert np.isnan(table["correlation"][1])          # a constant front half
    assert table["ssim"][1] < 0.1
    assert table["correlation"][2] == pytest.approx(1.0)   # the back half does not count
    assert np.isnan(table["ssim_changed"][0]) and np.isnan(table["ssim_changed"][2])
    # mean absolute errors over the whole image: image 1 lost its front half (to -1)
    expected = np.abs(originals[1, :, 8:] + 1).mean()
    assert table["mae_changed"][1] == pytest.approx(expected)
    assert table["mae_unchanged"][1] == 0.0 and table["mae_unchanged"][2] == 0.0
    assert np.isnan(table["mae_changed"][0]) and table["mae_unchanged"][0] == 0.0
    assert table["mae_changed"][2] == pytest.approx(np.abs(originals[2, :, :8]).mean())
    table["site"] = ["Guys", "HH", "Guys"]
    means = site_means(table)
    assert list(means.index) == ["Guys", "HH", "all"]
    assert means.loc["Guys", "ssim"] == pytest.approx(1.0)
    assert means.loc["all", "ssim"] == pytest.approx(table["ssim"].mean())
    with pytest.raises(ValueError, match="differ in shape"):
        similarity(originals, others[:2])


def test_slice_discontinuity_is_the_ratio_of_plane_to_in_plane_steps():
    i, j, k = np.indices((6, 8, 5), dtype=np.float64)
    mask = np.zeros((6, 8, 5), bool)
    mask[2:4, 3:5, :] = True
    # a ramp rising by 3 per plane and 2 per in-plane voxel: ratio 3 / 2 everywhere
    assert slice_discontinuity(3 * i + 2 * j, mask) == pytest.approx(1.5)
    # planes that alternate (seams) over a smooth in-plane ramp
    seams = np.where(i % 2 == 1, 10.0, 0.0) + j
    assert slice_discontinuity(seams, mask) == pytest.approx(10.0)
    assert np.isnan(slice_discontinuity(seams, np.zeros_like(mask)))
