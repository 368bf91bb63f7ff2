"""Reading and writing MRI volumes in the course's one canonical orientation.

Every volume in the course is handled as a 3-D array in **RAS** orientation:

* axis 0 runs from the subject's **left to right**,
* axis 1 from **posterior to anterior**,
* axis 2 from **inferior to superior**,

so ``data[i]`` is a sagittal slice and ``data[i].T`` shown with ``origin="lower"`` puts the
face on the right and the top of the head up. Files may store their voxels in any order (IXI
stores the left-right axis last); :func:`load_volume` reads the header affine and reorients
the array, it never guesses from the array shape.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel import orientations as ornt

__all__ = ["Volume", "VolumeError", "load_volume", "save_volume", "affine_zooms"]


class VolumeError(ValueError):
    """A file that cannot be used as a 3-D MRI volume; the message names the file."""


@dataclass(frozen=True)
class Volume:
    """A 3-D volume in RAS orientation.

    Attributes
    ----------
    data : numpy.ndarray, float32, shape (nx, ny, nz)
        Intensities; axis 0 left->right, axis 1 posterior->anterior, axis 2 inferior->superior.
    affine : numpy.ndarray, shape (4, 4)
        Maps voxel indices of ``data`` to scanner RAS+ millimetres.
    zooms : tuple of 3 floats
        Voxel size in millimetres along axes 0, 1, 2 of ``data``.
    path : pathlib.Path or None
        The file it was read from.
    """

    data: np.ndarray
    affine: np.ndarray
    zooms: tuple[float, float, float]
    path: Path | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (nx, ny, nz) in voxels."""
        return self.data.shape


def load_volume(path: str | Path) -> Volume:
    """Load a NIfTI volume and reorient it to RAS.

    Parameters
    ----------
    path : str or Path
        A ``.nii`` or ``.nii.gz`` file holding one 3-D volume (a 4-D file with a single volume
        is accepted).

    Returns
    -------
    Volume
        ``data`` as float32 in RAS order (axis 0 L->R, 1 P->A, 2 I->S), the affine of that
        array and the voxel sizes in mm along its axes.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    VolumeError
        If the file is not NIfTI, is truncated or corrupt, is not 3-D, holds NaN or infinite
        values, is all zeros, or has an affine that is not invertible. The message names the
        file and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        img = nib.load(path)
    except Exception as exc:  # nibabel raises several types for non-NIfTI input
        raise VolumeError(f"{path}: not a readable NIfTI file ({exc})") from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise VolumeError(f"{path}: expected a NIfTI volume, got {type(img).__name__}")
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        img = img.slicer[..., 0]
    elif len(shape) != 3:
        raise VolumeError(f"{path}: expected a 3-D volume, got shape {shape}")
    try:
        data = np.asarray(img.dataobj, dtype=np.float32)
    except (EOFError, OSError, zlib.error, gzip.BadGzipFile, ValueError) as exc:
        raise VolumeError(f"{path}: truncated or corrupt image data ({exc})") from exc
    if not np.isfinite(data).all():
        bad = int(np.size(data) - np.isfinite(data).sum())
        raise VolumeError(f"{path}: {bad} voxels are NaN or infinite")
    if not data.any():
        raise VolumeError(f"{path}: every voxel is zero")
    affine = img.affine
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise VolumeError(f"{path}: the header affine is not invertible:\n{affine}")
    transform = ornt.io_orientation(affine)
    data = np.ascontiguousarray(ornt.apply_orientation(data, transform))
    affine = affine @ ornt.inv_ornt_aff(transform, shape[:3])
    return Volume(data=data, affine=affine, zooms=affine_zooms(affine), path=path)


def save_volume(
    path: str | Path,
    data: np.ndarray,
    affine: np.ndarray,
    *,
    orientation: str = "RAS",
    dtype: np.dtype | type | None = None,
) -> Path:
    """Write a RAS array to NIfTI, stored in the axis order ``orientation``.

    Parameters
    ----------
    path : str or Path
        Output ``.nii`` or ``.nii.gz`` file; parent folders are created.
    data : numpy.ndarray, shape (nx, ny, nz)
        Array in RAS order, as returned by :func:`load_volume`.
    affine : numpy.ndarray, shape (4, 4)
        Voxel-to-RAS-mm affine of ``data``.
    orientation : str
        Three nibabel axis codes for the order on disk, e.g. ``"RAS"`` or ``"PSR"`` (IXI's
        order: axis 0 posterior, axis 1 superior, axis 2 right). Loading the file with
        :func:`load_volume` gives back ``data`` and ``affine`` whatever the orientation.
    dtype : numpy dtype, optional
        On-disk data type (e.g. ``np.int16`` like IXI, ``np.uint8`` for masks); values are
        rounded for integer types. Default: the dtype of ``data``.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"{path}: save_volume expects a 3-D array, got shape {data.shape}")
    current = ornt.io_orientation(affine)
    target = ornt.axcodes2ornt(tuple(orientation))
    transform = ornt.ornt_transform(current, target)
    stored = ornt.apply_orientation(data, transform)
    stored_affine = affine @ ornt.inv_ornt_aff(transform, data.shape)
    dtype = np.dtype(dtype or data.dtype)
    if np.issubdtype(dtype, np.integer) and not np.issubdtype(stored.dtype, np.integer):
        info = np.iinfo(dtype)
        stored = np.clip(np.rint(stored), info.min, info.max)
    img = nib.Nifti1Image(np.ascontiguousarray(stored, dtype=dtype), stored_affine)
    img.set_qform(stored_affine, code="scanner")
    img.set_sform(stored_affine, code="scanner")
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, path)
    return path


def affine_zooms(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel sizes in mm along the three array axes of ``affine``."""
    return tuple(float(z) for z in np.sqrt((affine[:3, :3] ** 2).sum(axis=0)))
