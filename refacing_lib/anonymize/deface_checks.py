"""Defacing checked against ground truth: what an anonymization did to the true brain and face.

:func:`deface_quality` compares a defaced volume with its original inside ground-truth
``brain``, ``face`` and ``head`` masks (the synthetic cohort's ``truth/`` files, see
:mod:`refacing_lib.data.synthetic`); :func:`profile_detail` measures the fine relief of the
facial surface that blurring should remove. Only tests, benchmarks and evaluation read ground
truth: the anonymization itself (:mod:`refacing_lib.anonymize.deface`) never does.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .head_masks import bounding_box, within

__all__ = ["deface_quality", "profile_detail"]


def deface_quality(original: np.ndarray, defaced: np.ndarray, truth: dict, zooms) -> dict:
    """How a defaced volume differs from the original, measured with ground-truth masks.

    Parameters
    ----------
    original, defaced : numpy.ndarray, float, shape (nx, ny, nz)
        RAS volumes before and after anonymization.
    truth : dict of str -> numpy.ndarray of bool
        ``brain``, ``face`` and ``head`` masks of the same shape (e.g. a synthetic subject's
        ``truth/`` files, loaded in RAS).
    zooms : tuple of 3 floats
        Voxel size in mm along the three axes.

    Returns
    -------
    dict
        ``brain_changed`` (voxels of the true brain that changed; must be 0),
        ``face_zeroed`` (fraction of true face voxels set to 0),
        ``other_changed`` (fraction of head voxels farther than 5 mm from the face that changed),
        ``skin_face_change`` (mean absolute change over the true face voxels within 8 mm of the
        skin, divided by their mean original intensity), ``face_change`` (the same over the
        whole face mask, eyes and tongue included), ``deep_changed`` (voxels more than 15 mm
        inside the skin that changed, the field of view's edge not counting as skin) and
        ``profile_detail_kept`` (:func:`profile_detail` after / before).
    """
    changed = defaced != original
    head, face = truth["head"], truth["face"]
    other = head & ~within(face, 5.0, zooms)
    # depth under the skin (mm), needed on the face and the changed voxels only: the distance
    # transform runs over their bounding box grown by 15 mm, which holds every voxel outside
    # the head closer than that to them (the array's border does not count as skin); over
    # the whole volume if that box holds no voxel outside the head
    depth = np.zeros(head.shape)
    box = bounding_box(face | changed, zooms, 15.0 + max(zooms))
    if box is None or head[box].all():
        box = (slice(None),) * 3
    depth[box] = ndi.distance_transform_edt(head[box], sampling=zooms)
    skin_face = face & (depth <= 8.0)
    before = profile_detail(original, face, zooms)
    return {
        "brain_changed": int((changed & truth["brain"]).sum()),
        "face_zeroed": float((defaced[face] == 0).mean()),
        "other_changed": float((changed & other).sum() / other.sum()),
        "skin_face_change": _relative_change(original, defaced, skin_face),
        "face_change": _relative_change(original, defaced, face),
        "deep_changed": int((changed & (depth > 15.0)).sum()),
        "profile_detail_kept": float(profile_detail(defaced, face, zooms) / before),
    }


def _relative_change(original, defaced, mask) -> float:
    """Sum of ``|defaced - original|`` over ``mask`` divided by the sum of ``original`` there."""
    return float(np.abs(defaced[mask] - original[mask]).sum() / original[mask].sum())


def profile_detail(volume: np.ndarray, face: np.ndarray, zooms, smooth_mm: float = 5.0) -> float:
    """Fine detail of the facial surface: RMS (mm) of the skin height map minus its smoothing.

    For every (left-right, inferior-superior) column of the face region, the skin height is
    the most anterior position (mm along axis 1) where the intensity exceeds half the median
    of the face tissue; the detail is what a Gaussian of ``smooth_mm`` removes from that height
    map (nose edges, lips, eyelids), as a root mean square over the columns more than
    ``2 * smooth_mm`` from the nearest column outside the face (in the left-right /
    inferior-superior plane; the array's edge does not count as outside). Near the outline the
    Gaussian is cut off where the face turns away to the cheeks and under the chin, and the
    residual there is mostly the face's overall shape, which no blurring removes. Further in,
    a surface of radius R still leaves ``smooth_mm**2 / (2 R)`` per axis (0.16 mm for 80 mm).
    NaN if no column lies that far inside.

    Parameters
    ----------
    volume : numpy.ndarray, shape (nx, ny, nz)
        RAS volume (axis 1 posterior -> anterior).
    face : numpy.ndarray of bool, shape (nx, ny, nz)
        True face mask (selects the columns and the intensity level).
    zooms : tuple of 3 floats
        Voxel size in mm along the three axes.
    smooth_mm : float
        Scale, in mm, below which surface variation counts as fine detail.

    Returns
    -------
    float
        The RMS residual in mm; NaN if no face column lies ``2 * smooth_mm`` inside.
    """
    level = 0.5 * np.median(volume[face]) if (volume[face] > 0).any() else 0.0
    columns = face.any(axis=1)
    above = volume > level
    ny = volume.shape[1]
    height = np.where(above.any(axis=1), (ny - 1 - np.argmax(above[:, ::-1], axis=1)), 0)
    height = height.astype(np.float32) * zooms[1]
    sigma = (smooth_mm / zooms[0], smooth_mm / zooms[2])
    weight = ndi.gaussian_filter(columns.astype(np.float32), sigma)
    smooth = ndi.gaussian_filter(height * columns, sigma) / np.maximum(weight, 1e-6)
    inner = ndi.distance_transform_edt(columns, sampling=(zooms[0], zooms[2])) > 2 * smooth_mm
    if not inner.any():
        return float("nan")
    return float(np.sqrt(np.mean((height - smooth)[inner] ** 2)))
