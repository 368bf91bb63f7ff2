"""The head and brain masks of a T1-weighted head, from the image alone: the first steps of
:mod:`refacing_lib.anonymize.deface`, on an image averaged into blocks of about 2 mm
(``coarse``, RAS, voxel size ``zooms`` in mm). Masks are boolean arrays of the coarse image's
shape; lengths are millimetres.

1. **Head**: the volume is averaged into blocks of about 2 mm (never thicker than 2 mm along
   the inferior-superior axis: 2.4 mm blocks of 1.2 mm voxels average away the thin horizontal
   plates of bone, orbital roof and skull base, that separate the brain from orbits and neck);
   voxels above half the Otsu threshold, largest connected part, closed and filled.
2. **Brain**: inside the head, voxels above half the Otsu threshold of the head's intensities
   (grey and white matter, not CSF or bone), eroded by 7 mm so that the brain comes apart
   from scalp, eyes and neck; the part with most voxels deep inside the upper head is kept. If
   that part reaches within 10 mm of the head's lowest slice, it leaked into the neck through a
   skull base barely darker than the threshold (bright muscle and marrow, as at IOP); if it
   reaches within 12 mm of the head's surface and, dilated back, is larger than any brain
   (2600 ml), it flooded through the skull into the scalp (a smooth image, such as an average
   of many heads, whose CSF and skull are blurred with the tissue around them). Then the
   threshold is raised by 10% steps, at most four times (eight after a flood), until the part
   leaks nowhere (if it never does, the first part is kept). The part is dilated back by 7 mm
   within the same voxels, then grown by up to 12 mm into tissue brighter than 0.35 of the
   brain's median (thin or darker gyri at the skull base) and filled. After a flood the
   threshold is raised one step more (the orbital roofs are as faint as the skull), the growth
   stays in tissue brighter than the threshold at which the brain came apart from the scalp
   and more than 12 mm inside the head, and the grown estimate is widened by 2 mm (the brain's
   blurred edge). This finds the cerebrum and brainstem; the cerebellum, behind and below
   them, is far from the face.
2b. **Protected zone**: a bias field that darkens the frontal base can cut a slab of brain off
   that estimate, right above the orbits. So the same steps are run again on the image divided
   by a smooth bias estimated from the brain estimate itself (a quadratic fitted to the log
   intensity of its brighter part, white matter; ignored if it adds more than 200 ml, a leak out
   of the skull), and, above the lowest point of the estimate's front 15% (at or below the brow,
   step 3 of :mod:`refacing_lib.anonymize.deface`) and within 8 mm of it, the result is
   completed by its mirror image about the middle of the head (a lateral corner found on one
   side only). Everything within :data:`~refacing_lib.anonymize.deface.BRAIN_MARGIN_MM` of the
   estimate or of these completions is protected: never changed. They only protect; the face
   region is measured on the estimate (its brow on the estimate before the growth).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

__all__ = ["PLAUSIBLE_BRAIN_ML", "DefaceError", "bounding_box", "brain_mask", "check_t1_contrast",
           "closing", "deeper", "fill_holes", "head_mask", "largest_part", "protected_brain",
           "seed_zone", "within"]

#: Plausible volume (ml) of the brain estimate (cerebrum and brainstem).
PLAUSIBLE_BRAIN_ML = (600.0, 2600.0)
_ERODE_MM = 7.0        # erosion that separates the brain from scalp, eyes and neck
_DEEP_MM = 20.0        # the brain is the part with most voxels deeper than this in the upper head
_NECK_MM = 10.0        # a brain core this close to the head's lowest level leaked into the neck
_SCALP_MM = 12.0       # ... and one this close to the head's surface leaked into the scalp
_RAISE = 1.1           # ... then the brain's threshold is raised by this factor
_RAISE_TRIES = 4       # ... at most this many times (to 1.46 times)
_FLOOD_TRIES = 8       # ... or this many after a flood into the scalp (to 2.14 times)
_GROW_MM = 12.0        # how far the brain estimate may grow into darker tissue
_GROW_LEVEL = 0.35     # ... brighter than this fraction of the brain's median
_BLURRED_EDGE_MM = 2.0  # in a smooth image the grown estimate is widened by this much
_BIAS_SCALE_MM = 100.0  # unit of the coordinates of the quadratic bias fit
_BIAS_KEEP = 0.6       # the bias is fitted to this brighter fraction of the brain (white matter)
_BIAS_MAX = 0.6        # limit of the fitted log bias (a factor between 0.55 and 1.8)
_REFIT_PAD_MM = 30.0   # the bias-corrected brain is looked for this far around the estimate
_REFIT_MAX_ML = 200.0  # ... and ignored if it adds more than this (it flooded into the face)
_MIRROR_REACH_MM = 8.0  # the mirror image of the brain protects only this close to the brain


class DefaceError(ValueError):
    """The head, brain or face could not be found; the message says which and why."""


def head_mask(coarse: np.ndarray, level: float) -> np.ndarray:
    """The head (step 1 of :mod:`refacing_lib.anonymize.deface`).

    Parameters
    ----------
    coarse : numpy.ndarray, shape (nx, ny, nz)
        The image averaged into blocks of about 2 mm (RAS).
    level : float
        Head / air threshold (half the image's Otsu threshold).

    Returns
    -------
    numpy.ndarray of bool, shape (nx, ny, nz)
        The largest connected part brighter than ``level``, closed by 2 blocks and filled (air
        cavities included).
    """
    head = largest_part(coarse > level)
    return fill_holes(closing(head, 2))


def seed_zone(head: np.ndarray, zooms) -> np.ndarray:
    """Where the brain must be: more than ``_DEEP_MM`` inside the head, in its upper half.

    Parameters
    ----------
    head : numpy.ndarray of bool, shape (nx, ny, nz)
        :func:`head_mask` (RAS: axis 2 points up).
    zooms : tuple of 3 floats
        Block size (mm).

    Returns
    -------
    numpy.ndarray of bool, shape (nx, ny, nz)

    Notes
    -----
    The depth is measured on every second voxel along each axis (a few mm do not matter here,
    and it is the largest distance transform of :func:`refacing_lib.anonymize.deface.find_face`).
    """
    if not head.any():
        return head
    deep = ndi.distance_transform_edt(head[::2, ::2, ::2], sampling=[2 * z for z in zooms])
    deep = (deep > _DEEP_MM).repeat(2, 0).repeat(2, 1).repeat(2, 2)
    deep = deep[: head.shape[0], : head.shape[1], : head.shape[2]]
    z = np.nonzero(head.any(axis=(0, 1)))[0]
    upper = np.zeros(head.shape, bool)
    upper[:, :, (z[0] + z[-1]) // 2:] = True
    return deep & upper


def brain_mask(coarse, head, seed, zooms, name, level=None) -> tuple[np.ndarray, np.ndarray]:
    """The brain estimate (step 2 of :mod:`refacing_lib.anonymize.deface`).

    The brain's core is the part of the head brighter than ``level``, eroded by ``_ERODE_MM``,
    with most voxels in ``seed`` (:func:`_brain_core`). A core that leaked into the neck
    (within ``_NECK_MM`` of the head's lowest level) or flooded through the skull into the
    scalp (within ``_SCALP_MM`` of the head's surface, and larger than any brain,
    :data:`PLAUSIBLE_BRAIN_ML`, once dilated back) is looked for again with ``level`` raised by
    ``_RAISE``, up to ``_RAISE_TRIES`` times (``_FLOOD_TRIES`` after a flood), and the first
    core that leaks nowhere replaces it (if none does, the first core is kept). A flood marks a
    smooth image (an average of many heads, with little grey/white contrast): its thin dark
    plates, skull and orbital roofs, are no darker than the level at which the brain came apart
    from the scalp, so the level is raised one step more (the orbits come apart too), the
    estimate grows only into tissue brighter than the level where it came apart and not into
    the scalp, and it is widened by ``_BLURRED_EDGE_MM`` (the blurred edge of the brain).

    Parameters
    ----------
    coarse : numpy.ndarray, shape (nx, ny, nz)
        The image averaged into blocks of about 2 mm (RAS).
    head : numpy.ndarray of bool, shape (nx, ny, nz)
        :func:`head_mask`.
    seed : numpy.ndarray of bool, shape (nx, ny, nz)
        :func:`seed_zone`.
    zooms : tuple of 3 floats
        Block size (mm).
    name : str
        Names the image in error messages.
    level : float, optional
        Threshold of the candidate voxels; default half the Otsu threshold of the head's
        intensities.

    Returns
    -------
    inner : numpy.ndarray of bool, shape (nx, ny, nz)
        The core dilated back by ``_ERODE_MM`` within the candidate voxels, filled: it stays
        inside the skull.
    grown : numpy.ndarray of bool, shape (nx, ny, nz)
        ``inner`` grown by up to ``_GROW_MM`` into tissue brighter than ``_GROW_LEVEL`` of its
        median (thin or darker gyri at the skull base); it may reach into an orbit through its
        thin roof.

    Raises
    ------
    DefaceError
        If there is no head or no tissue deep enough in its upper half.
    """
    tissue = coarse[head]
    if tissue.size < 100:
        raise DefaceError(f"{name}: found no head (almost every voxel is background)")
    level = 0.5 * threshold_otsu(tissue) if level is None else level
    neck = np.zeros(head.shape, bool)
    neck[:, :, : np.nonzero(head.any(axis=(0, 1)))[0][0] + int(_NECK_MM / zooms[2]) + 1] = True
    scalp = head & ~deeper(head, _SCALP_MM, zooms)
    cand, core, used, smooth = _core_that_stays_inside(coarse, head, seed, zooms, name, level,
                                                       neck, scalp)
    brain = _dilated_back(core, cand, zooms)
    # recover thin or darker edges (orbital gyri, temporal poles, bias): grow into tissue brighter
    # than CSF, at most _GROW_MM further
    loose = head & (coarse > _GROW_LEVEL * np.median(coarse[brain]))
    if smooth:
        loose &= (coarse > used) & ~scalp
    steps = max(1, int(round(_GROW_MM / min(zooms))))
    grown = ndi.binary_fill_holes(ndi.binary_dilation(brain, iterations=steps, mask=loose))
    if smooth:
        grown = head & within(grown, _BLURRED_EDGE_MM, zooms)
    return brain, grown


def _core_that_stays_inside(coarse, head, seed, zooms, name, level, neck, scalp):
    """The candidates and core of :func:`_brain_core` at ``level``, or at the first raised
    level whose core leaks neither into ``neck`` nor (after a flood) into ``scalp``; with the
    level used and whether the image is smooth (flooded, and raised one step more)."""
    cand, core = _brain_core(coarse, head, seed, zooms, name, level)
    flooded = ((core & scalp).any()
               and _dilated_back(core, cand, zooms).sum() * np.prod(zooms) / 1000
               > PLAUSIBLE_BRAIN_ML[1])
    leaked = neck | scalp if flooded else neck
    used = level
    if (core & leaked).any():
        for attempt in range(1, (_FLOOD_TRIES if flooded else _RAISE_TRIES) + 1):
            try:
                higher = _brain_core(coarse, head, seed, zooms, name, level * _RAISE ** attempt)
            except DefaceError:     # raised past the brain
                break
            if not (higher[1] & leaked).any():
                (cand, core), used = higher, level * _RAISE ** attempt
                break
    smooth = flooded and used > level
    if smooth:
        try:
            cand, core = _brain_core(coarse, head, seed, zooms, name, used * _RAISE)
        except DefaceError:     # raised past the brain: keep the core that came apart
            pass
    return cand, core, used, smooth


def _dilated_back(core, cand, zooms) -> np.ndarray:
    """``core`` dilated back by ``_ERODE_MM`` within the candidate voxels ``cand``, filled."""
    return ndi.binary_fill_holes(within(core, _ERODE_MM, zooms) & cand)


def _brain_core(coarse, head, seed, zooms, name, level) -> tuple[np.ndarray, np.ndarray]:
    """The candidate voxels (head brighter than ``level``) and the brain's core: the part of
    them eroded by ``_ERODE_MM`` with most voxels in ``seed``."""
    cand = head & (coarse > level)
    core = deeper(cand, _ERODE_MM, zooms)
    labels, n = ndi.label(core)
    score = np.bincount(labels[seed], minlength=n + 1)
    score[0] = 0
    if n == 0 or score.max() == 0:
        raise DefaceError(f"{name}: found no brain (no tissue more than {_DEEP_MM:.0f} mm deep "
                          "inside the head); is this a whole head?")
    return cand, labels == score.argmax()


def check_t1_contrast(coarse, head, brain, zooms, name) -> None:
    """Refuse images where the band around the brain (CSF, skull) is not darker than it.

    Parameters
    ----------
    coarse, head, brain : numpy.ndarray, shape (nx, ny, nz)
        The coarse image, :func:`head_mask` and the grown estimate of :func:`brain_mask`.
    zooms : tuple of 3 floats
        Block size (mm).
    name : str
        Names the image in the message.

    Raises
    ------
    DefaceError
        If the median of the head within 6 mm outside the brain is not below 0.8 times the
        brain's median (not T1-weighted).
    """
    ring = head & within(brain, 6.0, zooms) & ~brain
    ratio = np.median(coarse[ring]) / np.median(coarse[brain])
    if not ratio < 0.8:
        raise DefaceError(
            f"{name}: not a T1-weighted head: the CSF and skull around the brain estimate are "
            f"not darker than the brain (median ratio {ratio:.2f}, expected below 0.8)")


def protected_brain(coarse, head, seed, brain, zooms) -> np.ndarray:
    """The brain estimate completed for protection (step 2b of
    :mod:`refacing_lib.anonymize.deface`).

    Parameters
    ----------
    coarse, head, seed, brain : numpy.ndarray, shape (nx, ny, nz)
        The coarse image, :func:`head_mask`, :func:`seed_zone` and the grown estimate of
        :func:`brain_mask`.
    zooms : tuple of 3 floats
        Block size (mm).

    Returns
    -------
    numpy.ndarray of bool, shape (nx, ny, nz)
        What must not change (before the margin of
        ``refacing_lib.anonymize.deface.BRAIN_MARGIN_MM``): the estimate, the brain found again
        (:func:`brain_mask`, ``_REFIT_PAD_MM`` around the estimate) in ``coarse`` divided by
        :func:`_bias_field` unless that adds more than ``_REFIT_MAX_ML`` (it leaked out of the
        skull), and the mirror image of both about the middle of the head's left-right extent where
        it lies above the brow (:func:`_brow`) and within ``_MIRROR_REACH_MM`` of them (a leak into
        one orbit is not copied to the other).
    """
    box = bounding_box(brain, zooms, _REFIT_PAD_MM)
    corrected = coarse[box] / _bias_field(coarse, brain, zooms, box)
    guard = brain.copy()
    try:
        level = 0.5 * threshold_otsu(corrected[head[box]])
        again = brain_mask(corrected, head[box], seed[box], zooms, "", level)[1]
    except (DefaceError, ValueError):     # nothing found again: the estimate alone
        again = brain[box]
    if (again & ~brain[box]).sum() * np.prod(zooms) / 1000 <= _REFIT_MAX_ML:
        guard[box] |= again
    xs = np.nonzero(head.any(axis=(1, 2)))[0]
    source = xs[0] + xs[-1] - np.arange(head.shape[0])      # mirror of each sagittal slice
    inside = (source >= 0) & (source < head.shape[0])
    mirrored = np.zeros_like(guard)
    mirrored[inside] = guard[source[inside]]
    mirrored[:, :, : _brow(brain)] = False
    return guard | (mirrored & head & within(guard, _MIRROR_REACH_MM, zooms))


def _bias_field(coarse, brain, zooms, box) -> np.ndarray:
    """Smooth multiplicative bias over ``coarse[box]``, estimated from the brain estimate.

    A quadratic in the three coordinates (mm from the brain's centroid, in units of
    ``_BIAS_SCALE_MM``) is fitted to the log intensity of the brain's brighter ``_BIAS_KEEP``
    (refitted three times to the voxels above the lower residuals: white matter, whatever the
    shading); the field is normalised to 1 at the brain's median and limited to
    ``exp(+-_BIAS_MAX)``.
    """
    idx = np.nonzero(brain)
    centre = [i.mean() for i in idx]

    def terms(coords):
        u = [(c - m) * z / _BIAS_SCALE_MM for c, m, z in zip(coords, centre, zooms)]
        return [u[0] ** 0, u[0], u[1], u[2], u[0] * u[0], u[1] * u[1], u[2] * u[2],
                u[0] * u[1], u[0] * u[2], u[1] * u[2]]

    design = np.stack(terms(idx), axis=-1)
    value = np.log(np.maximum(coarse[idx], 1e-6 * coarse.max()))
    keep = np.ones(value.shape, bool)
    for _ in range(3):
        coef = np.linalg.lstsq(design[keep], value[keep], rcond=None)[0]
        residual = value - design @ coef
        keep = residual > np.quantile(residual, 1 - _BIAS_KEEP)
    offset = np.median(design @ coef)
    grid = np.ogrid[tuple(box)]
    log_bias = sum(c * t for c, t in zip(coef, terms(grid))) - offset
    return np.exp(np.clip(log_bias, -_BIAS_MAX, _BIAS_MAX))


def _brow(brain: np.ndarray) -> int:
    """Axis-2 index of the lowest point of the front 15% of the brain (at or below the brow of
    :func:`refacing_lib.anonymize.face_region.face_region`, which ignores thin spurs)."""
    ys, zs = np.nonzero(brain.any(axis=0))
    front, back = ys.max(), ys.min()
    return int(zs[ys > front - 0.15 * (front - back)].min())


def within(mask: np.ndarray, mm: float, zooms) -> np.ndarray:
    """Voxels within ``mm`` millimetres of ``mask`` (bool, 3-D; ``zooms``: voxel size in mm).

    The distance transform runs over the bounding box of ``mask`` grown by ``mm``, which holds
    every such voxel.
    """
    out = np.zeros(mask.shape, bool)
    box = bounding_box(mask, zooms, mm + max(zooms))
    if box is not None:
        out[box] = ndi.distance_transform_edt(~mask[box], sampling=zooms) <= mm
    return out


def deeper(mask: np.ndarray, mm: float, zooms) -> np.ndarray:
    """Voxels of ``mask`` (bool, 3-D) more than ``mm`` millimetres from any voxel outside it.

    Voxels beyond the array's border do not count (a head cut by the field of view is not
    shallow at the cut): the distance transform runs over the bounding box of ``mask`` grown by
    one voxel, a rim that lies outside ``mask`` except where the array's border clips it.
    ``zooms`` is the voxel size (mm).
    """
    out = np.zeros(mask.shape, bool)
    box = bounding_box(mask, zooms, min(zooms))
    if box is not None:
        out[box] = ndi.distance_transform_edt(mask[box], sampling=zooms) > mm
    return out


def bounding_box(mask: np.ndarray, zooms, pad_mm: float):
    """Slices of the bounding box of ``mask`` (bool, 3-D, voxel size ``zooms`` in mm) grown by
    ``pad_mm`` on every side and clipped to the array; None if ``mask`` is empty."""
    if not mask.any():
        return None
    box = []
    for axis, z in enumerate(zooms):
        hit = np.nonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))[0]
        pad = int(np.ceil(pad_mm / z))
        box.append(slice(max(hit[0] - pad, 0), min(hit[-1] + pad + 1, mask.shape[axis])))
    return tuple(box)


def largest_part(mask: np.ndarray) -> np.ndarray:
    """The largest (6-)connected part of ``mask`` (``mask`` itself if it is empty)."""
    labels, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == sizes.argmax()


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill holes in 3-D and in every slice along each axis (closes open air cavities)."""
    for axis in range(3):
        moved = np.moveaxis(mask, axis, 0)
        mask = np.moveaxis(np.stack([ndi.binary_fill_holes(s) for s in moved]), 0, axis)
    return ndi.binary_fill_holes(mask)


def closing(mask: np.ndarray, steps: int) -> np.ndarray:
    """Binary closing by ``steps`` voxels; the mask continues beyond the array's border (a
    head cut by the field of view is not eroded from the cut)."""
    padded = np.pad(mask, steps, mode="edge")
    return ndi.binary_closing(padded, iterations=steps)[(slice(steps, -steps),) * 3]
