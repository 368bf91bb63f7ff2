"""Refacing with a generator: shapes, geometry and intensity scale, files."""

import keras
import nibabel as nib
import numpy as np
import pytest

from refacing_lib.data.io import Volume, load_volume, save_volume
from refacing_lib.model.reface import reface_dataset, reface_file, reface_images, reface_volume
from refacing_lib.slicing.slices import normalisation_scale


def _identity(size):
    inputs = keras.Input((size, size, 1))
    return keras.Model(inputs, keras.layers.Identity()(inputs))


def _head(shape=(20, 256, 256)):
    rng = np.random.default_rng(0)
    i, j, k = np.indices(shape)
    inside = ((j - 128) / 90.0) ** 2 + ((k - 120) / 100.0) ** 2 < 1
    data = np.where(inside, 300 + 200 * rng.random(shape), 2 * rng.random(shape))
    zooms = (1.2, 0.9375, 0.9375)
    return Volume(data.astype(np.float32), np.diag(zooms + (1.0,)), zooms, None)


def test_reface_images_shrinks_to_the_generator_size():
    images = np.random.default_rng(1).uniform(-1, 1, (5, 256, 256)).astype(np.float32)
    out = reface_images(_identity(64), images, batch_size=2)
    np.testing.assert_allclose(out, images.reshape(5, 64, 4, 64, 4).mean(axis=(2, 4)), atol=1e-6)
    with pytest.raises(ValueError, match="cannot be shrunk"):
        reface_images(_identity(96), images)


def test_reface_volume_puts_slices_back_on_the_grid_at_the_volume_scale():
    volume = _head()
    scale = normalisation_scale(volume)
    refaced = reface_volume(_identity(256), volume)
    # an identity generator gives the volume back, clipped at its 99.5th percentile
    np.testing.assert_allclose(refaced.data, np.minimum(volume.data, scale), rtol=1e-5, atol=1e-3)
    mask = np.zeros(volume.shape, bool)
    mask[8:11, 150:, :] = True
    only = reface_volume(_identity(256), volume, mask)
    changed = only.data != volume.data
    assert changed.any() and not changed[~mask].any()
    with pytest.raises(ValueError, match="mask shape"):
        reface_volume(_identity(256), volume, mask[:5])


def test_reface_file_keeps_storage_and_uses_the_changed_mask(tmp_path):
    volume = _head((12, 256, 256))
    source = save_volume(tmp_path / "in" / "IXI002-Guys-0828-T1.nii.gz", volume.data,
                         volume.affine, orientation="PSR", dtype=np.int16)
    mask = np.zeros(volume.shape, bool)
    mask[:, 200:, :] = True
    save_volume(tmp_path / "in" / "IXI002-Guys-0828-T1_changed.nii.gz", mask.astype(np.uint8),
                volume.affine, orientation="PSR", dtype=np.uint8)
    out = reface_file(source, tmp_path / "out" / source.name, _identity(256))
    stored = nib.load(out)
    assert "".join(nib.aff2axcodes(stored.affine)) == "PSR"
    assert stored.get_data_dtype() == np.int16
    original, refaced = load_volume(source).data, load_volume(out).data
    assert not (refaced != original)[~mask].any()


@pytest.mark.slow
def test_reface_dataset_follows_the_split_order(slice_dataset, tmp_path, capsys):
    out = reface_dataset(_identity(64), slice_dataset, "test", out=tmp_path / "test.npy",
                         progress=True)
    err = capsys.readouterr().err
    assert "reface (test): 100%" in err and "63/63" in err
    assert out.shape == (63, 64, 64)
    expected = slice_dataset.images("test", "A").reshape(63, 64, 4, 64, 4).mean(axis=(2, 4))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_array_equal(np.load(tmp_path / "test.npy"), out)
