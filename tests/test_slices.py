"""The paper's 21 sagittal slices: placement, normalisation, millimetre-faithful images."""

import numpy as np
import pytest
from conftest import small_head

from refacing_lib.data.io import Volume
from refacing_lib.slicing.slices import (
    from_model_range,
    midsagittal_index,
    normalisation_scale,
    sagittal_image,
    slice_indices,
    subject_slices,
    to_model_range,
)

ZOOMS = (1.2, 0.9375, 0.9375)


def _volume(data, zooms=ZOOMS, name="head.nii.gz"):
    return Volume(data=data, affine=np.diag(tuple(zooms) + (1.0,)), zooms=tuple(zooms),
                  path=name)


def test_midplane_follows_the_head_or_the_array_centre():
    head = _volume(small_head(0, shift_x=3.0))
    assert midsagittal_index(head, "array") == pytest.approx(19.5)
    assert midsagittal_index(head, "head") == pytest.approx(22.5, abs=0.3)
    with pytest.raises(ValueError, match="midplane"):
        midsagittal_index(head, "brain")


@pytest.mark.parametrize("spacing, steps", [("tight", {1, 2}), ("loose", {3})])
def test_slices_are_symmetric_around_the_midplane(spacing, steps):
    head = _volume(small_head(1, shift_x=-3.0, shape=(80, 64, 72)), name="IXI0.nii.gz")
    mm = {"tight": 1.8, "loose": 3.6}[spacing]
    indices = slice_indices(head, spacing=spacing, midplane="head")
    centre = midsagittal_index(head, "head")
    assert len(indices) == 21 and indices.dtype.kind == "i"
    assert set(np.diff(indices)) == steps
    # each slice is within half a voxel of k * spacing mm from the plane, k = -10..10
    offsets_mm = (indices - centre) * ZOOMS[0]
    np.testing.assert_allclose(offsets_mm, np.arange(-10, 11) * mm, atol=ZOOMS[0] / 2 + 1e-9)
    assert indices[10] == np.floor(centre + 0.5)


def test_slice_placement_errors_name_the_volume_and_value():
    head = _volume(small_head(2), name="sub-01_T1w.nii.gz")
    with pytest.raises(ValueError, match="odd"):
        slice_indices(head, n=20)
    with pytest.raises(ValueError, match="spacing"):
        slice_indices(head, spacing="wide")
    with pytest.raises(ValueError, match="sub-01_T1w.nii.gz.*same voxel"):
        slice_indices(head, spacing=0.5)
    with pytest.raises(ValueError, match=r"sub-01_T1w.nii.gz.*outside 0..39"):
        slice_indices(head, spacing="loose")  # 72 mm of slices in a 48 mm wide volume


def test_normalisation_reproduced_from_the_volumes():
    """Slice / original 99.5th percentile, clipped to [0, 1], then 2x - 1: to 1e-6."""
    rng = np.random.default_rng(3)
    original = _volume(small_head(3, shape=(40, 256, 256)), name="orig.nii.gz")
    blurred = original.data * rng.uniform(0.2, 1.0, original.shape).astype(np.float32)
    result = subject_slices(original, {"blur": _volume(blurred, name="blur.nii.gz")})
    indices = result["indices"]
    scale = np.percentile(original.data, 99.5)
    assert result["scale"] == pytest.approx(scale, rel=1e-12)
    for version, data in (("original", original.data), ("blur", blurred)):
        # IXI geometry (256 x 256 at 0.9375 mm): no resampling, no padding, only the view
        expected = 2 * np.clip(data[indices].transpose(0, 2, 1)[:, ::-1, :] / scale, 0, 1) - 1
        assert result[version].shape == (21, 256, 256)
        np.testing.assert_allclose(result[version], expected, atol=1e-6)
    # the anonymized slices use the ORIGINAL's percentile, not their own
    assert normalisation_scale(_volume(blurred)) < 0.99 * scale


