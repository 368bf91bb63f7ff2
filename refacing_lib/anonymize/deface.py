"""Face anonymization: blurring (like mask_face) and removal (like mri_deface),
from the image alone.

The paper attacks two anonymizations of T1 heads. Neither original tool runs without MATLAB,
FSL or FreeSurfer, so the course implements both ideas here:

* ``"blur"`` smears a layer of about 8 mm on each side of the skin over the face along the
  surface (mask_face, used by the Human Connectome Project);
* ``"remove"`` sets the face and the tissue in front of and below the brain case to 0
  (mri_deface, used by the 1000 Functional Connectomes Project).

Both find the head, the brain and the face in the image itself (:func:`find_face`); they never
read a ground truth. How (all lengths in millimetres, so any voxel size works):

1. **Head** and 2. **brain**, with 2b. a **protected zone** around the brain that is never
   changed: :mod:`refacing_lib.anonymize.head_masks` describes how they are found.
3. **Face region** (sagittal, applied to every sagittal slice): from 14 mm above the brow down
   to 14 mm below the chin (where the head's anterior profile recedes by 20 mm; in a field of
   view cut above the chin, where the cut recedes by 40 mm), and from the anterior profile back
   by 57-58 mm at the eyes, 79-88 mm at the nose, 77-83 mm at the mouth, narrowing to 41 mm
   140 mm below the brow (``_DEPTH_TABLE`` of :mod:`.face_region`). The profile is never taken
   more than 40 mm behind the most anterior point above it, and under the chin the chin's depth
   is kept, so that a cut edge of the field of view does not carry the region backwards. Nor
   does the region reach behind the posterior wall of the pharynx (or deeper than 40 mm where
   that wall is closer to the profile, as the larynx under the chin): the airway is the dark
   (air) part of the midline that leaves the field of view through the neck and runs up at
   least 30 mm, the most anterior such part (the spinal canal lies behind it), its wall coming
   forward at most 10 mm going up (the roof of the nasal cavity slopes into the face). A
   shallow face would otherwise lose the muscles in front of the spine. The brow is the lowest
   level where the front 15% of the brain estimate *before* its growth into darker tissue is at
   least 100 mm^2 in cross-section: the grown estimate can reach into an orbit.

It refuses (:class:`DefaceError`) to deface an image in which it cannot find those: a
brain-only (skull-stripped) image, a head cut above the nose, an image that is not T1-weighted
(the brain must be brighter than the CSF and skull around it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from refacing_lib.blocks import block_mean
from refacing_lib.data.io import Volume

from .face_region import airway_wall, face_region
from .head_masks import (
    PLAUSIBLE_BRAIN_ML,
    DefaceError,
    bounding_box,
    brain_mask,
    check_t1_contrast,
    closing,
    fill_holes,
    head_mask,
    protected_brain,
    seed_zone,
    within,
)

__all__ = ["BRAIN_MARGIN_MM", "BLUR_LAYER_MM", "METHODS", "DefaceError", "FaceFinding",
           "check_methods", "deface", "find_face"]

#: The anonymization methods of :func:`deface`.
METHODS = ("blur", "remove")
#: Nothing closer than this to the brain estimate is changed (mm).
BRAIN_MARGIN_MM = 4.0
#: Half-thickness of the blurred layer on each side of the skin (mm), as mask_face's default.
BLUR_LAYER_MM = 8.0

_SURFACE_MM = 10.0      # smoothing of the skin surface that the blur follows
_SMEAR_MM = 10.0       # Gaussian blur along the surface
_SHELL_MM = 2.0        # spacing of the depth shells
_ACROSS_MM = 3.0       # Gaussian mixing across shells (along the surface normal)
_CLOSE_MM = 10.0       # closing that shuts nostrils and mouth before measuring depth
_BLOCK_MM = 2.0        # working resolution of the mask steps
_MIN_FACE_ML = 150.0   # head tissue in the face region below which there is no face to work on


@dataclass(frozen=True)
class FaceFinding:
    """What :func:`find_face` found in one volume (RAS arrays, same shape as the volume).

    Attributes
    ----------
    head : numpy.ndarray of bool, shape (nx, ny, nz)
        Inside the skin (filled, air cavities included).
    brain : numpy.ndarray of bool, shape (nx, ny, nz)
        The brain estimate (cerebrum, usually the brainstem), at the ~2 mm working resolution.
    protected : numpy.ndarray of bool, shape (nx, ny, nz)
        Within :data:`BRAIN_MARGIN_MM` of ``brain``, of the brain found again after a bias
        correction, or of their mirror image just around them above the brow: never changed.
    face_region : numpy.ndarray of bool, shape (ny, nz)
        Sagittal (posterior->anterior, inferior->superior) region of the face; it applies to
        every sagittal slice ``data[i]``.
    landmarks : dict of str -> float
        ``frontal_pole_mm`` and ``occipital_pole_mm`` (axis-1 position, mm from voxel 0),
        ``brow_mm`` and ``chin_mm`` (axis-2 positions of the frontal lobe's floor and of the
        lower end of the face, mm from voxel 0), ``face_ml`` (head tissue in the face region,
        millilitres) and ``brain_ml``.
    """

    head: np.ndarray
    brain: np.ndarray
    protected: np.ndarray
    face_region: np.ndarray
    landmarks: dict


def find_face(volume: Volume) -> FaceFinding:
    """Find the head, the brain and the face region of a T1-weighted head.

    Parameters
    ----------
    volume : Volume
        A RAS volume from :func:`refacing_lib.data.io.load_volume` (any shape and voxel size; the
        head must include the face).

    Returns
    -------
    FaceFinding

    Raises
    ------
    DefaceError
        If there is no head, no brain of plausible size, no T1 contrast around the brain or no
        face in front of it. The message names the file.
    """
    name = str(volume.path) if volume.path is not None else "volume"
    factors = _block_factors(volume.zooms)
    coarse = block_mean(volume.data, factors)
    zc = tuple(z * f for z, f in zip(volume.zooms, factors))
    air_level = 0.5 * threshold_otsu(coarse)        # head / air
    head_c = head_mask(coarse, air_level)
    seed_c = seed_zone(head_c, zc)
    inner_c, brain_c = brain_mask(coarse, head_c, seed_c, zc, name)
    brain_ml = brain_c.sum() * np.prod(zc) / 1000
    low, high = PLAUSIBLE_BRAIN_ML
    if not low <= brain_ml <= high:
        raise DefaceError(
            f"{name}: found no brain of plausible size (estimate {brain_ml:.0f} ml, expected "
            f"{low:.0f}-{high:.0f} ml); is this a T1-weighted whole head?")
    check_t1_contrast(coarse, head_c, brain_c, zc, name)
    near_c = within(protected_brain(coarse, head_c, seed_c, brain_c, zc), BRAIN_MARGIN_MM, zc)
    head = _upsample(head_c, factors, volume.shape)
    brain = _upsample(brain_c, factors, volume.shape)
    protected = _upsample(near_c, factors, volume.shape)
    inner_count = _upsample(inner_c.sum(axis=0, keepdims=True) * factors[0], (1, *factors[1:]),
                            (1, *volume.shape[1:]))[0]
    airway = _upsample(airway_wall(coarse, head_c, air_level, zc), factors[2:], volume.shape[2:])
    region, marks = face_region(inner_count, head.any(axis=0), airway, volume.zooms)
    face_ml = (head & region[None] & ~protected).sum() * np.prod(volume.zooms) / 1000
    marks.update(face_ml=float(face_ml), brain_ml=float(brain_ml))
    if face_ml < _MIN_FACE_ML:
        raise DefaceError(
            f"{name}: found no face in front of the brain ({face_ml:.0f} ml of head tissue in "
            f"the face region, expected at least {_MIN_FACE_ML:.0f} ml); the image may be "
            "brain-only, cut above the nose, or already defaced")
    return FaceFinding(head=head, brain=brain, protected=protected, face_region=region,
                       landmarks=marks)


def deface(volume: Volume, method: str, finding: FaceFinding | None = None
           ) -> tuple[Volume, np.ndarray]:
    """Anonymize the face of a T1-weighted head.

    Parameters
    ----------
    volume : Volume
        RAS volume from :func:`refacing_lib.data.io.load_volume`.
    method : {"blur", "remove"}
        ``"blur"`` smears the layer within :data:`BLUR_LAYER_MM` of the skin over the face
        along the surface; ``"remove"`` sets the face region to 0.
    finding : FaceFinding, optional
        The result of :func:`find_face` on ``volume`` (computed if not given).

    Returns
    -------
    defaced : Volume
        Same shape, affine and path as ``volume``; float32 intensities.
    changed : numpy.ndarray of bool, shape (nx, ny, nz)
        The voxels whose value differs from ``volume.data``.

    Raises
    ------
    ValueError
        For an unknown ``method``.
    DefaceError
        From :func:`find_face`.
    """
    check_methods([method])
    finding = finding or find_face(volume)
    data = volume.data.copy()
    if method == "remove":
        data[finding.face_region[None] & ~finding.protected] = 0
    else:
        _blur_face(data, finding, volume.zooms)
    changed = data != volume.data
    return replace(volume, data=data), changed


def check_methods(methods) -> None:
    """Raise ValueError unless ``methods`` names at least one method, all of :data:`METHODS`."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got "
                         f"{', '.join(map(repr, unknown)) or 'none'}")


