"""The paper's measures of anonymization and refacing (evaluation only).

:func:`similarity` and :func:`site_means` are the paper's measures (section 3.4): Pearson
correlation and SSIM between an original slice and its anonymized or refaced version, on the
front (face) half of the image, optionally only where the anonymization changed it, and mean
absolute differences. :func:`slice_discontinuity` measures the seams of refacing a volume one
sagittal slice at a time. (How well a volume was defaced, measured against ground-truth masks,
is :mod:`refacing_lib.anonymize.deface_checks`.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["front_half", "pearson", "ssim", "similarity", "site_means", "slice_discontinuity"]


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