def test_anonymized_slices_come_from_the_same_positions():
    original = _volume(small_head(4))
    marked = original.data.copy()
    marked[:, 0, 0] = np.arange(40) + 1.0       # each sagittal slice carries its own index
    result = subject_slices(original, {"remove": _volume(marked)})
    # the 64 x 72 plane is padded to 256 x 256 from column 96 (y) and row 255 - 92 (z), so
    # voxel (y=0, z=0) is pixel (163, 96)
    corner = from_model_range(result["remove"][:, 163, 96]) * result["scale"]
    np.testing.assert_allclose(corner, result["indices"] + 1.0, rtol=1e-5)
    differs = np.argwhere((result["remove"] != result["original"]).any(axis=0))
    assert differs.tolist() == [[163, 96]]


def test_sagittal_image_is_millimetre_faithful_face_right_top_up():
    # 2 mm in-plane voxels: a 10 x 10 voxel square (20 mm) becomes about 21 x 21 pixels
    data = np.zeros((3, 60, 50), np.float32)
    data[1, 40:50, 30:40] = 1.0                 # anterior and superior of the centre
    image = sagittal_image(data, 1, (1.2, 2.0, 2.0), size=256)
    rows, cols = np.nonzero(image > 0.5)
    assert 20 <= np.ptp(rows) + 1 <= 23 and 20 <= np.ptp(cols) + 1 <= 23
    # the plane spans 120 x 100 mm = 128 x 107 pixels, centred: rows 74..181, cols 64..191
    assert image[:74].max() == 0 and image[:, :64].max() == 0
    # anterior -> right half, superior -> upper half
    assert cols.mean() > 128 and rows.mean() < 128
    # IXI voxels and a larger field of view: cropped evenly, not resampled
    plane = np.arange(300 * 280, dtype=np.float32).reshape(1, 300, 280)
    image = sagittal_image(plane, 0, ZOOMS, size=256)
    np.testing.assert_array_equal(image, plane[0, 22:278, 12:268].T[::-1])


def test_model_range_is_invertible_below_the_percentile():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(from_model_range(to_model_range(x)), x, atol=1e-6)
    assert to_model_range(np.array([0.0, 0.5, 1.0, 1.7, -0.2])).tolist() == [-1, 0, 1, 1, -1]


def test_anonymized_volume_on_another_grid_is_refused():
    original = _volume(small_head(5), name="orig.nii.gz")
    other = _volume(small_head(5, shape=(40, 64, 70)), name="anon.nii.gz")
    with pytest.raises(ValueError, match="anon.nii.gz is not on the grid of orig.nii.gz"):
        subject_slices(original, {"blur": other})


@pytest.mark.parametrize("shape, zooms", [((3, 256, 256), ZOOMS), ((3, 300, 200), ZOOMS),
                                          ((3, 120, 100), (1.0, 2.0, 2.0))])
def test_image_to_plane_inverts_sagittal_image(shape, zooms):
    from refacing_lib.slicing.slices import image_to_plane

    rng = np.random.default_rng(6)
    data = ndimage_smooth(rng.random(shape).astype(np.float32))
    image = sagittal_image(data, 1, zooms)
    plane = image_to_plane(image, shape[1:], zooms)
    assert plane.shape == shape[1:]
    if zooms == ZOOMS:      # no resampling: exact where the image holds the plane
        window = (slice(max(0, (shape[1] - 256) // 2), None),
                  slice(max(0, (shape[2] - 256) // 2), None))
        inside = np.zeros(shape[1:], bool)
        inside[window[0].start:window[0].start + 256, window[1].start:window[1].start + 256] = True
        np.testing.assert_array_equal(plane[inside], data[1][inside])
        assert not plane[~inside].any()
    else:                   # 2 mm voxels, 0.9375 mm pixels and back: smooth data survives
        np.testing.assert_allclose(plane[5:-5, 5:-5], data[1][5:-5, 5:-5], atol=0.02)


def ndimage_smooth(data):
    from scipy import ndimage

    return ndimage.gaussian_filter(data, (0, 3, 3))


def test_shrink_averages_blocks():
    from refacing_lib.slicing.slices import shrink

    images = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    np.testing.assert_allclose(shrink(images, 2)[0], [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_array_equal(shrink(images, 4), images)
    with pytest.raises(ValueError, match="cannot be shrunk to 3"):
        shrink(images, 3)
