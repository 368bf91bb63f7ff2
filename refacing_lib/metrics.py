"""Measuring anonymization and refacing (evaluation only).

:func:`deface_quality` and :func:`profile_detail` read ground-truth masks (the synthetic
cohort's ``truth/`` files); the anonymization itself (:mod:`refacing_lib.deface`) never does.
:func:`similarity` and :func:`site_means` are the paper's measures (section 3.4): Pearson
correlation and SSIM between an original slice and its anonymized or refaced version, on the
front (face) half of the image, optionally only where the anonymization changed it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["deface_quality", "profile_detail", "front_half", "pearson", "ssim", "similarity",
           "site_means", "slice_discontinuity"]


def deface_quality(original: np.ndarray, defaced: np.ndarray, truth: dict, zooms) -> dict:
    """How a defaced volume differs from the original, measured with ground-truth masks.

    Parameters
    ----------
    original, defaced : numpy.ndarray, float, shape (nx, ny, nz)
        RAS volumes before and after anonymization.
    truth : dict of str -> numpy.ndarray of bool
        ``brain``, ``face`` and ``head`` masks of the same shape.
    zooms : tuple of 3 floats
        Voxel size in mm.

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
    band = ndi.distance_transform_edt(~face, sampling=zooms) <= 5.0
    other = head & ~band
    pad = 20
    depth = ndi.distance_transform_edt(np.pad(head, pad, mode="edge"), sampling=zooms)
    depth = depth[(slice(pad, -pad),) * 3]
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
        RAS volume.
    face : numpy.ndarray of bool
        True face mask (selects the columns and the intensity level).
    zooms : tuple of 3 floats
        Voxel size in mm.
    smooth_mm : float
        Scale below which surface variation counts as fine detail.
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


def front_half(images: np.ndarray) -> np.ndarray:
    """The anterior half of images shown face to the right: columns ``w // 2`` to the end.

    ``images`` has shape (..., h, w); the result (..., h, w - w // 2) is a view.
    """
    return images[..., images.shape[-1] // 2:]


def pearson(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Pearson correlation of two images over all pixels, or those of ``mask``.

    NaN when either is constant there (correlation undefined).
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if mask is not None:
        x, y = x[mask], y[mask]
    x, y = x.ravel() - x.mean(), y.ravel() - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else float("nan")


def ssim(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None,
         data_range: float = 2.0) -> float:
    """Structural similarity (scikit-image, 7 x 7 windows) of two 2-D images.

    Without ``mask`` it is scikit-image's mean SSIM (the map without its 3-pixel border);
    with it, the SSIM map averaged over the pixels of ``mask``. ``data_range`` is the span of
    the pixel values: 2 for the course's [-1, 1] images.
    """
    from skimage.metrics import structural_similarity

    mean, ssim_map = structural_similarity(np.asarray(x, np.float64), np.asarray(y, np.float64),
                                           data_range=data_range, full=True)
    return float(ssim_map[mask].mean() if mask is not None else mean)


def similarity(originals: np.ndarray, others: np.ndarray, changed: np.ndarray | None = None):
    """Per-image correlation and SSIM with the originals, on the front half of the images.

    Parameters
    ----------
    originals, others : numpy.ndarray, shape (n, h, w)
        Images in [-1, 1], face to the right (e.g. a dataset's B images and their anonymized
        or refaced versions, at the same size).
    changed : numpy.ndarray of bool, shape (n, h, w), optional
        The pixels the anonymization changed; adds the same two measures over those pixels
        of the front half only, and the mean absolute differences over the changed and the
        unchanged pixels of the whole image.

    Returns
    -------
    pandas.DataFrame
        One row per image: ``correlation``, ``ssim`` (front half), and with ``changed``
        ``correlation_changed``, ``ssim_changed``, ``mae_changed`` (mean ``|other -
        original|`` over the changed pixels, [-1, 1] units; NaN where an image has no changed
        pixel) and ``mae_unchanged`` (the same over the other pixels: what a refacer should
        leave as it was).
    """
    import pandas as pd

    if originals.shape != others.shape:
        raise ValueError(f"images differ in shape: {originals.shape} and {others.shape}")
    rows = []
    for i, (x, y) in enumerate(zip(front_half(originals), front_half(others))):
        row = {"correlation": pearson(x, y), "ssim": ssim(x, y)}
        if changed is not None:
            m = front_half(changed[i])
            row["correlation_changed"] = pearson(x, y, m) if m.sum() > 1 else float("nan")
            row["ssim_changed"] = ssim(x, y, m) if m.any() else float("nan")
            error = np.abs(np.asarray(others[i], np.float64) - originals[i])
            for name, pixels in (("mae_changed", changed[i]), ("mae_unchanged", ~changed[i])):
                row[name] = float(error[pixels].mean()) if pixels.any() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def site_means(table, by: str = "site"):
    """Means of every numeric column per site (or per value of ``by``), and over all rows.

    ``table`` holds a ``by`` column (e.g. :func:`similarity` joined with a dataset's
    metadata); the result has one row per site in sorted order, then ``"all"``.
    """
    numeric = table.select_dtypes("number").columns.drop(["index", "slice"], errors="ignore")
    means = table.groupby(by)[list(numeric)].mean()
    means.loc["all"] = table[list(numeric)].mean()
    return means


def slice_discontinuity(data: np.ndarray, mask: np.ndarray) -> float:
    """How much neighbouring sagittal planes differ inside a region: the seams of 2-D refacing.

    The mean of ``|data[i + 1] - data[i]|`` (neighbouring planes along the left-right axis,
    axis 0) divided by the mean of the same difference between neighbouring voxels within the
    planes (along the anterior-posterior axis, axis 1), both over the voxel pairs that touch
    ``mask``. Noise and anatomy raise both alike, so a head scores about 1 (a little more
    where its planes are farther apart than its in-plane voxels); slices refaced one at a
    time do not know their neighbours, so seams between them raise the ratio.

    Parameters
    ----------
    data : numpy.ndarray, shape (nx, ny, nz)
        RAS volume.
    mask : numpy.ndarray of bool, shape (nx, ny, nz)
        The region (e.g. the anonymization's changed voxels).

    Returns
    -------
    float
        NaN when the mask is empty or uniform in-plane.
    """
    data = np.asarray(data, np.float64)
    across = np.abs(np.diff(data, axis=0))[mask[1:] | mask[:-1]]
    within = np.abs(np.diff(data, axis=1))[mask[:, 1:] | mask[:, :-1]]
    if not across.size or not within.size or within.mean() == 0:
        return float("nan")
    return float(across.mean() / within.mean())
