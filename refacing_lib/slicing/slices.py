"""The paper's training images: 21 sagittal slices per head, normalised by the original volume.

For every subject the paper (section 3.3) takes 21 sagittal slices around the middle of the
head, from the original volume and from each anonymized version of it, and divides each slice
by the 99.5th percentile of the ORIGINAL volume. This module does the same, in four steps:

1. :func:`slice_indices` places the slices: symmetric around the mid-sagittal plane, at the
   same voxel indices in every version of a subject (the anonymized volumes share the
   original's grid). The plane is the centre of mass, along left-right, of the head (the voxels
   brighter than the Otsu threshold of the original), or the centre of the array as in the
   paper's scripts (``midplane="array"``). IXI heads sit within a few millimetres of the array
   centre, so both give nearly the same slices there; the head's centre also works for heads
   that are not centred in their field of view.
2. :func:`normalisation_scale` is the 99.5th percentile of all voxels of the original volume.
3. :func:`sagittal_image` makes a 256 x 256 image of one slice in millimetre-faithful pixels:
   the slice is resampled (linearly) to square pixels of :data:`PIXEL_MM` (IXI's in-plane voxel
   size, so IXI slices are not resampled at all), then padded with zeros or cropped, centred,
   to 256 x 256 pixels (240 mm). Every image shows the same physical size per pixel, whatever
   the scanner's voxels. The image has the face to the right and the top of the head up, like
   the paper's figures: row 0 is superior, the last column anterior.
4. :func:`to_model_range` maps ``slice / scale`` from [0, 1] to [-1, 1], the range of the
   generator's tanh; :func:`from_model_range` inverts it. Values above the percentile (about
   0.5 % of the voxels, mostly bright fat) are clipped at 1, so the inverse is exact for every
   pixel at or below the percentile.

:func:`subject_slices` runs the four steps for one subject and its anonymized versions.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from refacing_lib.blocks import block_mean
from refacing_lib.data.io import Volume

__all__ = ["N_SLICES", "PERCENTILE", "IMAGE_SIZE", "PIXEL_MM", "SPACINGS", "MIDPLANES",
           "midsagittal_index", "slice_indices", "normalisation_scale", "sagittal_image",
           "image_to_plane", "head_voxels", "shrink",
           "to_model_range", "from_model_range", "subject_slices"]

N_SLICES = 21
"""Sagittal slices per subject (the paper's 21)."""
PERCENTILE = 99.5
"""Percentile of the original volume that each slice is divided by."""
IMAGE_SIZE = 256
"""Side of the square images in pixels (the paper's 256 x 256)."""
PIXEL_MM = 0.9375
"""Pixel size of the images in mm: IXI's in-plane voxel size, so 256 pixels span 240 mm."""
SPACINGS = {"tight": 1.8, "loose": 3.6}
"""Distance between neighbouring slices in mm: ``"tight"`` is 1.5 IXI voxels (1.2 mm), as in
the paper's scripts, 36 mm for all 21 slices; ``"loose"`` is 3 IXI voxels, 72 mm."""
MIDPLANES = ("head", "array")
"""How the mid-sagittal plane is found: the head's centre of mass, or the array's centre."""


def midsagittal_index(volume: Volume, midplane: str = "head") -> float:
    """Position of the mid-sagittal plane as a (fractional) index along axis 0.

    Parameters
    ----------
    volume : Volume
        RAS volume (axis 0 left -> right) of the ORIGINAL head.
    midplane : {"head", "array"}
        ``"head"``: the mean axis-0 index of the voxels brighter than the volume's Otsu
        threshold (the head's left-right centre of mass); ``"array"``: ``(nx - 1) / 2``, the
        centre of the left-right axis, as in the paper's scripts.

    Returns
    -------
    float
        Index along axis 0 (0 is the leftmost sagittal slice).
    """
    if midplane not in MIDPLANES:
        raise ValueError(f"midplane must be one of {MIDPLANES}, got {midplane!r}")
    nx = volume.shape[0]
    if midplane == "array":
        return (nx - 1) / 2
    per_slice = head_voxels(volume.data).sum(axis=(1, 2)).astype(np.float64)
    return float((per_slice * np.arange(nx)).sum() / per_slice.sum())


def head_voxels(data: np.ndarray) -> np.ndarray:
    """Voxels brighter than the Otsu threshold of ``data`` (every 2nd voxel per axis): the head
    and not the background, for an MRI volume of any orientation. Same shape, bool."""
    return data > threshold_otsu(data[::2, ::2, ::2])


def shrink(images: np.ndarray, size: int) -> np.ndarray:
    """Square images shrunk by averaging blocks of pixels (:func:`refacing_lib.blocks.block_mean`).

    Parameters
    ----------
    images : numpy.ndarray, shape (..., s, s)
        Images (any leading axes, e.g. a batch); ``s`` a multiple of ``size``.
    size : int
        Side of the result in pixels; each of its pixels averages ``s / size`` x ``s / size``
        pixels of the input.

    Returns
    -------
    numpy.ndarray, float32, shape (..., size, size)
        The shrunk images; the input itself (as float32) when ``s == size``.

    Raises
    ------
    ValueError
        If ``s`` is not a multiple of ``size``.
    """
    images = np.asarray(images, np.float32)
    s = images.shape[-1]
    if s % size:
        raise ValueError(f"images of {s} pixels cannot be shrunk to {size}")
    f = s // size
    return images if f == 1 else block_mean(images, (f, f))


def slice_indices(volume: Volume, n: int = N_SLICES, spacing: str | float = "tight",
                  midplane: str = "head") -> np.ndarray:
    """Axis-0 indices of ``n`` sagittal slices placed symmetrically around the mid-plane.

    Slice ``k`` (``k = -(n-1)/2 .. (n-1)/2``) lies ``k * spacing`` millimetres from the
    mid-sagittal plane, rounded to the nearest voxel; with IXI's 1.2 mm voxels, ``"tight"``
    (1.8 mm = 1.5 voxels) gives steps of 1 and 2 voxels in turn.

    Parameters
    ----------
    volume : Volume
        RAS volume of the ORIGINAL head; use the same indices for its anonymized versions.
    n : int
        Number of slices, odd so that one lies on the mid-plane.
    spacing : {"tight", "loose"} or float
        Distance between neighbouring slices in mm (see :data:`SPACINGS`).
    midplane : {"head", "array"}
        See :func:`midsagittal_index`.

    Returns
    -------
    numpy.ndarray of int, shape (n,)
        Increasing indices along axis 0 (left to right).

    Raises
    ------
    ValueError
        For an even ``n``, an unknown spacing, a spacing so small that two slices fall on one
        voxel, or slices outside the volume; the message names the volume.
    """
    if n < 1 or n % 2 == 0:
        raise ValueError(f"the number of slices must be odd and positive, got {n}")
    spacing_mm = SPACINGS.get(spacing) if isinstance(spacing, str) else float(spacing)
    if spacing_mm is None or spacing_mm <= 0:
        raise ValueError(f"spacing must be one of {sorted(SPACINGS)} or a distance in mm, "
                         f"got {spacing!r}")
    centre = midsagittal_index(volume, midplane)
    offsets = np.arange(n) - (n - 1) // 2
    step = round(spacing_mm / volume.zooms[0], 9)      # 3.6 / 1.2 is 3, not 2.9999999999999996
    indices = np.floor(centre + offsets * step + 0.5).astype(int)
    name = volume.path or "volume"
    if np.any(np.diff(indices) < 1):
        raise ValueError(f"{name}: slices {spacing_mm} mm apart fall on the same voxel "
                         f"({volume.zooms[0]:.2f} mm along left-right); choose a larger spacing")
    if indices[0] < 0 or indices[-1] >= volume.shape[0]:
        raise ValueError(f"{name}: {n} slices {spacing_mm} mm apart around index {centre:.1f} "
                         f"need indices {indices[0]}..{indices[-1]}, "
                         f"outside 0..{volume.shape[0] - 1}")
    return indices


def normalisation_scale(volume: Volume) -> float:
    """The 99.5th percentile of all voxels of ``volume`` (background included), as the paper.

    Raises
    ------
    ValueError
        If the percentile is not positive (an empty or negative image); the message names it.
    """
    scale = float(np.percentile(volume.data, PERCENTILE))
    if not scale > 0:
        raise ValueError(f"{volume.path or 'volume'}: the {PERCENTILE}th percentile is {scale}; "
                         "cannot normalise by it")
    return scale


def sagittal_image(data: np.ndarray, index: int, zooms, size: int = IMAGE_SIZE,
                   pixel_mm: float = PIXEL_MM) -> np.ndarray:
    """Sagittal slice ``index`` as a square image in millimetre-faithful pixels.

    Parameters
    ----------
    data : numpy.ndarray, shape (nx, ny, nz)
        RAS volume.
    index : int
        Slice along axis 0.
    zooms : sequence of 3 floats
        Voxel size in mm of ``data``.
    size : int
        Side of the output in pixels.
    pixel_mm : float
        Side of one output pixel in mm. In-plane voxels of another size are resampled
        (linear interpolation); within 0.5 % of it they are used as they are.

    Returns
    -------
    numpy.ndarray of float32, shape (size, size)
        Rows from superior (row 0) to inferior, columns from posterior to anterior (face to
        the right). The slice is centred; the margin is 0 where the field of view is smaller
        than ``size * pixel_mm``, and cropped evenly where it is larger.
    """
    plane = np.asarray(data[index], dtype=np.float32)          # (ny, nz): anterior, superior
    factors = (zooms[1] / pixel_mm, zooms[2] / pixel_mm)
    if max(abs(f - 1) for f in factors) > 0.005:
        plane = ndimage.zoom(plane, factors, order=1, grid_mode=True, mode="grid-constant")
    image = np.zeros((size, size), np.float32)
    src, dst = [], []
    for length in plane.shape:
        start = (length - size) // 2                          # > 0: crop, < 0: pad
        src.append(slice(max(start, 0), max(start, 0) + min(length, size)))
        dst.append(slice(max(-start, 0), max(-start, 0) + min(length, size)))
    image[dst[0], dst[1]] = plane[src[0], src[1]]
    return np.ascontiguousarray(image.T[::-1])


def image_to_plane(image: np.ndarray, plane_shape, zooms,
                   pixel_mm: float = PIXEL_MM) -> np.ndarray:
    """Inverse of :func:`sagittal_image`: a square image back onto the voxels of a sagittal plane.

    Parameters
    ----------
    image : numpy.ndarray, shape (size, size)
        Row 0 superior, face to the right, pixels of ``pixel_mm``.
    plane_shape : tuple of 2 ints
        (ny, nz) of the volume's sagittal plane.
    zooms : sequence of 3 floats
        Voxel size in mm of the volume.

    Returns
    -------
    numpy.ndarray of float32, shape (ny, nz)
        Axis 0 posterior -> anterior, axis 1 inferior -> superior, as ``data[i]`` of a RAS
        volume. Where the image was cropped (a field of view wider than the image) it is 0.
    """
    size = image.shape[0]
    factors = (zooms[1] / pixel_mm, zooms[2] / pixel_mm)
    resample = max(abs(f - 1) for f in factors) > 0.005
    # the plane on the image grid, before padding or cropping
    grid = tuple(int(round(n * f)) for n, f in zip(plane_shape, factors)) if resample \
        else tuple(plane_shape)
    image = np.asarray(image, np.float32)[::-1].T                 # (anterior, superior) axes
    plane = np.zeros(grid, np.float32)
    src, dst = [], []
    for length in grid:
        start = (length - size) // 2
        dst.append(slice(max(start, 0), max(start, 0) + min(length, size)))
        src.append(slice(max(-start, 0), max(-start, 0) + min(length, size)))
    plane[dst[0], dst[1]] = image[src[0], src[1]]
    if resample:
        plane = ndimage.zoom(plane, (plane_shape[0] / grid[0], plane_shape[1] / grid[1]),
                             order=1, grid_mode=True, mode="nearest")
    return plane


def to_model_range(normalised: np.ndarray) -> np.ndarray:
    """Map ``slice / scale`` from [0, 1] to [-1, 1] (float32); values outside are clipped."""
    return (2 * np.clip(normalised, 0, 1) - 1).astype(np.float32)


def from_model_range(images: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_model_range`: [-1, 1] back to ``slice / scale`` in [0, 1]."""
    return ((np.asarray(images, np.float32) + 1) / 2).astype(np.float32)


def subject_slices(original: Volume, anonymized: dict[str, Volume] | None = None,
                   n: int = N_SLICES, spacing: str | float = "tight", midplane: str = "head",
                   size: int = IMAGE_SIZE) -> dict:
    """The training images of one subject: its original and anonymized slices.

    Parameters
    ----------
    original : Volume
        The subject's original RAS volume; it alone decides the slice positions and the scale.
    anonymized : dict of str to Volume, optional
        Anonymized versions by name (e.g. ``{"blur": ..., "remove": ...}``), each on the
        original's grid.
    n, spacing, midplane
        See :func:`slice_indices`.
    size : int
        Image side in pixels (see :func:`sagittal_image`).

    Returns
    -------
    dict
        ``"indices"`` (n,) int, ``"offsets_mm"`` (n,) float (from the mid-plane, negative to
        the left), ``"scale"`` float (the original's 99.5th percentile), ``"original"`` and one
        entry per anonymized version: float32 arrays of shape (n, size, size) in [-1, 1],
        face to the right, top up.

    Raises
    ------
    ValueError
        If an anonymized volume's shape or affine differs from the original's; the message
        names both files.
    """
    indices = slice_indices(original, n, spacing, midplane)
    scale = normalisation_scale(original)
    result = {"indices": indices,
              "offsets_mm": (indices - midsagittal_index(original, midplane)) * original.zooms[0],
              "scale": scale}
    versions = {"original": original, **(anonymized or {})}
    for name, volume in versions.items():
        if volume.shape != original.shape or not np.allclose(volume.affine, original.affine,
                                                              atol=1e-3):
            raise ValueError(f"{volume.path or name} is not on the grid of "
                             f"{original.path or 'the original'}"
                             f" (shape {volume.shape} vs {original.shape}); anonymize the "
                             "original again")
        result[name] = np.stack([
            to_model_range(sagittal_image(volume.data, i, volume.zooms, size) / scale)
            for i in indices])
    return result
