"""load_volume / save_volume: RAS for any storage order, clear errors for bad files."""

import gzip

import nibabel as nib
import numpy as np
import pytest

from refacing_lib.data.io import VolumeError, load_volume, save_volume

STORAGE_ORDERS = ["RAS", "PSR", "LIP", "ASL", "SRA", "IPL"]


@pytest.mark.parametrize("orientation", STORAGE_ORDERS)
def test_any_storage_order_loads_as_ras(tmp_path, ras_volume, orientation):
    data, affine, zooms = ras_volume
    path = save_volume(tmp_path / "v.nii.gz", data, affine, orientation=orientation)
    stored = nib.load(path)
    assert "".join(nib.aff2axcodes(stored.affine)) == orientation

    vol = load_volume(path)
    np.testing.assert_array_equal(vol.data, data)
    np.testing.assert_allclose(vol.affine, affine, atol=1e-6)
    np.testing.assert_allclose(vol.zooms, zooms, rtol=1e-6)
    assert nib.aff2axcodes(vol.affine) == ("R", "A", "S")
    assert vol.data.dtype == np.float32 and vol.path == path
    # the marker is in the right-anterior-superior corner in scanner mm as well
    corner = vol.affine @ np.array([11, 15, 19, 1.0])
    assert vol.data[-1, -1, -1] == 5000 and np.all(corner[:3] > 0)


def test_ixi_like_storage(tmp_path, ras_volume):
    """IXI stores PSR with the 1.2 mm axis last: stored shape (ny, nz, nx)."""
    data, affine, _ = ras_volume
    path = save_volume(tmp_path / "ixi.nii.gz", data, affine, orientation="PSR", dtype=np.int16)
    img = nib.load(path)
    assert img.shape == (16, 20, 12)
    np.testing.assert_allclose(img.header.get_zooms(), (0.9375, 0.9375, 1.2))
    assert img.get_data_dtype() == np.int16
    np.testing.assert_array_equal(load_volume(path).data, data)


def test_rotated_affine_uses_nearest_axes(tmp_path, ras_volume):
    """An oblique acquisition (10 degrees about x) still maps axis 1 to anterior."""
    data, affine, _ = ras_volume
    c, s = np.cos(np.radians(10)), np.sin(np.radians(10))
    rot = np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1]])
    save_volume(tmp_path / "oblique.nii", data, rot @ affine, orientation="SPL")
    vol = load_volume(tmp_path / "oblique.nii")
    np.testing.assert_array_equal(vol.data, data)
    np.testing.assert_allclose(vol.affine, rot @ affine, atol=1e-6)


def test_single_volume_4d_is_accepted(tmp_path, ras_volume):
    data, affine, _ = ras_volume
    nib.save(nib.Nifti1Image(data[..., None], affine), tmp_path / "v4.nii.gz")
    assert load_volume(tmp_path / "v4.nii.gz").shape == data.shape


def test_integer_storage_rounds_and_clips(tmp_path, ras_volume):
    data, affine, _ = ras_volume
    data = data.copy()
    data[0, 0, 0], data[0, 0, 1], data[0, 0, 2] = 1.6, 40000.0, -40000.0
    vol = load_volume(save_volume(tmp_path / "i.nii.gz", data, affine, dtype=np.int16))
    assert vol.data[0, 0, 0] == 2 and vol.data[0, 0, 1] == 32767 and vol.data[0, 0, 2] == -32768


def _expect(path, *words):
    with pytest.raises((VolumeError, FileNotFoundError)) as info:
        load_volume(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message
    return message


def test_missing_file(tmp_path):
    _expect(tmp_path / "nope.nii.gz", "no such file")


def test_not_nifti(tmp_path):
    path = tmp_path / "notes.nii.gz"
    path.write_text("these are not voxels")
    _expect(path, "not a readable NIfTI")


def test_truncated_gzip(tmp_path, ras_volume):
    data, affine, _ = ras_volume
    path = save_volume(tmp_path / "full.nii.gz", data, affine)
    raw = path.read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    _expect(cut, "truncated or corrupt")


def test_truncated_uncompressed(tmp_path, ras_volume):
    data, affine, _ = ras_volume
    path = save_volume(tmp_path / "full.nii", data, affine)
    cut = tmp_path / "cut.nii"
    cut.write_bytes(path.read_bytes()[:2000])
    _expect(cut)


def test_4d_rejected(tmp_path, ras_volume):
    data, affine, _ = ras_volume
    nib.save(nib.Nifti1Image(np.stack([data, data], -1), affine), tmp_path / "dwi.nii.gz")
    _expect(tmp_path / "dwi.nii.gz", "3-D", "(12, 16, 20, 2)")


def test_nan_rejected(tmp_path, ras_volume):
    data, affine, _ = ras_volume
    data = data.copy()
    data[1, 2, 3] = np.nan
    data[2, 2, 3] = np.inf
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "nan.nii.gz")
    _expect(tmp_path / "nan.nii.gz", "2 voxels are NaN or infinite")


def test_all_zero_rejected(tmp_path, ras_volume):
    _, affine, _ = ras_volume
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), affine), tmp_path / "z.nii.gz")
    _expect(tmp_path / "z.nii.gz", "every voxel is zero")


def test_gzip_of_garbage(tmp_path):
    path = tmp_path / "garbage.nii.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\x00" * 100)
    _expect(path, "not a readable NIfTI")