# ---- masks ------------------------------------------------------------------------------------

def _block_factors(zooms) -> tuple[int, int, int]:
    """Voxels per block along each axis for blocks of about ``_BLOCK_MM``.

    Along the inferior-superior axis (axis 2) a block is never thicker than ``_BLOCK_MM``: the
    orbital roof and the skull base are thin horizontal plates of dark bone, and a 2.4 mm block
    (two 1.2 mm voxels) averages them with the bright tissue on both sides, so that the brain
    estimate leaks through them into the orbits or the neck.
    """
    left_right, front_back = (max(1, int(round(_BLOCK_MM / z))) for z in zooms[:2])
    return left_right, front_back, max(1, int(_BLOCK_MM / zooms[2] + 1e-6))


def _upsample(mask: np.ndarray, factors, shape) -> np.ndarray:
    """Nearest-neighbour inverse of :func:`refacing_lib.blocks.block_mean` for a mask (or any
    array with an axis per factor), padded to ``shape`` with its last block."""
    up = mask
    for axis, f in enumerate(factors):
        up = np.repeat(up, f, axis=axis)
    pad = [(0, s - u) for s, u in zip(shape, up.shape)]
    return np.pad(up, pad, mode="edge")


# ---- the face region --------------------------------------------------------------------------


# ---- blurring ---------------------------------------------------------------------------------

