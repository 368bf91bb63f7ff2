"""The face region of a head, in one sagittal plane: where the face lies in front of and below
the brain, step 3 of :mod:`refacing_lib.anonymize.deface` (see its description). Arrays are
RAS, lengths in millimetres.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["airway_wall", "face_region", "chin_level"]

# Depth of the face behind the head's anterior profile (mm) against height above the brow (mm)
_DEPTH_TABLE = ([-140.0, -110.0, -90.0, -60.0, -45.0, -30.0, -20.0, 20.0],
                [41.0, 77.0, 77.0, 83.0, 88.0, 79.0, 58.0, 57.0])
_BROW_AREA_MM2 = 100.0  # the brow is the lowest level where the front brain is this large
_BROW_UP_MM = 14.0     # the face region reaches this far above the brow
_CHIN_DROP_MM = 20.0   # below the chin the profile recedes by more than this
_BELOW_CHIN_MM = 14.0  # the face region reaches this far below the chin
_RECEDE_MM = 40.0      # below the brow, a profile this far behind the front is no longer face
_MIDLINE_MM = 4.0      # the airway is looked for this far on each side of the midline
_AIRWAY_MIN_MM = 30.0  # ... in a dark part that runs up at least this far from the lowest level
_AIRWAY_SLACK_MM = 10.0  # ... whose posterior wall comes forward at most this much going up
_AIRWAY_MIN_DEPTH_MM = 40.0  # ... and where it is closer to the profile, the face ends this deep


def airway_wall(coarse, head, level, zooms) -> np.ndarray:
    """Posterior wall of the pharyngeal airway (mm along axis 1) at each axis-2 level of
    ``coarse``; NaN where it was not found.

    In a slab of ``_MIDLINE_MM`` on each side of the middle of the head's left-right extent
    (averaged), the airway is the part of the head darker than ``level`` (air) that reaches the
    head's two lowest levels, as the pharynx leaves the field of view through the neck, and
    runs up at least ``_AIRWAY_MIN_MM`` from there; of several such parts, the most anterior
    there (the spinal canal lies behind the airway). Its wall at each level is the position of
    its most posterior block there (mm from voxel 0 to the block's first voxel), but at most
    ``_AIRWAY_SLACK_MM`` in front of the most posterior wall below that level.
    """
    wall = np.full(coarse.shape[2], np.nan)
    xs = np.nonzero(head.any(axis=(1, 2)))[0]
    middle, half = (xs[0] + xs[-1]) // 2, max(1, int(round(_MIDLINE_MM / zooms[0])))
    slab = slice(max(middle - half, 0), middle + half + 1)
    labels, _ = ndi.label(head[slab].all(axis=0) & (coarse[slab].mean(axis=0) < level))
    low = np.nonzero(head.any(axis=(0, 1)))[0][0]
    bottom = labels[:, low: low + 2]
    spans = ndi.find_objects(labels)
    parts = [p for p in np.unique(bottom[bottom > 0])
             if (spans[p - 1][1].stop - spans[p - 1][1].start) * zooms[2] >= _AIRWAY_MIN_MM]
    if parts:
        air = labels == max(parts, key=lambda p: np.nonzero(bottom == p)[0].mean())
        levels = np.nonzero(air.any(axis=0))[0]
        back = np.argmax(air[:, levels], axis=0) * zooms[1]
        # going up, the wall never comes forward more than _AIRWAY_SLACK_MM: where the air
        # reaches into the nasal cavity, the cavity's roof slopes forward into the face
        wall[levels] = np.minimum(back, np.minimum.accumulate(back) + _AIRWAY_SLACK_MM)
    return wall


def face_region(brain_count: np.ndarray, head2d: np.ndarray, airway: np.ndarray, zooms
                 ) -> tuple[np.ndarray, dict]:
    """Sagittal face region, shape (ny, nz), from the brain's and head's sagittal projections.

    ``brain_count`` (ny, nz) holds the number of brain voxels along axis 0, ``head2d`` (ny, nz)
    whether the head is there, ``airway`` (nz,) the posterior wall of the airway
    (:func:`airway_wall`, mm along axis 1, NaN where none). The region lies below the brow plus
    ``_BROW_UP_MM``, above the chin minus ``_BELOW_CHIN_MM``, and within ``_DEPTH_TABLE`` mm
    behind the head's anterior profile at each height (a profile at most ``_RECEDE_MM`` behind
    the most anterior point above it, and under the chin no deeper than at the chin: the
    receding neck or a cut edge of the field of view does not carry the region backwards).
    Where an airway was found, the region ends at its posterior wall (in front of the
    prevertebral muscles and the spine), or ``_AIRWAY_MIN_DEPTH_MM`` behind the profile where
    the wall is closer to it than that (the larynx under the chin). The brow is the lowest
    level where the front 15% of the brain is at least ``_BROW_AREA_MM2`` in cross-section: a
    thin spur that the estimate grew into an orbit does not pull it down.
    """
    zx, zy, zz = zooms
    ys, zs = np.nonzero(brain_count)
    front, back = ys.max() * zy, ys.min() * zy
    frontal = np.arange(brain_count.shape[0]) * zy > front - 0.15 * (front - back)
    area = brain_count[frontal].sum(axis=0) * zx * zy
    large = np.nonzero(area >= _BROW_AREA_MM2)[0]
    brow = (large[0] if large.size else zs[np.isin(ys, np.nonzero(frontal)[0])].min()) * zz
    Y = (np.arange(brain_count.shape[0]) * zy)[:, None]
    Z = np.arange(brain_count.shape[1]) * zz
    has = head2d.any(axis=0)
    profile = np.where(has, (head2d.shape[0] - 1 - np.argmax(head2d[::-1], axis=0)) * zy, 0.0)
    chin = chin_level(profile, Z, brow)
    # below the brow the profile that the depth is measured from never lies more than
    # _RECEDE_MM behind the most anterior point above it: a cut edge of the field of view that
    # slopes backwards would otherwise carry the region back with it
    under = np.nonzero(Z < brow)[0][::-1]
    profile[under] += np.maximum(_recession(profile, under) - _RECEDE_MM, 0.0)
    limit = profile - np.interp(Z - brow, *_DEPTH_TABLE)      # back edge of the face (mm)
    limit[Z < chin] = limit[np.argmin(np.abs(Z - chin))]     # under the chin, the chin's edge
    # not behind the airway, nor deeper than _AIRWAY_MIN_DEPTH_MM where the airway lies closer to
    # the front (no comparison with NaN holds: where there is no airway, the limit stays)
    stop = np.minimum(airway, profile - _AIRWAY_MIN_DEPTH_MM)
    limit = np.where(stop > limit, stop, limit)
    region = ((Z < brow + _BROW_UP_MM) & (Z > chin - _BELOW_CHIN_MM))[None, :] & (
        Y > limit[None, :])
    marks = dict(frontal_pole_mm=float(front), occipital_pole_mm=float(back),
                 brow_mm=float(brow), chin_mm=float(chin))
    return region, marks


def chin_level(profile: np.ndarray, Z: np.ndarray, brow: float) -> float:
    """Height (mm) of the lower end of the face.

    Going down from 70 mm below the brow (under the nose), the chin is the first level where the
    anterior profile lies ``_CHIN_DROP_MM`` behind the most anterior point seen so far. A field
    of view that ends above the chin has no such level; there the face ends where the head's
    profile, going down from the brow, lies ``_RECEDE_MM`` behind the most anterior point seen
    so far (an oblique cut: the region would otherwise follow the cut edge back under the
    cerebellum), or else at the lowest level within 170 mm of the brow.
    """
    def first_recess(levels, drop):
        receded = np.nonzero(_recession(profile, levels) > drop)[0]
        return float(Z[levels[receded[0]]]) if receded.size else None

    below = np.nonzero((Z < brow) & (Z > brow - 170.0))[0][::-1]
    chin = first_recess(below[Z[below] < brow - 70.0], _CHIN_DROP_MM)
    if chin is None and below.size:
        chin = first_recess(below, _RECEDE_MM)
    if chin is None:
        chin = float(Z[below[-1]]) if below.size else float(Z[0])
    return chin


def _recession(profile: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """How far (mm) the anterior ``profile`` lies behind its most anterior point so far, going
    through ``levels`` (indices, in that order)."""
    return np.maximum.accumulate(profile[levels]) - profile[levels]
