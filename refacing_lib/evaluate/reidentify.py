"""A re-identification attack on refaced slices: whose face is this? (evaluation only)

The paper measured how close a refaced slice is to its original (correlation, SSIM); what
matters for privacy is whether the refaced face can be matched to its owner. The attack here
compares facial profiles: in every sagittal slice, the anterior edge of the head row by row
(:func:`face_profile`) draws the silhouette of forehead, nose, lips and chin. A probe (one test
subject's slices: refaced, anonymized, or with an average face pasted in) is compared with
every subject of a gallery (their original faces, from another scan where there is one) over
the rows that the anonymization changed (:func:`profile_distances`), and
:func:`identification_rates` counts how often the owner is the closest one (top-1) or among
the five closest (top-5).

Images are in the course's convention: shape (..., h, w), values in [-1, 1], face to the right
(the last column is the front), row 0 the top, ``240 / w`` mm per pixel.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from refacing_lib.slicing.slices import IMAGE_SIZE, PIXEL_MM

__all__ = ["TISSUE_LEVEL", "MIN_PROBES", "face_profile", "profile_distances",
           "identification_rates", "rate_interval", "with_average_face"]

#: Tissue starts where an image exceeds this value: 20% of the normalisation percentile (skin
#: and fat are far brighter in T1, air far darker).
TISSUE_LEVEL = -0.6

#: Fewer probes than this make an identification rate not meaningful (one probe moves it by
#: more than 10 points, and its 95% interval spans most of [0, 1]).
MIN_PROBES = 10


def face_profile(images: np.ndarray, level: float = TISSUE_LEVEL,
                 smooth_mm: float = 2.0) -> np.ndarray:
    """The anterior edge of the head in every row, in mm from the front of the image.

    Parameters
    ----------
    images : numpy.ndarray, shape (..., h, w)
        Sagittal images in [-1, 1], face to the right.
    level : float
        Tissue threshold in the images' units.
    smooth_mm : float
        Each image is first smoothed with a Gaussian of this width (mm), so that isolated
        noisy pixels in the air (which generators produce) are not taken for skin; 0: none.

    Returns
    -------
    numpy.ndarray of float, shape (..., h)
        Distance (mm, 240 / w per pixel) from the image's anterior border back to the first
        pixel above ``level``, refined linearly between the last pixel below and the first
        above; NaN for rows without tissue in their front half.
    """
    images = np.asarray(images, np.float32)
    w = images.shape[-1]
    pixel_mm = PIXEL_MM * IMAGE_SIZE / w
    if smooth_mm:
        sigma = (0,) * (images.ndim - 2) + (smooth_mm / pixel_mm,) * 2
        images = ndimage.gaussian_filter(images, sigma, mode="nearest")
    front = images[..., w // 2:][..., ::-1]              # column 0 is now the anterior border
    above = front > level
    first = np.argmax(above, axis=-1)                    # 0 when the border pixel is tissue
    found = above.any(axis=-1)
    inside = np.take_along_axis(front, first[..., None], -1)[..., 0]
    outside = np.take_along_axis(front, np.maximum(first - 1, 0)[..., None], -1)[..., 0]
    step = np.where(first > 0, (inside - level) / np.maximum(inside - outside, 1e-6), 0.0)
    edge = (first - np.clip(step, 0.0, 1.0)) * pixel_mm
    return np.where(found, edge, np.nan)


def profile_distances(probes: np.ndarray, gallery: np.ndarray, rows: np.ndarray,
                      max_shift_mm: float = 6.0) -> np.ndarray:
    """How far each probe's facial profiles are from each gallery subject's, in mm.

    For a probe p and a gallery subject g, the difference of their profiles is taken over the
    probe's ``rows`` (slice by slice, the slices paired by position), with g shifted up or down
    by up to ``max_shift_mm`` (a head sitting higher or lower). The best straight line along
    the rows is fitted to that difference and removed, so that a head sitting further forward
    or back, or nodding by a few degrees, costs nothing; the distance is the mean absolute
    remainder at the best shift. Rows where either profile is NaN are left out; a probe with
    fewer than half its rows left is infinitely far.

    Parameters
    ----------
    probes : numpy.ndarray, shape (p, k, h)
        :func:`face_profile` of the k slices of each probe subject.
    gallery : numpy.ndarray, shape (g, k, h)
        The same for the gallery subjects, the slices in the same order.
    rows : numpy.ndarray of bool, shape (p, k, h)
        The rows of each probe slice to compare (e.g. those the anonymization changed).
    max_shift_mm : float
        Largest vertical shift tried, in mm (at 240 / h mm per row).

    Returns
    -------
    numpy.ndarray of float, shape (p, g)
    """
    probes, gallery = np.asarray(probes, float), np.asarray(gallery, float)
    if probes.shape[1:] != gallery.shape[1:] or rows.shape != probes.shape:
        raise ValueError(f"profiles do not line up: probes {probes.shape}, gallery "
                         f"{gallery.shape}, rows {rows.shape}")
    k, h = probes.shape[1:]
    reach = int(round(max_shift_mm / (PIXEL_MM * IMAGE_SIZE / h)))
    height = np.broadcast_to(np.arange(h, dtype=float), (k, h)).ravel()
    shifted = []                                       # the gallery moved down by each shift
    for shift in range(-reach, reach + 1):
        moved = np.full_like(gallery, np.nan)
        if shift >= 0:
            moved[..., shift:] = gallery[..., :h - shift]
        else:
            moved[..., :shift] = gallery[..., -shift:]
        shifted.append(moved.reshape(len(gallery), -1))
    distances = np.full((len(probes), len(gallery)), np.inf)
    for i, (probe, keep) in enumerate(zip(probes.reshape(len(probes), -1),
                                          rows.reshape(len(probes), -1))):
        for moved in shifted:
            diff = probe - moved                                   # (g, k * h)
            valid = np.isfinite(diff) & keep
            weight = valid.astype(float)
            diff = np.where(valid, diff, 0.0)
            n, sy, syy = weight.sum(-1), weight @ height, weight @ height ** 2
            sd, syd = diff.sum(-1), diff @ height
            with np.errstate(all="ignore"):                        # too few rows: below
                slope = (n * syd - sy * sd) / (n * syy - sy ** 2)
                offset = (sd - slope * sy) / n
                residual = np.abs(diff - offset[:, None] - slope[:, None] * height) * weight
                distance = residual.sum(-1) / n
            enough = (n >= max(0.5 * keep.sum(), 2)) & np.isfinite(distance)
            distances[i] = np.minimum(distances[i], np.where(enough, distance, np.inf))
    return distances


def identification_rates(distances: np.ndarray, owners: np.ndarray,
                         ks: tuple[int, ...] = (1, 5)) -> dict[int, float]:
    """Top-k identification rates: how often a probe's owner is among its k nearest.

    Parameters
    ----------
    distances : numpy.ndarray, shape (p, g)
        Probe-to-gallery distances (smaller is more alike; ``inf`` allowed).
    owners : numpy.ndarray of int, shape (p,)
        The gallery column of each probe's own subject.
    ks : tuple of int

    Returns
    -------
    dict of int to float
        For each k, the mean over probes of the chance that the owner ranks k-th or better.
        Ties are broken at random, counted exactly: an owner tied with t others after b
        strictly closer subjects is within the top k with probability
        ``clip((k - b) / (t + 1), 0, 1)``, so a probe equally far from everyone scores
        ``k / g``, the rate of guessing.
    """
    distances = np.asarray(distances, float)
    own = distances[np.arange(len(owners)), owners][:, None]
    better = (distances < own).sum(axis=1)
    tied = (distances == own).sum(axis=1)                 # the owner included
    return {k: float(np.clip((k - better) / tied, 0.0, 1.0).mean()) for k in ks}


def rate_interval(rate: float, probes: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) binomial confidence interval of an identification rate.

    Parameters
    ----------
    rate : float
        Observed rate in [0, 1] over ``probes`` trials. Ties make a rate a mean of fractions
        (:func:`identification_rates`); the interval then uses the fractional number of
        successes ``rate * probes`` in the beta quantiles, which reduces to the textbook
        interval for a whole number.
    probes : int
        Number of probes (trials), at least 1.
    level : float
        Coverage, 0.95 for a 95% interval.

    Returns
    -------
    (low, high) : tuple of float
        Bounds in [0, 1]; ``low`` is 0 when the rate is 0 and ``high`` is 1 when it is 1.
    """
    from scipy.stats import beta

    if probes < 1:
        raise ValueError(f"probes must be at least 1, got {probes}")
    k, alpha = rate * probes, 1.0 - level
    low = 0.0 if k <= 0 else float(beta.ppf(alpha / 2, k, probes - k + 1))
    high = 1.0 if k >= probes else float(beta.ppf(1 - alpha / 2, k + 1, probes - k))
    return low, high


def with_average_face(anonymized: np.ndarray, changed: np.ndarray, slice_of: np.ndarray,
                      average: np.ndarray) -> np.ndarray:
    """The average-face baseline: anonymized images with an average face pasted in.

    Parameters
    ----------
    anonymized : numpy.ndarray, shape (n, h, w)
        Anonymized test images.
    changed : numpy.ndarray of bool, shape (n, h, w)
        The pixels the anonymization changed.
    slice_of : numpy.ndarray of int, shape (n,)
        Each image's slice number (0 to 20), selecting its row of ``average``.
    average : numpy.ndarray, shape (21, h, w)
        Mean original image per slice number over the training subjects.

    Returns
    -------
    numpy.ndarray, shape (n, h, w)
        ``average[slice_of]`` where ``changed``, the anonymized image elsewhere.
    """
    return np.where(changed, average[np.asarray(slice_of)], anonymized).astype(np.float32)