def _blur_face(data: np.ndarray, finding: FaceFinding, zooms) -> None:
    """Smear the skin layer of the face region along the surface, in place.

    The zone is the face region, continued below its lowest row down to the edge of the image
    (like mask_face's face box, which reaches into the neck: a zone ending under the chin would
    leave a step in the surface there), less the protected voxels. The layer is every voxel of
    the zone within :data:`BLUR_LAYER_MM` of the skin, inside or outside. Like mask_face, it
    is blurred along a *smoothed* skin surface (the signed depth smoothed by ``_SURFACE_MM``):
    voxels are sorted into shells by their depth below that surface (hat weights,
    ``_SHELL_MM`` apart), each shell is blurred with a Gaussian of ``_SMEAR_MM`` restricted
    to the shell (normalised convolution, on a grid of half the resolution), and each voxel
    takes the blurred values of its two nearest shells. Air inside the head (darker than half
    the layer's median tissue: nasal cavity, mouth) is left out of those averages and gets the
    smeared tissue's value. Nose, lips and eyelids stand out of the smoothed surface, so they
    are smeared into the air and the cheeks around them; deeper tissue is untouched.
    """
    zone = finding.face_region.copy()
    lowest = np.nonzero(zone.any(axis=0))[0][0]
    zone[:, :lowest] = zone[:, lowest, None]
    layer_zone = zone[None] & ~finding.protected
    box = bounding_box(layer_zone & finding.head, zooms, BLUR_LAYER_MM + _SMEAR_MM)
    if box is None:
        return
    sub = data[box]                      # a view: writing it writes ``data``
    factors = _block_factors(zooms)      # the head mask is only that fine anyway
    czooms = [z * f for z, f in zip(zooms, factors)]
    head = _closed_head(block_mean(finding.head[box].astype(np.float32), factors) > 0.5)
    # signed depth below the skin (mm); the head continues beyond the box and the field of view
    pad = [int(np.ceil((BLUR_LAYER_MM + _SURFACE_MM) / z)) for z in czooms]
    padded = np.pad(head, [(p, p) for p in pad], mode="edge")
    inner = tuple(slice(p, p + n) for p, n in zip(pad, head.shape))
    coarse_depth = (ndi.distance_transform_edt(padded, sampling=czooms)
                    - ndi.distance_transform_edt(~padded, sampling=czooms))[inner]
    depth = ndi.zoom(coarse_depth, [n / c for n, c in zip(sub.shape, head.shape)], order=1,
                     mode="nearest", grid_mode=True)
    layer = layer_zone[box] & (np.abs(depth) <= BLUR_LAYER_MM)
    smooth_depth = ndi.gaussian_filter(coarse_depth, [_SURFACE_MM / z for z in czooms])
    # air inside the head (nasal cavity, mouth) is left out of the averages and filled: smeared
    # into the tissue, it would dim the layer to about half the skin's contrast, and the skin's
    # shape would reappear at the layer's inner edge, 8 mm deep, or anywhere in between
    tissue = depth > 0
    cavity = tissue & (sub < 0.5 * np.median(sub[layer & tissue]))
    kept = layer & ~cavity
    coarse_layer = block_mean(kept.astype(np.float32), factors)
    coarse_value = block_mean(sub * kept, factors)
    sigma = [_SMEAR_MM / z for z in czooms]
    idx = np.nonzero(layer)
    coords = np.stack([(i - (f - 1) / 2) / f for i, f in zip(idx, factors)])
    d = ndi.map_coordinates(smooth_depth, coords, order=1, mode="nearest")
    new = np.zeros(d.shape, np.float32)
    total = np.zeros(d.shape, np.float32)
    first, last = np.floor(d.min() / _SHELL_MM), np.ceil(d.max() / _SHELL_MM)
    for centre in np.arange(first, last + 1) * _SHELL_MM:
        shell = np.exp(-0.5 * ((smooth_depth - centre) / _ACROSS_MM) ** 2) * coarse_layer
        num = ndi.gaussian_filter(coarse_value * shell, sigma, truncate=2.5)
        den = ndi.gaussian_filter(shell, sigma, truncate=2.5)
        ratio = num / np.maximum(den, 1e-6)
        weight = np.clip(1 - np.abs(d - centre) / _SHELL_MM, 0, None)
        near = weight > 0
        if near.any():
            new[near] += weight[near] * ndi.map_coordinates(ratio, coords[:, near], order=1,
                                                            mode="nearest")
            total[near] += weight[near]
    sub[idx] = new / np.maximum(total, 1e-6)


def _closed_head(head: np.ndarray) -> np.ndarray:
    """A ~2 mm head mask with nostrils and mouth closed (closing by ``_CLOSE_MM``, filled)."""
    return head | fill_holes(closing(head, int(round(_CLOSE_MM / _BLOCK_MM))))


