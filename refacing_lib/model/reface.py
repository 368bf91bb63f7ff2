"""Refacing with a trained generator: the test slices of a dataset, or whole anonymized volumes.

A generator trained by :func:`refacing_lib.model.training.train` maps anonymized slices (domain A)
to slices with a face (domain B). :func:`reface_images` runs it on images in [-1, 1];
:func:`reface_dataset` on every anonymized slice of a dataset split; :func:`reface_volume` on
every sagittal slice of an anonymized head, put back together into a volume. That last one is
what an attacker would do: it only uses the anonymized volume, so each slice is normalised by
the 99.5th percentile of the anonymized volume itself (the original is not available), and the
result is scaled back by the same number.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from refacing_lib.batch import written
from refacing_lib.data.io import Volume, load_volume, save_volume
from refacing_lib.slicing.slices import (
    IMAGE_SIZE,
    from_model_range,
    head_voxels,
    image_to_plane,
    normalisation_scale,
    sagittal_image,
    shrink,
    to_model_range,
)

__all__ = ["reface_images", "reface_dataset", "reface_volume", "reface_file"]


def reface_images(generator, images: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Run ``generator`` on images, shrinking them to its input size first.

    Parameters
    ----------
    generator : keras.Model
        Input and output (batch, g, g, 1) in [-1, 1].
    images : numpy.ndarray, shape (n, s, s)
        Images in [-1, 1] (face to the right, top up), ``s`` a multiple of ``g``; larger ones
        are shrunk by averaging ``s/g`` x ``s/g`` blocks.
    batch_size : int

    Returns
    -------
    numpy.ndarray of float32, shape (n, g, g)
    """
    g = generator.input_shape[1]
    images = shrink(images, g)
    # predict_on_batch runs the network as one compiled function: twice as fast as eager calls
    out = [np.asarray(generator.predict_on_batch(images[i:i + batch_size, ..., None]))[..., 0]
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, g, g), np.float32)


def reface_dataset(generator, dataset, split: str = "test", out: str | Path | None = None,
                   batch_size: int = 8, progress: bool = False) -> np.ndarray:
    """Reface every anonymized (A) image of a dataset split.

    Parameters
    ----------
    generator : keras.Model
        E.g. ``refacing_lib.model.training.load_generator(run_dir)``.
    dataset : refacing_lib.slicing.datasets.SliceDataset
    split : {"train", "test"}
    out : str or Path, optional
        Also save the result there as ``.npy`` (float32), rows in the order of the split's
        metadata.
    batch_size : int
        Images per call of the generator.
    progress : bool
        Show a tqdm progress bar (images) on stderr.

    Returns
    -------
    numpy.ndarray of float32, shape (n, g, g)
        Row i is the refacing of ``dataset.images(split, "A", i)`` at the generator's size.
    """
    from tqdm.auto import tqdm

    n = len(dataset.arrays[split, "A"])
    parts = []
    with tqdm(total=n, desc=f"reface ({split})", unit="image", disable=not progress) as bar:
        for i in range(0, n, 64):
            parts.append(reface_images(generator, dataset.images(split, "A", slice(i, i + 64)),
                                       batch_size))
            bar.update(len(parts[-1]))
    refaced = np.concatenate(parts)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, refaced)
    return refaced


def reface_volume(generator, volume: Volume, mask: np.ndarray | None = None,
                  batch_size: int = 8) -> Volume:
    """Reface an anonymized head slice by slice and reassemble it.

    Every sagittal slice that holds head tissue (voxels above the Otsu threshold), or only
    those that ``mask`` touches, is cut out as in the datasets (256 x 256 pixels of 0.9375 mm,
    divided by the volume's own 99.5th percentile), refaced, enlarged back to 256 pixels
    (linear interpolation) and put back on the volume's grid at the volume's intensity scale.

    Parameters
    ----------
    generator : keras.Model
    volume : Volume
        Anonymized RAS volume.
    mask : numpy.ndarray of bool, shape (nx, ny, nz), optional
        Voxels to replace (e.g. the changed-voxel mask that ``refacing deface`` writes);
        default: every voxel of the refaced slices inside the 240 mm field of the images.

    Returns
    -------
    Volume
        Same grid and affine; float32.
    """
    data = volume.data
    if mask is not None and mask.shape != data.shape:
        raise ValueError(f"{volume.path}: mask shape {mask.shape} differs from the volume's "
                         f"{data.shape}")
    scale = normalisation_scale(volume)
    if mask is None:
        counts = head_voxels(data).sum(axis=(1, 2))
        indices = np.nonzero(counts > 0.01 * counts.max())[0]
    else:
        indices = np.nonzero(mask.any(axis=(1, 2)))[0]
    images = (np.stack([to_model_range(sagittal_image(data, i, volume.zooms) / scale)
                        for i in indices])
              if len(indices) else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE)))
    refaced = reface_images(generator, images, batch_size)
    result = data.copy()
    inside = image_to_plane(np.ones((IMAGE_SIZE, IMAGE_SIZE), np.float32), data.shape[1:],
                            volume.zooms) > 0.5            # the part of a plane the images hold
    for i, image in zip(indices, refaced):
        if image.shape[0] != IMAGE_SIZE:
            image = ndimage.zoom(image, IMAGE_SIZE / image.shape[0], order=1, grid_mode=True,
                                 mode="nearest")
        plane = image_to_plane(from_model_range(image) * scale, data.shape[1:], volume.zooms)
        replace = inside if mask is None else inside & mask[i]
        result[i][replace] = plane[replace]
    return Volume(result, volume.affine, volume.zooms, volume.path)


def reface_file(source: str | Path, output: str | Path, generator, use_mask: bool = True) -> Path:
    """Reface one anonymized NIfTI file; keep its voxel order on disk, affine and data type.

    With ``use_mask``, the changed-voxel mask that ``refacing deface`` wrote beside the input
    (``NAME_changed.nii.gz``) limits what is replaced, if it exists. Written atomically.
    """
    from refacing_lib.anonymize.files import changed_mask_path

    source, output = Path(source), Path(output)
    volume = load_volume(source)
    mask_path = changed_mask_path(source)
    mask = load_volume(mask_path).data > 0.5 if use_mask and mask_path.exists() else None
    refaced = reface_volume(generator, volume, mask)
    stored = nib.load(source)
    output.parent.mkdir(parents=True, exist_ok=True)
    with written(output) as part:
        save_volume(part, refaced.data, refaced.affine,
                    orientation="".join(nib.aff2axcodes(stored.affine)),
                    dtype=stored.get_data_dtype())
    return output
