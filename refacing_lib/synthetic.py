"""A synthetic, IXI-like cohort of T1-weighted MRI heads with ground truth.

The real IXI data (about 4.5 GB) cannot always be downloaded, so the course ships a generator of
heads that look like IXI T1 volumes to the code that reads them:

* the same file names (``IXI{id:03d}-{site}-{num:04d}-T1.nii.gz``), the same storage (int16,
  array shape (256, 256, 150) or (256, 256, 146) for IOP, voxels 0.9375 x 0.9375 x 1.2 mm,
  stored in the non-RAS axis order "PSR" so that reorientation is exercised);
* three "sites" with different intensity scale, contrast, noise and bias field;
* an anatomy that a radiologist recognises on a mid-sagittal slice: scalp, skull with diploe,
  folded cortex, corpus callosum, ventricles, cerebellum with arbor vitae, brainstem and cord,
  eyes, nose with nasal cavity and septum, lips, teeth, tongue, mandible, cervical spine, airway;
* at least 15 independent face-shape parameters per subject, so that faces differ and a rescan of
  the same subject (same parameters, new noise, slightly different pose) can be re-identified.

Ground truth (``brain``, ``face`` and ``head`` masks, and a JSON file with every parameter and the
pose) is a by-product of the same geometry; it is never needed to make the image.

Coordinates
-----------
Arrays returned by :func:`synthesize` are in **RAS** order (axis 0 left->right, axis 1
posterior->anterior, axis 2 inferior->superior), like :func:`refacing_lib.io.load_volume`
returns them. The anatomy is modelled in a *head frame* (millimetres, origin at the centre of
the cerebrum, x to the subject's right, y anterior, z superior); the pose (a pitch rotation about
the left-right axis and a translation) maps the head frame into the scanner frame, whose origin
is the centre of the field of view. Structures are described by approximate signed depths in mm
(positive inside) of ellipsoids, tubes and a facial height field; tissue layers follow from the
depths, and labels are painted outside-in (soft tissue, facial structures, spine, skull, brain).

Example
-------
>>> from refacing_lib.synthetic import sample_subject, synthesize
>>> params = sample_subject(0, "Guys")
>>> image, truth, affine = synthesize(params, scan_seed=1)        # doctest: +SKIP
>>> image.shape, truth["brain"].sum() * 1.2 * 0.9375**2 / 1000    # doctest: +SKIP
((150, 256, 256), 1250.0)
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from .io import save_volume
from .ixi import SITES as IXI_SITES

__all__ = [
    "SITES",
    "SITE_PROPORTIONS",
    "SITE_SHAPES",
    "VOXEL_SIZE",
    "STORAGE_ORIENTATION",
    "FACE_FIELDS",
    "HEAD_FIELDS",
    "SubjectParams",
    "Pose",
    "sample_subject",
    "sample_pose",
    "rescan_pose",
    "synthesize",
    "label_map",
    "LABELS",
    "head_to_scanner",
    "site_for_index",
    "cohort_entries",
    "make_cohort",
]

GENERATOR_VERSION = "refacing-synthetic-1"

SITES: tuple[str, ...] = tuple(IXI_SITES)
#: Number of T1 volumes per site in IXI (paper, Table 1); the cohort interleaves sites in this ratio.
SITE_PROPORTIONS: dict[str, int] = {site: facts["subjects"] for site, facts in IXI_SITES.items()}
#: Array shape in RAS order (left-right, posterior-anterior, inferior-superior) per site.
SITE_SHAPES: dict[str, tuple[int, int, int]] = {
    site: (facts["slices"], 256, 256) for site, facts in IXI_SITES.items()
}
#: Voxel size in mm along the RAS axes.
VOXEL_SIZE: tuple[float, float, float] = (1.2, 0.9375, 0.9375)
#: Axis order of the files on disk (nibabel axis codes): stored axes point to Posterior,
#: Superior and Right, the left-right axis last as in IXI.
STORAGE_ORIENTATION = "PSR"

# ----------------------------------------------------------------------------------------------
# tissue labels and their T1 intensities relative to white matter

# Numbered so that facial soft tissues (1..11) and brain tissues (19..27) are contiguous ranges;
# SKIN, FAT, MUSCLE and GM, WM are consecutive (the painter adds to them).
(AIR, SKIN, FAT, MUSCLE, VITREOUS, LENS, SCLERA, NERVE, CARTILAGE, MUCOSA, TONGUE, GLAND,
 BONE, MARROW, TEETH, CSF, CORD, DISC, PITUITARY,
 GM, WM, DEEP_GM, PALLIDUM, BRAINSTEM, CB_GM, CB_WM, VENT, SEPTUM, AIR_IN) = range(29)
N_LABELS = 29   # AIR_IN: air inside the head (sinuses, airway, mouth), AIR: outside
_FACE_RANGE = (SKIN, GLAND)
_BRAIN_RANGE = (GM, SEPTUM)

_BASE_T1 = np.zeros(N_LABELS, np.float32)
for _lab, _val in {
    AIR: 0.0, SKIN: 0.72, FAT: 1.18, MUSCLE: 0.47, BONE: 0.04, MARROW: 0.95, CSF: 0.17,
    GM: 0.66, WM: 1.0, DEEP_GM: 0.8, PALLIDUM: 0.88, BRAINSTEM: 0.9, CB_GM: 0.63, CB_WM: 0.95,
    VENT: 0.16, SEPTUM: 0.45, VITREOUS: 0.14, LENS: 0.7, SCLERA: 0.3, NERVE: 0.85,
    CARTILAGE: 0.5, TEETH: 0.03, MUCOSA: 0.6, TONGUE: 0.58, CORD: 0.88, DISC: 0.45,
    PITUITARY: 0.72, GLAND: 0.8, AIR_IN: 0.0,
}.items():
    _BASE_T1[_lab] = _val

_BRAIN_LABELS = (GM, WM, DEEP_GM, PALLIDUM, BRAINSTEM, CB_GM, CB_WM, VENT, SEPTUM)
_FACE_LABELS = (SKIN, FAT, MUSCLE, VITREOUS, LENS, SCLERA, NERVE, CARTILAGE, MUCOSA, TONGUE, GLAND)
assert sorted(_BRAIN_LABELS) == list(range(_BRAIN_RANGE[0], _BRAIN_RANGE[1] + 1))
assert sorted(_FACE_LABELS) == list(range(_FACE_RANGE[0], _FACE_RANGE[1] + 1))

# Site appearance: white-matter intensity, contrast changes (relative T1 of some tissues), Rician
# noise sigma relative to white matter, and bias-field strength (log-amplitude).
_SITE_LOOK = {
    "Guys": dict(wm=800.0, noise=0.028, bias=0.10,
                 t1={GM: 0.68, CSF: 0.20, FAT: 1.15, DEEP_GM: 0.82}),
    "HH": dict(wm=1500.0, noise=0.016, bias=0.22,
               t1={GM: 0.57, CSF: 0.11, FAT: 1.25, DEEP_GM: 0.74, MUSCLE: 0.42, CB_GM: 0.56}),
    "IOP": dict(wm=420.0, noise=0.035, bias=0.12,
                t1={GM: 0.73, CSF: 0.27, FAT: 0.98, MUSCLE: 0.55, MARROW: 0.82, SKIN: 0.62,
                    DEEP_GM: 0.84, VENT: 0.25, VITREOUS: 0.22}),
}

# ----------------------------------------------------------------------------------------------
# subject parameters

# name: (mean, sd, low, high); truncated normal draws, all independent.
_HEAD_SPEC = {
    "scale_x": (1.0, 0.025, 0.94, 1.06),            # head width factor
    "scale_y": (1.0, 0.025, 0.94, 1.06),            # head length factor
    "scale_z": (1.0, 0.02, 0.95, 1.05),             # head height factor
    "skull_thickness": (6.5, 0.7, 5.0, 8.5),        # mm, vault
    "scalp_thickness": (6.0, 0.7, 4.5, 8.0),        # mm, skin + fat + galea
    "csf_width": (2.6, 0.4, 1.8, 4.0),              # mm of CSF around the brain
    "ventricle_scale": (1.0, 0.15, 0.7, 1.5),       # lateral/third ventricle size factor
}
_FACE_SPEC = {
    "brow_ridge": (2.0, 1.0, 0.0, 5.0),             # mm, glabella prominence
    "nasion_depth": (7.0, 1.5, 4.0, 10.0),          # mm, nasion behind glabella
    "nose_length": (46.0, 3.0, 38.0, 54.0),         # mm, nasion to tip, vertical
    "nose_bridge_angle": (33.0, 2.5, 26.0, 40.0),   # degrees, dorsum from vertical
    "nose_projection": (17.0, 2.0, 12.0, 23.0),     # mm, tip in front of subnasale
    "nose_width": (34.0, 2.5, 28.0, 41.0),          # mm, alar width
    "nose_hump": (0.5, 1.0, -2.0, 3.5),             # mm, dorsal hump (negative: saddle)
    "upper_lip_thickness": (5.0, 1.2, 2.5, 8.0),    # mm, vermilion prominence
    "lower_lip_thickness": (6.0, 1.3, 3.0, 9.5),    # mm
    "chin_projection": (6.0, 2.0, 1.0, 11.0),       # mm, pogonion in front of sublabiale
    "face_height": (116.0, 4.0, 106.0, 125.0),      # mm, nasion to menton
    "cheek_fullness": (0.5, 0.2, 0.0, 1.0),         # 0 (hollow) .. 1 (full)
    "jaw_width": (49.0, 3.0, 42.0, 56.0),           # mm, half bigonial width
    "eye_spacing": (63.0, 3.0, 56.0, 70.0),         # mm, interpupillary distance
    "face_fat": (6.0, 1.5, 3.5, 10.0),              # mm, facial subcutaneous fat
}
HEAD_FIELDS: tuple[str, ...] = tuple(_HEAD_SPEC)
FACE_FIELDS: tuple[str, ...] = tuple(_FACE_SPEC)


@dataclass(frozen=True)
class SubjectParams:
    """Anatomy of one synthetic subject (what stays the same between two scans).

    All lengths are millimetres of a head with unit scale factors (the ``scale_*`` factors
    stretch the whole head, face included); angles are degrees. Draw with
    :func:`sample_subject`.

    Attributes
    ----------
    site : str
        "Guys", "HH" or "IOP": the scanner the subject is imaged on (appearance, array shape).
    folding_seed : int
        Seed of the subject's cortical folding and falx pattern.
    scale_x, scale_y, scale_z : float
        Head width, length and height factors (about 0.94-1.06).
    skull_thickness, scalp_thickness, csf_width : float
        mm.
    ventricle_scale : float
        Size factor of the ventricles.
    brow_ridge, nasion_depth, nose_length, nose_bridge_angle, nose_projection, nose_width,
    nose_hump, upper_lip_thickness, lower_lip_thickness, chin_projection, face_height,
    cheek_fullness, jaw_width, eye_spacing, face_fat : float
        The 15 independent face-shape parameters (:data:`FACE_FIELDS`); see ``_FACE_SPEC`` in the
        source for their means, spreads and ranges.
    """

    site: str
    folding_seed: int
    scale_x: float
    scale_y: float
    scale_z: float
    skull_thickness: float
    scalp_thickness: float
    csf_width: float
    ventricle_scale: float
    brow_ridge: float
    nasion_depth: float
    nose_length: float
    nose_bridge_angle: float
    nose_projection: float
    nose_width: float
    nose_hump: float
    upper_lip_thickness: float
    lower_lip_thickness: float
    chin_projection: float
    face_height: float
    cheek_fullness: float
    jaw_width: float
    eye_spacing: float
    face_fat: float

    def face_params(self) -> dict[str, float]:
        """The face-shape parameters as a dict (name -> value)."""
        return {name: getattr(self, name) for name in FACE_FIELDS}

    def head_params(self) -> dict[str, float]:
        """The head/brain parameters as a dict (name -> value)."""
        return {name: getattr(self, name) for name in HEAD_FIELDS}

    @classmethod
    def from_dict(cls, values: dict) -> "SubjectParams":
        """Rebuild parameters from :func:`dataclasses.asdict` output (e.g. read from JSON)."""
        return cls(**{f.name: values[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class Pose:
    """Rigid placement of the head in the scanner, relative to a centred nominal position.

    Attributes
    ----------
    pitch_deg : float
        Rotation about the left-right axis in degrees; positive tilts the face upwards (chin up).
    shift_mm : tuple of 3 floats
        Translation in mm along scanner x (left->right), y (posterior->anterior), z (up), added to
        the nominal placement (head centred in the field of view, top of the skull a few mm below
        its upper edge). The placement is clamped so that the skull top and the nose tip stay
        inside the field of view.
    """

    pitch_deg: float = 0.0
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _as_rng(seed_or_rng) -> np.random.Generator:
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)


def _draw(rng: np.random.Generator, spec: dict) -> dict[str, float]:
    out = {}
    for name, (mean, sd, lo, hi) in spec.items():
        out[name] = round(float(np.clip(rng.normal(mean, sd), lo, hi)), 4)
    return out


def sample_subject(seed_or_rng, site: str) -> SubjectParams:
    """Draw the anatomy of one subject.

    Parameters
    ----------
    seed_or_rng : int, numpy.random.SeedSequence or numpy.random.Generator
        Randomness; the same seed gives the same subject.
    site : str
        "Guys", "HH" or "IOP".

    Returns
    -------
    SubjectParams
        Head and face parameters (mm, degrees), each drawn independently from a truncated normal
        in a realistic adult range, plus the site and a cortical folding seed.
    """
    if site not in SITES:
        raise ValueError(f"unknown site {site!r}; expected one of {SITES}")
    rng = _as_rng(seed_or_rng)
    folding_seed = int(rng.integers(0, 2**31 - 1))
    head = _draw(rng, _HEAD_SPEC)
    face = _draw(rng, _FACE_SPEC)
    return SubjectParams(site=site, folding_seed=folding_seed, **head, **face)


def sample_pose(seed_or_rng) -> Pose:
    """A random head pose of a first scan: pitch ~ N(0, 4) deg within +-9, shifts within +-4 mm."""
    rng = _as_rng(seed_or_rng)
    pitch = float(np.clip(rng.normal(0.0, 4.0), -9.0, 9.0))
    shift = rng.uniform(-4.0, 4.0, 3)
    return Pose(round(pitch, 3), tuple(round(float(s), 3) for s in shift))


def rescan_pose(pose: Pose, seed_or_rng) -> Pose:
    """A slightly different pose for a rescan: pitch +-3 deg, each shift +-3 mm."""
    rng = _as_rng(seed_or_rng)
    pitch = float(np.clip(pose.pitch_deg + rng.uniform(-3.0, 3.0), -11.0, 11.0))
    shift = np.asarray(pose.shift_mm) + rng.uniform(-3.0, 3.0, 3)
    return Pose(round(pitch, 3), tuple(round(float(s), 3) for s in shift))


# ----------------------------------------------------------------------------------------------
# canonical anatomy (head frame, mm, origin at the centre of the cerebrum)

_AX, _AY, _AZ = 66.0, 84.0, 60.0          # cerebrum semi-axes
_CC_Y, _CC_Z, _CC_A, _CC_B = 6.0, 4.0, 34.0, 14.0   # corpus callosum arch
_Z_FM = -72.0                              # foramen magnum level
_Z_NASION = -24.0


def _smoothstep(x, e0, e1):
    t = np.clip((x - e0) * (1.0 / (e1 - e0)), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _f32(a):
    return np.asarray(a, dtype=np.float32)


def _ell(x, y, z, c, a):
    """Approximate signed distance (mm, positive inside) to an ellipsoid, on broadcast grids."""
    ux = (x - np.float32(c[0])) * np.float32(1.0 / a[0])
    vy = (y - np.float32(c[1])) * np.float32(1.0 / a[1])
    wz = (z - np.float32(c[2])) * np.float32(1.0 / a[2])
    r2 = ux * ux + (vy * vy + wz * wz)
    g2 = (ux * ux) * np.float32(1.0 / a[0] ** 2) + (
        (vy * vy) * np.float32(1.0 / a[1] ** 2) + (wz * wz) * np.float32(1.0 / a[2] ** 2))
    g = np.sqrt(g2)
    g *= 2.0
    g += np.float32(1e-3)
    r2 -= 1.0
    r2 /= g
    np.negative(r2, out=r2)
    return r2


def _smax(a, b, k):
    """Smooth maximum (union of two depth fields) with blend width ``k`` mm."""
    h = np.maximum(np.float32(k) - np.abs(a - b), 0.0)
    h *= h
    h *= np.float32(0.25 / k)
    h += np.maximum(a, b)
    return h


def _paint(lab, mask, value):
    """lab[mask] = value, branch-free (fast for dense masks); ``value`` scalar or uint8 array."""
    m = mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
    lab += m * (np.asarray(value, np.uint8) - lab)


class _Frame:
    """Head-frame coordinates of the voxel grid: X is 1-D (axis 0), Y and Z are 2-D (axes 1, 2).

    With a pitch-only rotation, the head-frame x of a voxel depends on its axis-0 index only and
    (y, z) on its axis-1 and axis-2 indices only, so 3-D quantities are broadcasts of 1-D and
    2-D arrays. Coordinates are divided by the subject's scale factors ("canonical" mm).
    """

    def __init__(self, shape, zooms, translation, pitch_deg, scale):
        self.shape = tuple(int(s) for s in shape)
        self.zooms = tuple(float(z) for z in zooms)
        nx, ny, nz = self.shape
        self.t = np.asarray(translation, float)
        self.scale = np.asarray(scale, float)
        th = math.radians(pitch_deg)
        self.c, self.s = math.cos(th), math.sin(th)
        sx = (np.arange(nx) - (nx - 1) / 2) * self.zooms[0]
        sy = (np.arange(ny) - (ny - 1) / 2) * self.zooms[1]
        sz = (np.arange(nz) - (nz - 1) / 2) * self.zooms[2]
        dy = (sy - self.t[1])[:, None]
        dz = (sz - self.t[2])[None, :]
        self.X = _f32((sx - self.t[0]) / self.scale[0])
        self.Y = _f32((self.c * dy + self.s * dz) / self.scale[1])
        self.Z = _f32((-self.s * dy + self.c * dz) / self.scale[2])

    def to_index(self, y, z):
        """Canonical head-frame (y, z) -> fractional array indices (j, k)."""
        yh = np.asarray(y, float) * self.scale[1]
        zh = np.asarray(z, float) * self.scale[2]
        sy = self.c * yh - self.s * zh + self.t[1]
        sz = self.s * yh + self.c * zh + self.t[2]
        ny, nz = self.shape[1:]
        return sy / self.zooms[1] + (ny - 1) / 2, sz / self.zooms[2] + (nz - 1) / 2

    def box(self, x0, x1, y0, y1, z0, z1, pad=1):
        """Index slices covering the canonical box [x0,x1]x[y0,y1]x[z0,z1]; None if outside."""
        i0 = int(np.searchsorted(self.X, x0)) - pad
        i1 = int(np.searchsorted(self.X, x1, side="right")) + pad
        j, k = self.to_index([y0, y1, y0, y1], [z0, z0, z1, z1])
        j0, j1 = int(math.floor(j.min())) - pad, int(math.ceil(j.max())) + 1 + pad
        k0, k1 = int(math.floor(k.min())) - pad, int(math.ceil(k.max())) + 1 + pad
        nx, ny, nz = self.shape
        i0, j0, k0 = max(i0, 0), max(j0, 0), max(k0, 0)
        i1, j1, k1 = min(i1, nx), min(j1, ny), min(k1, nz)
        if i1 <= i0 or j1 <= j0 or k1 <= k0:
            return None
        return (slice(i0, i1), slice(j0, j1), slice(k0, k1))

    def coords(self, b):
        """(X, Y, Z) of a box: shapes (n, 1, 1), (1, m, p), (1, m, p), float32 views."""
        return (self.X[b[0]][:, None, None], self.Y[b[1], b[2]][None], self.Z[b[1], b[2]][None])

    def coords2(self, b):
        """(Y, Z) of a box as 2-D arrays (m, p)."""
        return self.Y[b[1], b[2]], self.Z[b[1], b[2]]


def _sub(inner, outer):
    """Slices of ``inner`` relative to ``outer`` (both index boxes; inner clipped to outer)."""
    out = []
    for a, b in zip(inner, outer):
        start = min(max(a.start, b.start), b.stop)
        stop = max(min(a.stop, b.stop), start)
        out.append(slice(start - b.start, stop - b.start))
    return tuple(out)


def _inter(a, b):
    """Intersection of two index boxes (or None)."""
    out = []
    for sa, sb in zip(a, b):
        lo, hi = max(sa.start, sb.start), min(sa.stop, sb.stop)
        if hi <= lo:
            return None
        out.append(slice(lo, hi))
    return tuple(out)


# ----------------------------------------------------------------------------------------------
# the face: sagittal profile and lateral fall-off, as 1-D tables over canonical z

_ZG = np.arange(-240.0, 80.0, 0.25)


def _pchip(zs, ys, grid=_ZG, sigma=1.5):
    """Smooth curve through control points: linear interpolation on ``grid`` (constant beyond
    the ends), then Gaussian smoothing with ``sigma`` mm (rounds the corners, no overshoot)."""
    order = np.argsort(zs)
    zs = np.asarray(zs, float)[order]
    ys = np.asarray(ys, float)[order]
    lin = np.interp(grid, zs, ys)
    step = grid[1] - grid[0]
    half = int(round(3 * sigma / step))
    kern = np.exp(-0.5 * (np.arange(-half, half + 1) * step / sigma) ** 2)
    kern /= kern.sum()
    return np.convolve(np.pad(lin, half, mode="edge"), kern, mode="valid")


class _Face:
    """Landmarks (canonical mm) and 1-D tables of the face of one subject."""

    def __init__(self, p: SubjectParams):
        L = p.nose_length
        tan_a = math.tan(math.radians(p.nose_bridge_angle))
        z_n = _Z_NASION
        y_g = 99.0 + p.brow_ridge
        z_g = z_n + 11.0
        y_n = y_g - p.nasion_depth
        z_t = z_n - L
        y_t = y_n + L * tan_a
        y_sn = y_t - p.nose_projection
        z_sn = z_t - 7.0
        z_me = z_n - p.face_height
        lower = z_sn - z_me
        z_st = z_sn - 0.32 * lower
        z_ls = z_st + 6.0
        y_ls = y_sn + 1.0 + (p.upper_lip_thickness - 5.0)
        y_st = y_ls - 4.5
        z_li = z_st - 7.0
        y_li = y_ls - 2.5 + 0.8 * (p.lower_lip_thickness - 6.0)
        z_sl = z_st - 0.36 * (z_st - z_me)
        y_sl = y_li - 8.0 - 0.4 * (p.lower_lip_thickness - 6.0)
        z_pg = z_st - 0.72 * (z_st - z_me)
        y_pg = y_sl + p.chin_projection
        y_me = y_pg - 13.0

        def line(z):  # nasal dorsum, straight from nasion to tip
            return y_n + (z_n - z) * tan_a

        prof = [
            (z_g + 40, y_g - 9.0), (z_g + 22, y_g - 3.5), (z_g + 10, y_g - 1.0), (z_g, y_g),
            (z_n + 4, y_n + 1.5), (z_n, y_n),
            (z_n - 0.15 * L, line(z_n - 0.15 * L) - 0.8),
            (z_n - 0.5 * L, line(z_n - 0.5 * L) + p.nose_hump),
            (z_t + 7, line(z_t + 7) - 1.3), (z_t + 2.5, y_t - 0.6), (z_t, y_t),
            (z_t - 3.0, y_t - 3.0), (z_t - 5.5, y_t - 0.55 * p.nose_projection), (z_sn, y_sn),
            (z_sn - 0.5 * (z_sn - z_ls), y_sn - 1.2), (z_ls, y_ls), (z_st + 1.5, y_st + 1.0),
            (z_st, y_st), (z_st - 1.5, y_st + 0.5), (z_li, y_li), (z_li - 5, y_li - 3.0),
            (z_sl, y_sl), (z_pg + 7, y_pg - 1.5), (z_pg, y_pg), (z_pg - 7, y_pg - 4.0),
            (z_me, y_me), (z_me - 5, y_me - 18.0), (z_me - 9, y_me - 45.0), (z_me - 14, 20.0),
        ]
        zs, ys = zip(*prof)
        self.P = _pchip(zs, ys)
        # base surface without the nose (cheek/maxilla level under the nose)
        base = [pt for pt in prof if pt[0] >= z_n + 3 or pt[0] <= z_sn - 3]
        base += [(z_n, y_n - 1.5), (z_n - 10, y_n - 4.0), (0.5 * (z_n + z_sn), y_sn - 7.0),
                 (z_sn + 4, y_sn - 4.0), (z_sn, y_sn - 0.6)]
        zs, ys = zip(*base)
        self.B = _pchip(zs, ys)
        taper = _smoothstep(_ZG, z_sn - 2.0, z_sn + 0.5) * (1 - _smoothstep(_ZG, z_n - 1, z_n + 3))
        self.N = np.clip(self.P - self.B, 0, None) * taper
        self.B = np.where(taper > 0, np.minimum(self.B, self.P), self.P)
        hw = 0.5 * p.nose_width
        self.w = _pchip([z_n + 6, z_n, z_n - 0.55 * L, z_t + 4, z_t - 3, z_sn, z_sn - 6],
                        [7, 6.0, 7.5, 9.0, hw, hw - 1.5, hw - 3])
        ch = p.cheek_fullness
        self.c = _pchip([z_g + 40, z_g + 12, z_g, z_n - 10, z_n - 26, z_st + 5, z_pg, z_me - 12],
                        [0.0068, 0.0064, 0.0062, 0.0060, 0.0090 - 0.003 * ch,
                         0.0120 - 0.003 * ch, 0.019, 0.024])
        jw = p.jaw_width
        self.W = _pchip([z_g + 40, z_n - 10, z_n - 40, z_st, z_me + 10, z_me - 20],
                        [78, 72, 68, jw + 16, jw + 8, jw + 4])
        self.dP = np.gradient(self.P, _ZG)
        # landmarks
        self.z_g, self.y_g, self.z_n, self.y_n = z_g, y_g, z_n, y_n
        self.z_t, self.y_t, self.z_sn, self.y_sn = z_t, y_t, z_sn, y_sn
        self.z_st, self.y_st, self.z_ls, self.y_ls = z_st, y_st, z_ls, y_ls
        self.z_li, self.y_li, self.z_sl, self.y_sl = z_li, y_li, z_sl, y_sl
        self.z_pg, self.y_pg, self.z_me, self.y_me = z_pg, y_pg, z_me, y_me
        self.z_pal = z_st + 20.0
        self.y_inc = y_ls - 12.0 - 0.5 * p.upper_lip_thickness   # upper incisor labial face
        # eyes: cornea 1.8 mm under the lid skin
        self.ehs = 0.5 * p.eye_spacing
        self.z_e = z_n - 9.0
        self.y_e = self.surface_y(self.ehs, self.z_e) - 1.8 - 12.0

    def table(self, name, z):
        return np.interp(z, _ZG, getattr(self, name)).astype(np.float32)

    def surface_y(self, x, z):
        b, n, w, c = (float(np.interp(z, _ZG, getattr(self, k))) for k in "BNwc")
        return b + n * math.exp(-(x / w) ** 2) - c * x * x


# ----------------------------------------------------------------------------------------------
# placement in the field of view

def _fov(shape, zooms):
    return tuple(n * z for n, z in zip(shape, zooms))


def _placement(params: SubjectParams, pose: Pose, fov) -> np.ndarray:
    """Translation (scanner mm) of the head-frame origin for ``pose`` (see :class:`Pose`)."""
    f = _Face(params)
    sy, sz = params.scale_y, params.scale_z
    m = params.csf_width + params.skull_thickness + params.scalp_thickness
    # outline of the cranium where the (approximate) depth used by the renderer reaches -m
    phi = np.linspace(-0.3, np.pi + 0.3, 81)[:, None]
    t = np.linspace(30.0, 140.0, 441)[None, :]
    yy, zz = t * np.cos(phi), t * np.sin(phi)
    d = _ell(np.float32(0.0), _f32(yy), _f32(zz), (0, 0, 0), (_AX, _AY, _AZ)) + m + 1.5
    reach = t[0, np.argmin(d > 0, axis=1) - 1]
    pts = [(reach * np.cos(phi[:, 0]) * sy, reach * np.sin(phi[:, 0]) * sz)]
    pts.append((np.array([f.y_t, f.y_g, f.y_pg, f.y_me - 5]) * sy,
                np.array([f.z_t, f.z_g, f.z_pg, f.z_me - 7]) * sz))
    y = np.concatenate([p[0] for p in pts])
    z = np.concatenate([p[1] for p in pts])
    th = math.radians(pose.pitch_deg)
    c, s = math.cos(th), math.sin(th)
    yr, zr = c * y - s * z, s * y + c * z
    half_y, half_z = fov[1] / 2, fov[2] / 2
    front, back, top, bottom = yr.max(), yr.min(), zr.max(), zr.min()
    ty = -(front + back) / 2 + pose.shift_mm[1]
    ty = min(ty, half_y - 3.0 - front)          # nose tip inside
    ty = max(ty, -half_y + 1.0 - back) if front - back < 2 * half_y - 4 else ty
    margin = float(np.clip((2 * half_z - (top - bottom)) / 2, 3.0, 14.0))
    tz = half_z - margin - top + pose.shift_mm[2]
    tz = min(tz, half_z - 4.0 - top)            # skull top inside
    tx = float(np.clip(pose.shift_mm[0], -5.0, 5.0))
    return np.array([tx, ty, tz])


def head_to_scanner(params: SubjectParams, pose: Pose | None = None, shape=None) -> np.ndarray:
    """4x4 affine from the head frame (mm, origin at the cerebrum centre) to scanner RAS mm.

    The scanner frame is the one of the ``ras_affine`` returned by :func:`synthesize` (origin at
    the centre of the field of view). Use it to undo the pose, e.g. to compare facial profiles.
    """
    pose = pose or Pose()
    shape, zooms = _grid(params.site, shape)
    t = _placement(params, pose, _fov(shape, zooms))
    th = math.radians(pose.pitch_deg)
    c, s = math.cos(th), math.sin(th)
    return np.array([[1, 0, 0, t[0]], [0, c, -s, t[1]], [0, s, c, t[2]], [0, 0, 0, 1.0]])


def _grid(site, shape):
    full = SITE_SHAPES[site]
    fov = _fov(full, VOXEL_SIZE)
    if shape is None:
        return full, VOXEL_SIZE
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 8:
        raise ValueError(f"shape must be 3 sizes >= 8, got {shape}")
    return shape, tuple(f / n for f, n in zip(fov, shape))


def _ras_affine(shape, zooms):
    aff = np.diag([*zooms, 1.0])
    aff[:3, 3] = [-(n - 1) / 2 * z for n, z in zip(shape, zooms)]
    return aff


# ----------------------------------------------------------------------------------------------
# the renderer: labels and depth of the head

class _Render:
    def __init__(self, p: SubjectParams, pose: Pose, shape, zooms):
        self.p = p
        self.face = _Face(p)
        t = _placement(p, pose, _fov(shape, zooms))
        self.fr = _Frame(shape, zooms, t, pose.pitch_deg, (p.scale_x, p.scale_y, p.scale_z))
        self.shape = tuple(shape)
        self.lab = np.zeros(shape, np.uint8)
        self.dh = np.full(shape, -50.0, np.float32)        # depth under the skin
        self.frng = np.random.default_rng(p.folding_seed)

    # -- cavity and head envelope ------------------------------------------------------------
    def _floor(self, X, Y):
        """Lower boundary z of the cerebrum as a function of (x, y)."""
        ax = np.abs(X)
        lat = _smoothstep(ax, 16.0, 28.0)
        front = _smoothstep(Y, 32.0, 46.0)
        back = _smoothstep(-Y, 14.0, 32.0)
        f_ant = -22.0 + 12.0 * _smoothstep(ax, 6.0, 18.0)
        f_mid = -20.0 - (22.0 - 0.012 * (ax - 40.0) ** 2) * lat
        mid = 1.0 - front - back
        f_post2 = -8.0 + 0.25 * (Y + 15.0)
        return mid * f_mid + front * f_ant + back * (f_post2 - 0.2 * ax)

    def cavity(self):
        p, fr = self.p, self.fr
        csf = p.csf_width
        m = 22.0
        self.b_cr = fr.box(-_AX - m, _AX + m, -_AY - m, _AY + m, -78.0 - m, _AZ + m)
        b = self.b_cr
        X, Y, Z = fr.coords(b)
        d_ell = _ell(X, Y, Z, (0, 0, 0), (_AX, _AY, _AZ))
        d_floor = Z - self._floor(X, Y)
        self.d_cer0 = np.minimum(d_ell, d_floor)      # cerebrum without the fissure
        del d_ell, d_floor
        dcav = self.d_cer0 + np.float32(csf)
        # cerebellum (vermis + hemispheres), cisterna magna
        cb = [((0, -44, -39), (11, 19, 21)), ((-24, -51, -46), (26, 26, 18)),
              ((24, -51, -46), (26, 26, 18))]
        self.cb = cb
        bc = fr.box(-50 - m, 50 + m, -76 - m, -24 + m, -64 - m, -17 + m)
        self.b_cb = bc
        Xc, Yc, Zc = fr.coords(bc)
        dcb = _ell(Xc, Yc, Zc, *cb[0])
        for c, a in cb[1:]:
            np.maximum(dcb, _ell(Xc, Yc, Zc, c, a), out=dcb)
        self.d_cb = dcb
        cm = _ell(Xc, Yc, Zc, (0, -46, -58), (16, 20, 10))
        sb = _sub(bc, b)
        v = dcav[sb]
        np.maximum(v, np.maximum(dcb + np.float32(csf), cm), out=v)
        # brainstem (tube) + pons, with a wider cistern in front
        bs = fr.box(-16 - m, 16 + m, -30 - m, 14 + m, _Z_FM - 4 - m, -10.0)
        self.b_bs = bs
        Xs, Ys, Zs = fr.coords(bs)
        dbs = self._brainstem_depth(Xs, Ys, Zs)
        self.d_bs = dbs
        v = dcav[_sub(bs, b)]
        cist = dbs + np.float32(csf + 1.5)
        np.minimum(cist, Zs - np.float32(_Z_FM - 4), out=cist)
        np.maximum(v, cist, out=v)
        # suprasellar cistern and pituitary fossa
        for c, a in (((0, 12, -26), (12, 10, 7)), ((0, 14, -35), (6, 5.5, 4.2))):
            bb = fr.box(c[0] - a[0] - 1, c[0] + a[0] + 1, c[1] - a[1] - 1, c[1] + a[1] + 1,
                        c[2] - a[2] - 1, c[2] + a[2] + 1)
            if bb is None:
                continue
            Xb, Yb, Zb = fr.coords(bb)
            v = dcav[_sub(bb, b)]
            np.maximum(v, _ell(Xb, Yb, Zb, c, a), out=v)
        self.dcav = dcav
        # skull thickness map (2-D in y, z): thinner skull base, thick glabella (frontal sinus)
        Y2, Z2 = fr.coords2(b)
        T = np.float32(4.5) + np.float32(p.skull_thickness - 4.5) * _smoothstep(Z2, -22.0, -6.0)
        brow = np.exp(-(((Z2 - (self.face.z_g + 1.0)) / 9.0) ** 2)) * _smoothstep(Y2, 60.0, 75.0)
        self.brow_bump = _f32(brow * (3.0 + 1.2 * p.brow_ridge))
        self.T = _f32(T + self.brow_bump)
        # head envelope from the cranium
        v = self.dh[b]
        np.maximum(v, dcav + (self.T + np.float32(p.scalp_thickness))[None], out=v)

    def _brainstem_depth(self, X, Y, Z):
        zp = [-260, -130, -100, _Z_FM, -58, -42, -28, -12]
        yc = self._tab(Z, zp, [-9, -10, -14, -16, -14, -9, -11, -12])
        rx = self._tab(Z, zp, [6.5, 6.5, 6.8, 8, 10, 14, 13, 13])
        ry = self._tab(Z, zp, [4.6, 4.6, 4.8, 6, 8, 10.5, 10, 10])
        u2 = (X * X) * (1.0 / (rx * rx))
        v = (Y - yc) / ry
        rho = np.sqrt(u2 + v * v)
        d = (1.0 - rho) * ry
        np.maximum(d, _ell(X, Y, Z, (0, -3, -40), (15, 12, 12)), out=d)
        np.minimum(d, np.float32(-12.0) - Z, out=d)
        return d

    @staticmethod
    def _tab(z, zp, fp):
        return np.interp(z, zp, fp).astype(np.float32)

    def envelope(self):
        """Face, neck and ears, joined to the cranium by smooth unions."""
        fr, f = self.fr, self.face
        # face height field
        b = fr.box(-85, 85, -10, f.y_t + 8, f.z_me - 25, f.z_g + 30)
        self.b_face = b
        X, Y, Z = fr.coords(b)
        Bz, Nz, wz, cz, Wz, dP = (f.table(k, Z) for k in ("B", "N", "w", "c", "W", "dP"))
        X2 = X * X
        iw2 = 1.0 / (wz * wz)
        g = np.exp(-(X2 * iw2))
        ys = Nz * g
        gx = ys * iw2
        ys += Bz
        ys -= cz * X2
        gx += cz
        gx *= X
        gx *= -2.0
        gx *= gx
        gx += 1.0 + dP * dP
        np.sqrt(gx, out=gx)
        ys -= Y
        ys /= gx
        del gx, g
        d = ys
        np.minimum(d, Wz - np.abs(X), out=d)
        zsub = np.float32(f.z_me) - np.float32(0.3) * (np.float32(f.y_me) - Y) + X2 * 0.006
        np.minimum(d, (Z - zsub) * np.float32(0.95), out=d)
        lim = np.minimum(Y + np.float32(8.0), np.float32(f.z_g + 16.0) - Z)
        np.minimum(d, lim, out=d)
        v = self.dh[b]
        v[...] = _smax(v, d, 8.0)
        # neck: elliptic cylinder, wider at the top (mastoids)
        bn = fr.box(-75, 75, -75, 60, -300, -40)
        if bn is not None:
            X, Y, Z = fr.coords(bn)
            a = np.float32(52.0) + np.float32(14.0) * _smoothstep(Z, -110.0, -60.0)
            uu = X / a
            vv = (Y + np.float32(8.0)) * np.float32(1 / 60.0)
            r2 = uu * uu + vv * vv
            gg = np.sqrt((uu * uu) / (a * a) + (vv * vv) * np.float32(1 / 3600.0))
            dn = (1.0 - r2) / (2.0 * gg + np.float32(1e-3))
            np.minimum(dn, np.float32(-40.0) - Z, out=dn)
            v = self.dh[bn]
            v[...] = _smax(v, dn, 10.0)
        # ears (pinnae)
        self.ears = []
        for sgn in (-1, 1):
            c = (sgn * 75.0, 0.0, -48.0)
            a = (4.5, 14.0, 27.0)
            be = fr.box(c[0] - 6, c[0] + 6, -16, 16, -77, -19)
            if be is None:
                continue
            X, Y, Z = fr.coords(be)
            de = _ell(X, Y, Z, c, a)
            v = self.dh[be]
            np.maximum(v, de, out=v)
            self.ears.append((be, de))

    def soft_tissue(self):
        """Skin, subcutaneous fat and muscle from the depth under the skin."""
        fr, f, p = self.fr, self.face, self.p
        Y, Z = fr.Y, fr.Z
        scalp_fat = np.float32(p.scalp_thickness - 1.2)
        face_fat = np.float32(1.8 + p.face_fat * (0.8 + 0.4 * p.cheek_fullness))
        neck_fat = np.float32(1.8 + 4.0 + 0.5 * p.face_fat)
        wf = (1 - _smoothstep(Z, f.z_g - 6, f.z_g + 4)) * _smoothstep(Y, 10.0, 35.0)
        wn = 1 - _smoothstep(Z, f.z_me - 10, f.z_me + 10)
        fe = scalp_fat + (face_fat - scalp_fat) * wf
        fe = fe + (neck_fat - fe) * np.maximum(wn, 1 - _smoothstep(Y, 0.0, 20.0) * 1.0) * (
            1 - _smoothstep(Z, -70.0, -50.0))
        # thin fat over the nose and the lips
        Pz = f.table("P", Z)
        Bz = f.table("B", Z)
        nose = (Y > Bz - 6.0) & (Z < f.z_n) & (Z > f.z_sn - 1)
        lips = (Z < f.z_sn - 3) & (Z > f.z_sl + 2) & (Y > Pz - 14.0)
        fe = np.where(nose, np.float32(2.3), fe)
        fe = np.where(lips, np.float32(2.6), fe).astype(np.float32)
        dh = self.dh
        lab = self.lab
        lab[...] = (dh > 0).view(np.uint8) * np.uint8(SKIN)
        lab += (dh > 1.8).view(np.uint8)
        lab += (dh > fe[None]).view(np.uint8)
        self.fat_end = fe

    # -- face internals ----------------------------------------------------------------------
    def _b(self, c, a, pad=1.0):
        return self.fr.box(c[0] - a[0] - pad, c[0] + a[0] + pad, c[1] - a[1] - pad,
                           c[1] + a[1] + pad, c[2] - a[2] - pad, c[2] + a[2] + pad)

    def _ellipsoid_paint(self, c, a, label, shell=None, inner=None, where=None):
        """Paint an ellipsoid; optional (thickness, label) outer shell and inner label."""
        b = self._b(c, a)
        if b is None:
            return None
        X, Y, Z = self.fr.coords(b)
        d = _ell(X, Y, Z, c, a)
        lab = self.lab[b]
        ok = d > 0
        if where is not None:
            ok &= where(X, Y, Z)
        if shell is not None:
            _paint(lab, ok, shell[1])
            ok &= d > shell[0]
        _paint(lab, ok, label)
        return b, d

    def face_internals(self):
        fr, f, p = self.fr, self.face, self.p
        z_st, z_pal, y_inc = f.z_st, f.z_pal, f.y_inc
        ch = p.cheek_fullness
        # parotid glands and buccal fat pads
        for s in (-1, 1):
            self._ellipsoid_paint((s * 50, 8, f.z_e - 44), (9, 14, 20), GLAND)
            self._ellipsoid_paint((s * 37, y_inc - 22, z_st + 7), (7 + 4 * ch, 13, 11), FAT)
        # tongue, with the oral air gap under the palate
        self._ellipsoid_paint((0, y_inc - 29, z_st - 6), (23, 31, 20), TONGUE,
                              where=lambda X, Y, Z: Z < z_pal - 5.5)
        b = fr.box(-17, 17, y_inc - 48, y_inc - 5, z_pal - 6, z_pal - 2.5)
        if b is not None:
            X, Y, Z = fr.coords(b)
            m = (np.abs(X) < 15.0) & (Y < y_inc - 6 - 0.05 * X * X) & (Z > z_pal - 5.5)
            _paint(self.lab[b], m, AIR_IN)
        # maxillary sinuses: between orbit floor and palate
        top, bot = f.z_e - 14.0, z_pal + 3.0
        cz, az = 0.5 * (top + bot), max(0.5 * (top - bot), 5.0)
        for s in (-1, 1):
            self._ellipsoid_paint((s * 26, f.y_e - 8, cz), (12, 17, az), AIR_IN, shell=(1.4, BONE))
            self._ellipsoid_paint((s * 26, f.y_e - 8, cz), (10.6, 15.6, az - 1.4), AIR_IN,
                                  shell=(1.3, MUCOSA))
        # ethmoid air cells
        for s in (-1, 1):
            c, a = (s * 9.0, f.y_e + 1.0, f.z_e + 2.0), (5.5, 13.0, 10.0)
            b = self._b(c, a)
            if b is not None:
                X, Y, Z = fr.coords(b)
                d = _ell(X, Y, Z, c, a)
                cells = np.cos(Y * np.float32(2 * np.pi / 7)) * np.cos(Z * np.float32(2 * np.pi / 7))
                lab = self.lab[b]
                _paint(lab, d > 0, BONE)
                _paint(lab, (d > 0.8) & (cells < 0.6), AIR_IN)
        # orbits: bony wall, fat, extraocular muscles, optic nerve, globe, lens
        ehs, y_e, z_e = f.ehs, f.y_e, f.z_e
        for s in (-1, 1):
            c, a = (s * (ehs - 1.0), y_e - 12.0, z_e), (14.0, 24.0, 13.0)
            b = self._b(c, a, pad=2.0)
            if b is None:
                continue
            X, Y, Z = fr.coords(b)
            d = _ell(X, Y, Z, c, a)
            lab = self.lab[b]
            _paint(lab, (d > -1.5) & (Y < y_e - 3.0), BONE)
            _paint(lab, (d > 0) & (Y < y_e + 3.0), FAT)
            ax = np.abs(X)
            o = np.float32(11.0) * np.clip((Y - np.float32(y_e - 38.0)) / 28.0, 0.2, 1.0)
            yr = (Y > y_e - 34.0) & (Y < y_e - 1.0)
            mus = yr & (((np.abs(ax - (ehs + o)) < 1.7) | (np.abs(ax - (ehs - o)) < 1.7))
                        & (np.abs(Z - z_e) < 3.0)
                        | ((np.abs(Z - z_e - o) < 1.7) | (np.abs(Z - z_e + o) < 1.7))
                        & (np.abs(ax - ehs) < 4.5))
            _paint(lab, mus & (d > 0), MUSCLE)
            xn = ehs - 14.0 * np.clip((y_e - 11.0 - Y) / 24.0, 0.0, 1.0)
            nerve = (np.abs(ax - xn) < 2.0) & (np.abs(Z - z_e - 1.0) < 2.0) & (Y < y_e - 8.0)
            _paint(lab, nerve & (d > 0), NERVE)
            ce, ae = (s * ehs, y_e, z_e), (11.5, 12.0, 11.5)
            de = _ell(X, Y, Z, ce, ae)
            _paint(lab, de > 0, SCLERA)
            _paint(lab, de > 1.0, VITREOUS)
            dl = _ell(X, Y, Z, (s * ehs, y_e + 7.8, z_e), (4.5, 2.0, 4.5))
            _paint(lab, dl > 0, LENS)
        # hard palate, upper alveolus and teeth, lower teeth, mandible
        self._jaws()
        # nasal cavity with septum and turbinates
        b = fr.box(-17, 17, 30, f.y_t, z_pal + 1, f.z_n - 3)
        if b is not None:
            X, Y, Z = fr.coords(b)
            Pz, Bz = f.table("P", Z), f.table("B", Z)
            # main cavity: rounded in the sagittal plane, roof sloping down to the choanae
            zlo, zhi = z_pal + 3.0, f.z_n - 5.0
            zc, hz = 0.5 * (zlo + zhi), 0.5 * (zhi - zlo)
            yfront = f.y_n - 12.0
            yc, hy = 0.5 * (yfront + 36.0), 0.5 * (yfront - 36.0)
            e = ((Y - yc) / hy) ** 2 + ((Z - zc) / hz) ** 4
            roof = zhi - 0.25 * np.maximum(yfront - 14.0 - Y, 0.0)
            main = (e < 1.0) & (Z < roof) & (Z > zlo)
            # vestibule inside the external nose
            vest = (Y > Bz - 14.0) & (Y < Pz - 5.5) & (Z < f.z_n - 18.0) & (Z > f.z_sn + 1.5)
            wnc = np.float32(3.5) + np.float32(11.5) * (1 - _smoothstep(Z, z_pal + 6, f.z_n - 8))
            reg = (main | vest) & (np.abs(X) < wnc) & (self.dh[b] > 2.6)
            lab = self.lab[b]
            _paint(lab, reg, AIR_IN)
            _paint(lab, reg & (np.abs(X) < 1.1), CARTILAGE)
        for s in (-1, 1):
            self._ellipsoid_paint((s * 11.5, 62.0, z_pal + 9.0), (3.5, 22.0, 4.0), MUCOSA)
            self._ellipsoid_paint((s * 9.0, 60.0, z_pal + 20.0), (3.0, 16.0, 3.5), MUCOSA)
        # nasal bones and cartilages under the skin of the dorsum
        b = fr.box(-14, 14, f.y_n - 14, f.y_t + 2, f.z_t + 3, f.z_n + 2)
        if b is not None:
            X, Y, Z = fr.coords(b)
            Bz, wz = f.table("B", Z), f.table("w", Z)
            dh = self.dh[b]
            m = (dh > 2.0) & (dh < 3.8) & (Y > Bz - 4.0) & (np.abs(X) < 0.95 * wz)
            lab = self.lab[b]
            _paint(lab, m & (Z > f.z_n - 0.4 * p.nose_length), BONE)
            _paint(lab, m & (Z <= f.z_n - 0.4 * p.nose_length), CARTILAGE)
        # mouth slit between the lips
        b = fr.box(-26, 26, y_inc - 2, f.y_ls + 2, z_st - 1.5, z_st + 1.5)
        if b is not None:
            X, Y, Z = fr.coords(b)
            m = (np.abs(Z - z_st) < 0.7) & (Y > y_inc - 1.0) & (self.dh[b] > 1.2)
            m &= np.abs(X) < 24.0
            _paint(self.lab[b], m, AIR_IN)
        # airway: nasopharynx and oro/laryngopharynx
        np_top = -60.0
        c = 0.5 * (np_top + z_pal - 1.0)
        self._ellipsoid_paint((0, 28.0, c), (11.0, 8.5, max(0.5 * (np_top - z_pal + 1.0), 3.0)), AIR_IN)
        b = fr.box(-14, 14, 10, 45, -300, z_pal + 2)
        if b is not None:
            X, Y, Z = fr.coords(b)
            zp = [-300, f.z_me - 20, f.z_me - 6, f.z_me + 10, z_pal - 4, z_pal + 2]
            ya = self._tab(Z, zp, [33, 32, 29, 22, 23, 26])
            h = self._tab(Z, zp, [5.5, 5.5, 4.0, 4.5, 5.0, 6.0])
            w = self._tab(Z, zp, [7.0, 7.0, 9.0, 11.0, 10.0, 10.0])
            u = X / w
            v = (Y - ya) / h
            self.airway = (zp, ya, h)
            _paint(self.lab[b], (u * u + v * v < 1.0) & (Z < z_pal + 1.0), AIR_IN)
        # hyoid bone
        self._ellipsoid_paint((0, 36.0, f.z_me - 8.0), (13, 4.0, 3.5), MARROW, shell=(1.2, BONE))
        # ear cartilage
        for be, de in self.ears:
            _paint(self.lab[be], de > 1.6, CARTILAGE)

    def _jaws(self):
        fr, f, p = self.fr, self.face, self.p
        z_st, z_pal, y_inc = f.z_st, f.z_pal, f.y_inc
        ku = 38.0 / 24.0**2
        # upper arch: palate, alveolus, teeth
        b = fr.box(-30, 30, y_inc - 52, y_inc + 2, z_st - 1, z_pal + 4)
        if b is not None:
            X, Y, Z = fr.coords(b)
            yca = np.float32(y_inc - 4.0) - np.float32(ku) * X * X     # arch centre line
            nrm = 1.0 / np.sqrt(1.0 + (2.0 * ku * X) ** 2)
            dist = np.abs(Y - yca) * nrm
            inarch = (np.abs(X) < 26.0) & (Y > y_inc - 46.0)
            lab = self.lab[b]
            alv = inarch & (dist < 6.0) & (Z > z_st + 10.0) & (Z < z_pal + 3.0)
            _paint(lab, alv, BONE)
            _paint(lab, alv & (dist < 4.2) & (Z > z_st + 11.5) & (Z < z_pal + 1.5), MARROW)
            pal = inarch & (Y < yca) & (Y > y_inc - 48.0) & (np.abs(Z - z_pal) < 3.0)
            _paint(lab, pal, BONE)
            _paint(lab, pal & (np.abs(Z - z_pal) < 1.2) & (Y < yca - 3.0), MARROW)
            teeth = inarch & (dist < 4.0 + 0.03 * np.abs(X)) & (Z > z_st + 0.5) & (Z < z_st + 10.5)
            _paint(lab, teeth, TEETH)
        # lower arch: teeth and mandible (symphysis inclined, body to the gonial angle)
        jw = p.jaw_width
        zp = [f.z_me - 30, f.z_me + 3, f.z_pg, z_st - 10, z_st + 10]
        ysym = [f.y_me - 8, f.y_me - 8, f.y_pg - 18, y_inc - 9.5, y_inc - 9.5]
        y0 = float(np.interp(z_st - 10, zp, ysym))
        y_go = 14.0
        km = (y0 - y_go) / jw**2
        self.y_go = y_go
        b = fr.box(-jw - 8, jw + 8, y_go - 8, f.y_pg, f.z_me - 2, z_st - 0.4)
        if b is not None:
            X, Y, Z = fr.coords(b)
            ys = self._tab(Z, zp, ysym)
            ycm = ys - np.float32(km) * X * X
            nrm = 1.0 / np.sqrt(1.0 + (2.0 * km * X) ** 2)
            dist = np.abs(Y - ycm) * nrm
            ax = np.abs(X)
            zb = np.float32(f.z_me + 2.5) + np.float32(0.12) * ax
            half = np.float32(6.5) - np.float32(0.02) * ax
            inb = (ax < jw + 1) & (Y > y_go - 4.0)
            lab = self.lab[b]
            # cross-section along the arch: rounded lower border, thicker at the base
            ztop = np.float32(z_st - 9.5)
            zc, hz = 0.5 * (zb + ztop), 0.5 * (ztop - zb)
            q = (Z - zc) / hz
            half = half * (0.8 + 0.3 * np.clip(-q, 0, 1))
            e = (dist / half) ** 2 + np.where(q < 0, q * q, q ** 8)
            body = inb & (e < 1.0)
            _paint(lab, body, BONE)
            ei = (dist / (half - 1.8)) ** 2 + np.where(q < 0, (q * hz / (hz - 2.0)) ** 2, q ** 8)
            _paint(lab, body & (ei < 1.0) & (Z < ztop - 1.8), MARROW)
            # lower teeth: arch 2.5 mm behind the upper one
            ycl = np.float32(y_inc - 6.5) - np.float32(ku) * X * X
            distl = np.abs(Y - ycl) / np.sqrt(1.0 + (2.0 * ku * X) ** 2)
            teeth = (ax < 26.0) & (distl < 3.8 + 0.03 * ax) & (Z > z_st - 10.0) & (Z < z_st - 0.5)
            _paint(lab, teeth & (Y > y_inc - 46.0), TEETH)
        # rami: near-vertical plates from the angle up to the condyles
        for s in (-1, 1):
            z_go, z_co = f.z_me + 22.0, f.z_e - 50.0
            b = fr.box(s * (jw - 1) - 6, s * (jw - 1) + 6, y_go - 4, y_go + 32, z_go - 4, z_co + 4)
            if b is None:
                continue
            X, Y, Z = fr.coords(b)
            d = np.minimum(np.float32(3.2) - np.abs(X - np.float32(s * (jw - 1.0))),
                           np.minimum(Y - np.float32(y_go - 2.0),
                                      np.float32(y_go + 26.0) - Y + (Z - z_go) * 0.15))
            d = np.minimum(d, np.minimum(Z - np.float32(z_go), np.float32(z_co) - Z))
            lab = self.lab[b]
            _paint(lab, d > 0, BONE)
            _paint(lab, d > 1.6, MARROW)

    # -- cervical spine ----------------------------------------------------------------------
    def spine(self):
        fr = self.fr
        zp = [-260, -130, -100, _Z_FM, -58]
        ycp = [-9, -10, -14, -16, -14]
        # vertebral levels (C2 with dens, C3..C7) as (top, bottom)
        levels = []
        top = _Z_FM - 18.0
        for h in (20.0, 13.0, 13.0, 13.5, 14.0, 14.0):
            levels.append((top, top - h))
            top -= h + 4.5
        bz = fr.box(-40, 40, -60, 30, -300, _Z_FM + 6)
        if bz is None:
            return
        X, Y, Z = fr.coords(bz)
        yc = self._tab(Z, zp, ycp)
        lab = self.lab[bz]
        ax = np.abs(X)
        # discs and bodies (ellipse in x-y, in front of the canal)
        yb = yc + np.float32(17.0)
        ub = (X * X) * np.float32(1 / 9.5**2) + ((Y - yb) * np.float32(1 / 8.0)) ** 2
        ub_in = (X * X) * np.float32(1 / 8.0**2) + ((Y - yb) * np.float32(1 / 6.5)) ** 2
        body_z = np.zeros(Z.shape, bool)
        marrow_z = np.zeros(Z.shape, bool)
        post_z = []
        for t, bt in levels:
            body_z |= (Z < t) & (Z > bt)
            marrow_z |= (Z < t - 1.3) & (Z > bt + 1.3)
            post_z.append(0.5 * (t + bt))
        disc_z = (Z < levels[0][0]) & (Z > levels[-1][1]) & ~body_z
        _paint(lab, (ub < 1.0) & disc_z, DISC)
        _paint(lab, (ub < 1.0) & body_z, BONE)
        _paint(lab, (ub_in < 1.0) & marrow_z, MARROW)
        # dens and atlas
        dens = ((X * X) * np.float32(1 / 25.0) + ((Y - yc - 14.5) * np.float32(1 / 4.5)) ** 2 < 1.0)
        dens &= (Z < _Z_FM - 3.0) & (Z > levels[0][0] - 1)
        _paint(lab, dens, BONE)
        _paint(lab, dens & ((X * X) * np.float32(1 / 9.0) + ((Y - yc - 14.5) * np.float32(1 / 2.8)) ** 2 < 1.0)
               & (Z < _Z_FM - 4.5), MARROW)
        z1 = _Z_FM - 10.0
        for yo, ay in ((23.5, 3.5), (-17.5, 4.0)):
            d = _ell(X, Y - yc, Z, (0.0, yo, z1), (12.0, ay, 4.5))
            _paint(lab, d > 0, BONE)
            _paint(lab, d > 1.2, MARROW)
        # laminae and spinous processes, pointing down and back
        for (t, bt), zc, L in zip(levels, post_z, (28.0, 20.0, 20.0, 22.0, 26.0, 30.0)):
            back = yc - np.float32(9.0) - Y            # mm behind the canal
            zz = Z - (np.float32(zc) - np.float32(0.3) * back)
            inside = (back > 0) & (back < L) & (np.abs(zz) < 4.5)
            inside = inside & ((ax < 3.5) | ((ax < 12.0) & (back < 5.5)))
            _paint(lab, inside, BONE)
            _paint(lab, inside & (np.abs(zz) < 3.0) & ((ax < 2.2) | ((ax < 10.5) & (back > 1.2) & (back < 4.3))),
                   MARROW)
        # fat planes between the posterior neck muscles
        for off, hw in ((36.0, 1.2),):   # (offset behind the cord, half width) mm
            yp = (yc - np.float32(off) + np.float32(0.12) * (Z - np.float32(-120.0))
                  + np.float32(0.004) * X * X)
            pl = (np.abs(Y - yp) < hw) & (Z < -80.0) & (ax > 7.0) & (ax < 40.0)
            pl &= self.dh[bz] > self.fat_end[bz[1], bz[2]][None] + 2.0
            _paint(lab, pl, FAT)
        # canal (CSF) and cord
        u = X * np.float32(1 / 11.0)
        v = (Y - yc) * np.float32(1 / 8.0)
        canal = (u * u + v * v < 1.0) & (Z < _Z_FM + 6.0)
        _paint(lab, canal, CSF)
        u = X * np.float32(1 / 6.5)
        v = (Y - yc) * np.float32(1 / 4.6)
        _paint(lab, canal & (u * u + v * v < 1.0), CORD)

    # -- skull -------------------------------------------------------------------------------
    def skull(self):
        fr = self.fr
        b = self.b_cr
        dcav = self.dcav
        T = self.T[None]
        lab = self.lab[b]
        Z = fr.coords(b)[2]
        bone = (dcav <= 0) & (dcav > -T) & (Z > _Z_FM - 12.0)
        _paint(lab, bone, BONE)
        dip = bone & (dcav < -1.6) & (dcav > 1.6 - T) & (T > 4.2)
        _paint(lab, dip, MARROW)
        # frontal sinus inside the thick glabella
        X, Y, Z = fr.coords(b)
        fs = dip & (self.brow_bump[None] > 2.0) & (np.abs(X) < 15.0) & (dcav < -2.8) & (
            dcav > 2.8 - T)
        _paint(lab, fs, AIR_IN)
        # sphenoid sinus below the sella, outside the cavity
        c, a = (0.0, 26.0, -50.0), (10.0, 9.0, 8.0)
        bb = self._b(c, a)
        if bb is not None:
            Xs, Ys, Zs = fr.coords(bb)
            d = _ell(Xs, Ys, Zs, c, a)
            ok = d > 0
            ib = _inter(bb, b)
            if ib is not None:
                ok[_sub(ib, bb)] &= dcav[_sub(ib, b)] < -1.2
            _paint(self.lab[bb], ok, AIR_IN)

    # -- brain ---------------------------------------------------------------------------------
    def brain(self):
        b = self.b_cr
        _paint(self.lab[b], self.dcav > 0, CSF)
        self._cerebrum()
        self._deep()
        self._brainstem()
        self._cerebellum()
        self._ellipsoid_paint((0, 14, -35), (5.5, 5.0, 3.7), PITUITARY)

    def _cc_geometry(self, Y, Z):
        a, bb = _CC_A, _CC_B
        u = (Y - np.float32(_CC_Y)) * np.float32(1 / a)
        v = (Z - np.float32(_CC_Z)) * np.float32(1 / bb)
        rho = np.sqrt(u * u + v * v)
        t = np.arctan2(v, u)
        t = np.where(t < -1.6, t + np.float32(2 * np.pi), t)
        r = np.sqrt((a * np.cos(t)) ** 2 + (bb * np.sin(t)) ** 2)
        dist = (rho - 1.0) * r
        thick = 5.2 + 5.8 * np.exp(-((t - 0.05) / 0.5) ** 2) + 7.2 * np.exp(-((t - np.pi) / 0.38) ** 2)
        thick = np.where(t < -0.3, thick - 1.5, thick)
        return rho, t, dist, thick

    def _cerebrum(self):
        fr = self.fr
        bt = fr.box(-_AX - 1, _AX + 1, -_AY - 1, _AY + 1, -44.0, _AZ + 1)
        sb = _sub(bt, self.b_cr)
        dc = self.d_cer0[sb].copy()
        X, Y, Z = fr.coords(bt)
        Y2, Z2 = fr.coords2(bt)
        rng = self.frng
        # interhemispheric fissure (wavy falx) except where the corpus callosum joins the halves
        ph = rng.uniform(0, 2 * np.pi, 4)
        xf = _f32(0.4 * np.sin(Y2 / 13.0 + ph[0]) * np.cos(Z2 / 17.0 + ph[1])
                  + 0.3 * np.sin(Y2 / 29.0 + ph[2]))
        rho, t, dist, thick = self._cc_geometry(Y2, Z2)
        dien = (((Y2 - (_CC_Y - 4.0)) / 24.0) ** 2 + ((Z2 - (_CC_Z - 20.0)) / 14.0) ** 2) < 1.0
        fiss = ~((rho < 1.0) | (np.abs(dist) < 0.5 * thick) | dien)
        off = np.where(fiss, np.float32(-0.2), np.float32(1e3)).astype(np.float32)
        dmed = np.abs(X - xf[None]) + off[None]
        np.minimum(dc, dmed, out=dc)
        del dmed
        # cortical folding: sum of plane waves, evaluated as one matrix product
        K = 8
        dirs = rng.normal(size=(K, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        lam = rng.uniform(24.0, 34.0, K)
        k = dirs * (2 * np.pi / lam)[:, None]
        phase = rng.uniform(0, 2 * np.pi, K)
        amp = math.sqrt(2.0 / K)
        x1 = X[:, 0, 0].astype(np.float64)
        A = np.concatenate([np.cos(np.outer(x1, k[:, 0])), -np.sin(np.outer(x1, k[:, 0]))], axis=1)
        arg = (k[:, 1, None, None] * Y2[None] + k[:, 2, None, None] * Z2[None] + phase[:, None, None])
        Bm = np.concatenate([np.cos(arg), np.sin(arg)], axis=0).reshape(2 * K, -1)
        F = (_f32(A * amp) @ _f32(Bm)).reshape(dc.shape)
        np.abs(F, out=F)
        kk = float(np.mean(2 * np.pi / lam))
        w_s, w_gm = 0.65 * kk, 3.3 * kk
        D = 13.0
        inside = dc > 0
        # a second field interrupts the sulcal sheets, so that sulci end and gyri bridge
        # (level sets alone would form closed cells)
        dirs2 = rng.normal(size=(K, 3))
        dirs2 /= np.linalg.norm(dirs2, axis=1, keepdims=True)
        k2 = dirs2 * (2 * np.pi / rng.uniform(30.0, 45.0, K))[:, None]
        A2 = np.concatenate([np.cos(np.outer(x1, k2[:, 0])), -np.sin(np.outer(x1, k2[:, 0]))], 1)
        arg = (k2[:, 1, None, None] * Y2[None] + k2[:, 2, None, None] * Z2[None]
               + rng.uniform(0, 2 * np.pi, K)[:, None, None])
        B2 = np.concatenate([np.cos(arg), np.sin(arg)], axis=0).reshape(2 * K, -1)
        G = (_f32(A2 * amp) @ _f32(B2)).reshape(dc.shape)
        gm = F < w_gm
        sul = F < w_s
        sul &= G > -0.55
        # cingulate sulcus: parallel to the corpus callosum, about 1 cm above it, medial only
        c = rng.uniform(0, 2 * np.pi, 3)
        band = dist - 0.5 * thick
        arc = (t > -0.7) & (t < 2.75)
        cing = arc & (band > 8.8) & (band < 10.2)
        cing_gm = arc & (band > 7.4) & (band < 11.6)
        medial = dc < 11.0
        sul |= cing[None] & medial
        gm |= cing_gm[None] & medial
        gm &= dc < D + 2.6
        gm |= dc < 2.6
        sul &= dc < D
        # Sylvian fissure on the lateral surface
        zs = -10.0 - 0.33 * (Y2 - 10.0) + 2.5 * np.sin(Y2 / 9.0 + c[0])
        syl2 = (Y2 > -22.0) & (Y2 < 44.0)
        sband = np.abs(Z2 - zs)
        ax = np.abs(X)
        sylv = (syl2 & (sband < 1.0))[None] & (ax > 36.0)
        gm |= (syl2 & (sband < 3.8))[None] & (ax > 32.0)
        sul |= sylv
        val = np.uint8(WM) - gm.view(np.uint8)                      # GM = WM - 1
        val -= sul.view(np.uint8) * (val - np.uint8(CSF))
        lab = self.lab[bt]
        _paint(lab, inside, val)
        self.b_cer = bt
        self.dc = dc
        self.cc2 = (rho, t, dist, thick)

    def _deep(self):
        fr, p = self.fr, self.p
        vs = p.ventricle_scale
        bt = self.b_cer
        X, Y, Z = fr.coords(bt)
        Y2, Z2 = fr.coords2(bt)
        lab = self.lab[bt]
        ax = np.abs(X)
        inside = self.dc > 0
        # diencephalon midline grey (hypothalamus)
        hyp = (((Y2 - (_CC_Y + 1.0)) / 11.0) ** 2 + ((Z2 - (_CC_Z - 22.0)) / 7.0) ** 2) < 1.0
        _paint(lab, hyp[None] & (ax < 6.0) & inside, DEEP_GM)
        for s in (-1, 1):
            self._ellipsoid_paint((s * 10.5, _CC_Y - 12, _CC_Z - 14), (9, 15, 9), DEEP_GM)
            self._ellipsoid_paint((s * 13.5, _CC_Y + 15, _CC_Z + 3), (4.5, 9, 7), DEEP_GM)
            self._ellipsoid_paint((s * 24.5, _CC_Y + 2, _CC_Z - 8), (5, 15, 9), DEEP_GM)
            self._ellipsoid_paint((s * 18.5, _CC_Y - 1, _CC_Z - 9), (3, 9, 6), PALLIDUM)
        # lateral ventricles (body, frontal horn, atrium/occipital horn, temporal horn)
        sx, sz, sy = vs, vs, math.sqrt(vs)
        parts = [((7.2, _CC_Y - 4, _CC_Z + 6), (6.0, 26.0, 4.8)),
                 ((8.0, _CC_Y + 18, _CC_Z + 2), (5.0, 10.0, 7.0)),
                 ((16.0, _CC_Y - 34, _CC_Z + 1), (6.0, 12.0, 8.0)),
                 ((27.0, _CC_Y - 8, -24.0), (3.5, 15.0, 4.0))]
        for s in (-1, 1):
            for (cx, cy, cz), (a0, a1, a2) in parts:
                cxx = s * max(cx * (0.6 + 0.4 * vs), 1.2 + a0 * sx)
                self._ellipsoid_paint((cxx, cy, cz), (a0 * sx, a1 * sy, a2 * sz), VENT)
        # septum pellucidum: midline sheet between the two bodies/frontal horns
        sep = np.zeros(Y2.shape, bool)
        for (cx, cy, cz), (a0, a1, a2) in parts[:2]:
            sep |= (((Y2 - cy) / (a1 * sy)) ** 2 + ((Z2 - cz) / (a2 * sz)) ** 2) < 1.0
        _paint(lab, sep[None] & (ax < 1.3), SEPTUM)
        # third ventricle with the massa intermedia
        c3, a3 = (0.0, _CC_Y - 6.0, _CC_Z - 18.0), (2.2 * vs, 12.0 * sy, 8.5 * sz)
        b3 = self._b(c3, a3)
        if b3 is not None:
            X3, Y3, Z3 = fr.coords(b3)
            d3 = _ell(X3, Y3, Z3, c3, a3)
            mi = ((Y3 - (_CC_Y - 8.0)) ** 2 + (Z3 - (_CC_Z - 14.0)) ** 2) < 3.5**2
            _paint(self.lab[b3], (d3 > 0) & ~mi, VENT)
        # corpus callosum, callosal sulcus, fornix
        rho, t, dist, thick = self.cc2
        tr = (t > -1.1) & (t < np.pi + 0.45)
        cc = (np.abs(dist) < 0.5 * thick) & tr
        _paint(lab, cc[None] & (ax < 16.0), WM)
        cs = (dist > 0.5 * thick) & (dist < 0.5 * thick + 1.1) & (t > 0.15) & (t < np.pi - 0.15)
        _paint(lab, cs[None] & (ax < 3.0), CSF)
        a, bb = 20.0, 13.0
        u = (Y2 - (_CC_Y - 3.0)) / a
        v = (Z2 - (_CC_Z - 3.0)) / bb
        tf = np.arctan2(v, u)
        rf = np.sqrt((a * np.cos(tf)) ** 2 + (bb * np.sin(tf)) ** 2)
        fx = (np.abs(np.sqrt(u * u + v * v) - 1.0) * rf < 1.6) & (tf > -1.0) & (tf < 2.6)
        _paint(lab, fx[None] & (ax < 3.5), WM)

    def _brainstem(self):
        fr = self.fr
        bs = self.b_bs
        X, Y, Z = fr.coords(bs)
        lab = self.lab[bs]
        _paint(lab, (self.d_bs > 0) & (Z > _Z_FM), BRAINSTEM)
        _paint(lab, (self.d_bs > 0) & (Z <= _Z_FM), CORD)
        aq = (np.abs(X) < 1.0) & (np.abs(Y + 18.5) < 1.0) & (Z > -30.0) & (Z < -14.0)
        _paint(lab, aq, VENT)
        self._ellipsoid_paint((0, -21.5, -46), (6.5, 3.6, 9.0), VENT)

    def _cerebellum(self):
        fr = self.fr
        bc = self.b_cb
        X, Y, Z = fr.coords(bc)
        Y2, Z2 = fr.coords2(bc)
        d = self.d_cb
        yf, zf = -25.0, -43.0
        dy, dz = Y2 - np.float32(yf), Z2 - np.float32(zf)
        r = np.sqrt(dy * dy + dz * dz)
        th = np.arctan2(dz, -dy)
        c = self.frng.uniform(0, 2 * np.pi, 3)
        s1 = np.sin(11.0 * th + 1.1 * np.sin(3.0 * th + c[0]) + 0.6 * np.sin(r / 5.0) + c[1])
        s2 = np.sin(35.0 * th + 1.3 * np.sin(r / 3.0) + 1.5 * np.sin(5.0 * th + c[2]))
        fiss = ((s1 > 0.9) & (r > 9.0))[None] & (d < 13.0)
        fol = (s2 > 0.85)[None] & (d < 5.0)
        branch = ((s1 < -0.72) | (r < 6.5))[None] & (d > 2.6)
        branch |= ((s2 < -0.8) & (s1 < 0.3) & (r > 9.0))[None] & (d > 1.8) & (d < 7.0)
        inside = d > 0
        core = (d > 8.5) & (np.abs(X) > 7.0)
        val = np.where(branch | core, np.uint8(CB_WM), np.uint8(CB_GM))
        val = np.where(fiss | fol, np.uint8(CSF), val)
        _paint(self.lab[bc], inside, val)


# ----------------------------------------------------------------------------------------------
# public synthesis

def _face_region(fr: _Frame, f: _Face) -> np.ndarray:
    """2-D (axis 1, axis 2) region in which non-bone, non-air head tissue counts as 'face'."""
    Y, Z = fr.Y, fr.Z
    zp = [-300, f.z_me - 20, f.z_me - 6, f.z_me + 10, f.z_pal - 4, f.z_pal + 2]
    ya = np.interp(Z, zp, [33, 32, 29, 22, 23, 26])
    h = np.interp(Z, zp, [5.5, 5.5, 4.0, 4.5, 5.0, 6.0])
    ylim = np.where(Z > f.z_e - 16.0, 48.0, np.where(Z > f.z_pal, 36.0, np.maximum(ya + h + 1.0, 15.0)))
    return (Z < f.z_g + 3.0) & (Z > f.z_me - 25.0) & (Y > ylim)


def _bias(shape, zooms, rng, strength):
    """Smooth multiplicative bias field as a 1-D (axis 0) and a 2-D (axes 1, 2) factor."""
    fov = _fov(shape, zooms)
    u = (np.arange(shape[0]) - (shape[0] - 1) / 2) * zooms[0] / (fov[0] / 2)
    v = ((np.arange(shape[1]) - (shape[1] - 1) / 2) * zooms[1] / (fov[1] / 2))[:, None]
    w = ((np.arange(shape[2]) - (shape[2] - 1) / 2) * zooms[2] / (fov[2] / 2))[None, :]
    c = rng.normal(0, 1, 8) * strength
    bx = np.exp(c[0] * u * 0.6 + c[1] * (u * u - 0.33) * 0.6)
    byz = np.exp(c[2] * v + c[3] * w + c[4] * v * w * 0.7 + c[5] * (v * v - 0.33) * 0.7
                 + c[6] * (w * w - 0.33) * 0.7 - abs(strength) * 0.8 * (v * v + w * w - 0.66))
    return _f32(bx), _f32(byz)


def _blur3(a):
    """Partial-volume smoothing: 3-tap [1/4, 1/2, 1/4] along each axis, in place."""
    for ax in range(3):
        a_ = np.moveaxis(a, ax, 0)
        tmp = a_[:-2] + a_[2:]
        tmp *= np.float32(0.5)
        a_[1:-1] += tmp
        a_[1:-1] *= np.float32(0.5)
    return a


#: Tissue label values of :func:`label_map` (name -> uint8 value).
LABELS: dict[str, int] = {name: value for value, name in enumerate(
    ["air", "skin", "fat", "muscle", "vitreous", "lens", "sclera", "optic_nerve", "cartilage",
     "mucosa", "tongue", "gland", "bone", "marrow", "teeth", "csf", "cord", "disc", "pituitary",
     "gm", "wm", "deep_gm", "pallidum", "brainstem", "cerebellum_gm", "cerebellum_wm",
     "ventricle", "septum_pellucidum", "air_inside"])}
assert LABELS["septum_pellucidum"] == SEPTUM and LABELS["fat"] == FAT and LABELS["wm"] == WM


def _render(params, pose, shape):
    pose = pose or Pose()
    shape, zooms = _grid(params.site, shape)
    r = _Render(params, pose, shape, zooms)
    r.cavity()
    r.envelope()
    r.soft_tissue()
    r.face_internals()
    r.spine()
    r.skull()
    r.brain()
    return r, shape, zooms


def label_map(params: SubjectParams, pose: Pose | None = None, shape=None):
    """The tissue labels behind :func:`synthesize` (same geometry, no intensities or noise).

    Returns
    -------
    labels : numpy.ndarray, uint8, RAS shape as in :func:`synthesize`
        Values of :data:`LABELS` (e.g. ``labels == LABELS["wm"]``).
    ras_affine : numpy.ndarray, shape (4, 4)
    """
    r, shape, zooms = _render(params, pose, shape)
    return r.lab, _ras_affine(shape, zooms)


def synthesize(params: SubjectParams, scan_seed, pose: Pose | None = None, shape=None):
    """Make one T1-weighted head volume and its ground truth.

    Parameters
    ----------
    params : SubjectParams
        The subject (anatomy and site), e.g. from :func:`sample_subject`.
    scan_seed : int or numpy.random.SeedSequence
        Seed of what changes between scans: Rician noise, bias field, intensity scale.
    pose : Pose, optional
        Head placement; default ``Pose()`` (no pitch, head centred).
    shape : tuple of 3 ints, optional
        RAS array shape. Default: the site's IXI shape, (150, 256, 256) or (146, 256, 256) for
        IOP, with voxels 1.2 x 0.9375 x 0.9375 mm. Another shape keeps the field of view
        (180 or 175.2 x 240 x 240 mm) and changes the voxel size (for fast tests).

    Returns
    -------
    image : numpy.ndarray, float32, shape ``shape``
        Intensities in RAS order (axis 0 left->right, 1 posterior->anterior, 2 inferior->
        superior), non-negative, in the site's scale (white matter about 800 for Guys, 1500 for
        HH, 420 for IOP). Like the masks, it is a view of memory laid out in IXI's storage
        order (so that writing it is cheap); ``np.ascontiguousarray`` gives a C-ordered copy.
    truth : dict of str -> numpy.ndarray of bool, shape ``shape``
        ``brain``: parenchyma of cerebrum, cerebellum and brainstem down to the foramen magnum,
        ventricles included (what a defacer must never touch); ``face``: skin, fat, muscle,
        cartilage, eyes, orbital fat, tongue and mucosa in front of / below the brain case, from
        the brow to below the chin and in front of the ears and the pharynx; ``head``:
        everything inside the skin (filled, air cavities included).
    ras_affine : numpy.ndarray, shape (4, 4)
        Voxel -> scanner RAS mm for ``image``; the scanner origin is the centre of the field of
        view.
    """
    r, shape, zooms = _render(params, pose, shape)
    # From here on, arrays live in memory in IXI's storage order (PSR: axis 1 reversed, then
    # axes 1, 2, 0), seen through RAS views: writing them in that order needs no transposition.
    lab = _ras_view(np.ascontiguousarray(_to_storage(r.lab)))
    region = _face_region(r.fr, r.face)[None]
    del r
    face = (lab >= _FACE_RANGE[0]) & (lab <= _FACE_RANGE[1])
    face &= region
    brain = (lab >= _BRAIN_RANGE[0]) & (lab <= _BRAIN_RANGE[1])
    truth = {"brain": brain, "face": face, "head": lab != AIR}
    # appearance
    look = _SITE_LOOK[params.site]
    rng = np.random.default_rng(scan_seed)
    t1 = _BASE_T1.copy()
    for k, v in look["t1"].items():
        t1[k] = v
    wm = look["wm"] * float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.12))
    lut = t1 * np.float32(wm)
    buf = np.take(lut, _to_storage(lab))          # C-contiguous, storage order
    img = _ras_view(buf)
    del lab
    _blur3(img)
    bx, byz = _bias(shape, zooms, rng, look["bias"])
    img *= bx[:, None, None]
    img *= byz[None]
    sigma = np.float32(look["noise"] * wm)
    # Rician noise |I + n1 + i n2|. n2 is n1 read at a fixed large offset in memory: for every
    # voxel n1 and n2 are independent standard normals (half the random-number cost).
    n = rng.standard_normal(img.size, dtype=np.float32)
    n *= sigma
    flat = buf.reshape(-1)
    flat += n
    np.square(flat, out=flat)
    k = img.size // 2 + 7919
    np.square(n, out=n)
    flat[:-k] += n[k:]
    flat[-k:] += n[:k]
    del n
    np.sqrt(buf, out=buf)
    return img, truth, _ras_affine(shape, zooms)


def _to_storage(ras):
    """View of a RAS array in PSR axis order (the inverse of :func:`_ras_view`)."""
    return ras[:, ::-1, :].transpose(1, 2, 0)


def _ras_view(stored):
    """RAS view of an array held in PSR axis order."""
    return stored.transpose(2, 0, 1)[:, ::-1, :]


# ----------------------------------------------------------------------------------------------
# cohort

_ENTRY_KEY = 7919   # spawn-key branch for per-index cohort bookkeeping (ids, numbers)


def site_for_index(index: int) -> str:
    """Site of the ``index``-th subject (0-based) of every cohort (independent of size/seed).

    The first six are Guys, HH, IOP, Guys, HH, IOP (so that even 6 subjects cover every site
    twice); after that the site furthest below its IXI share (322:185:74) comes next.
    """
    order = list(SITES) * 2
    if index < len(order):
        return order[index]
    total = sum(SITE_PROPORTIONS.values())
    counts = {s: 2 for s in SITES}
    site = SITES[0]
    for i in range(len(order), index + 1):
        site = max(SITES, key=lambda s: (SITE_PROPORTIONS[s] / total * (i + 1) - counts[s],
                                         SITE_PROPORTIONS[s]))
        counts[site] += 1
    return site


def _child(seed: int, *key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key))


def cohort_entries(subjects: int, seed: int = 0) -> list[dict]:
    """File names and seeds of the first ``subjects`` subjects of a cohort (nothing is written).

    Entry ``i`` depends only on ``seed`` and ``i``: ids start at 2 and grow by small random gaps
    (like IXI's), the 4-digit session number is random, the site is :func:`site_for_index`.

    Returns
    -------
    list of dict
        Keys ``index``, ``id``, ``site``, ``num``, ``name`` (``IXI{id:03d}-{site}-{num:04d}-T1``
        + ``.nii.gz``), ``stem``.
    """
    out = []
    ident = 2
    for i in range(int(subjects)):
        rng = np.random.default_rng(_child(seed, _ENTRY_KEY, i))
        gap = 1 + int(rng.random() < 0.12) * int(rng.integers(1, 4))
        num = int(rng.integers(100, 1300))
        if i > 0:
            ident += gap
        if ident > 999:
            raise ValueError(f"too many subjects for 3-digit IXI ids ({subjects})")
        site = site_for_index(i)
        stem = f"IXI{ident:03d}-{site}-{num:04d}-T1"
        out.append(dict(index=i, id=ident, site=site, num=num, name=stem + ".nii.gz", stem=stem))
    return out


def _subject(seed: int, index: int, site: str):
    params = sample_subject(np.random.default_rng(_child(seed, index, 0)), site)
    pose = sample_pose(np.random.default_rng(_child(seed, index, 1)))
    scan_seed = int(_child(seed, index, 2).generate_state(1)[0])
    re_pose = rescan_pose(pose, np.random.default_rng(_child(seed, index, 3)))
    re_seed = int(_child(seed, index, 4).generate_state(1)[0])
    return params, (pose, scan_seed), (re_pose, re_seed)


def _truth_paths(folder: Path, stem: str) -> dict[str, Path]:
    t = folder / "truth"
    return {"brain": t / f"{stem}_brain.nii.gz", "face": t / f"{stem}_face.nii.gz",
            "head": t / f"{stem}_head.nii.gz", "json": t / f"{stem}.json"}


def _complete(folder: Path, entry: dict) -> bool:
    paths = [folder / entry["name"], *_truth_paths(folder, entry["stem"]).values()]
    return all(p.is_file() for p in paths)


def _write_scan(folder: Path, entry: dict, params: SubjectParams, pose: Pose, scan_seed: int,
                seed: int, rescan: bool, shape) -> dict[str, float]:
    t0 = time.perf_counter()
    image, truth, affine = synthesize(params, scan_seed, pose, shape)
    t1 = time.perf_counter()
    paths = _truth_paths(folder, entry["stem"])
    paths["truth_dir"] = paths["json"].parent
    paths["truth_dir"].mkdir(parents=True, exist_ok=True)
    todo = [(folder / entry["name"], image, np.int16)]
    todo += [(paths[k], truth[k].view(np.uint8), np.uint8) for k in ("brain", "face", "head")]
    for final, data, dtype in todo:
        tmp = final.with_name(".tmp-" + final.name)
        save_volume(tmp, data, affine, orientation=STORAGE_ORIENTATION, dtype=dtype)
        os.replace(tmp, final)
    shape_used, zooms = _grid(params.site, shape)
    meta = {
        "generator": GENERATOR_VERSION,
        "name": entry["name"],
        "id": entry["id"],
        "site": params.site,
        "num": entry["num"],
        "subject_index": entry["index"],
        "cohort_seed": int(seed),
        "scan_seed": int(scan_seed),
        "rescan": bool(rescan),
        "params": asdict(params),
        "face_params": params.face_params(),
        "head_params": params.head_params(),
        "pose": {"pitch_deg": pose.pitch_deg, "shift_mm": list(pose.shift_mm)},
        "head_to_scanner": head_to_scanner(params, pose, shape).round(6).tolist(),
        "ras_shape": list(shape_used),
        "ras_zooms": list(zooms),
        "storage_orientation": STORAGE_ORIENTATION,
        "masks": {"brain": "brain parenchyma incl. ventricles, down to the foramen magnum",
                  "face": "facial soft tissue, cartilage and eyes a defacer should remove",
                  "head": "everything inside the skin, cavities filled"},
    }
    tmp = paths["json"].with_name(".tmp-" + paths["json"].name)
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, paths["json"])
    return {"generate_s": t1 - t0, "write_s": time.perf_counter() - t1}


def make_cohort(out_dir, subjects: int = 12, seed: int = 0, rescans: bool = False,
                progress: bool = True, shape=None, only=None, jobs: int = 1) -> list[Path]:
    """Write a synthetic IXI-like cohort (resumable: existing complete files are skipped).

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``IXI{id:03d}-{site}-{num:04d}-T1.nii.gz`` files; ground truth goes to
        ``out_dir/truth/`` (``<stem>_brain.nii.gz``, ``<stem>_face.nii.gz``,
        ``<stem>_head.nii.gz`` as uint8 stored like the image, and ``<stem>.json`` with the
        parameters, site, pose and seeds).
    subjects : int
        Number of subjects. Subject ``i`` is the same whatever ``subjects`` is.
    seed : int
        Cohort seed; the same seed gives byte-identical arrays.
    rescans : bool
        Also write ``out_dir/rescans/<same name>`` (+ ``rescans/truth/``): the same subjects
        with new noise/bias and a slightly different pose (pitch +-3 deg, shifts +-3 mm).
    progress : bool
        Print one line per subject.
    shape : tuple of 3 ints, optional
        RAS array shape override (see :func:`synthesize`); default the IXI shapes.
    only : iterable of str, optional
        Write only the subjects of the cohort with these file names (e.g. the test subjects
        of a model trained on the others); each is the same as in the whole cohort.
    jobs : int
        Processes writing subjects at the same time (the files do not depend on it).

    Returns
    -------
    list of pathlib.Path
        The image files of the (first-scan) cohort, in subject order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = cohort_entries(subjects, seed)
    if only is not None:
        wanted = set(only)
        unknown = sorted(wanted - {entry["name"] for entry in entries})
        if unknown:
            raise ValueError(f"not in the first {subjects} subjects of the cohort of seed "
                             f"{seed}: {', '.join(unknown)}")
        entries = [entry for entry in entries if entry["name"] in wanted]
    tasks = [(out_dir, entry, f"[{k + 1}/{len(entries)}]", seed, rescans, shape, progress)
             for k, entry in enumerate(entries)]
    if jobs > 1 and len(tasks) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # "spawn": a fork of a process that runs TensorFlow's threads (a notebook) can hang
        with ProcessPoolExecutor(min(jobs, len(tasks)),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_make_subject, *zip(*tasks)))
    else:
        for task in tasks:
            _make_subject(*task)
    return [out_dir / entry["name"] for entry in entries]


def _make_subject(out_dir: Path, entry: dict, label: str, seed: int, rescans: bool, shape,
                  progress: bool) -> None:
    """Write one subject of :func:`make_cohort` (and its rescan) where not complete."""
    folders = [(out_dir, False)] + ([(out_dir / "rescans", True)] if rescans else [])
    missing = [(f, r) for f, r in folders if not _complete(f, entry)]
    if not missing:
        if progress:
            print(f"{label} {entry['name']}: exists, skipped", flush=True)
        return
    params, first, second = _subject(seed, entry["index"], entry["site"])
    for folder, is_rescan in missing:
        pose, scan_seed = second if is_rescan else first
        folder.mkdir(parents=True, exist_ok=True)
        tm = _write_scan(folder, entry, params, pose, scan_seed, seed, is_rescan, shape)
        if progress:
            where = "rescans/" if is_rescan else ""
            print(f"{label} {where}{entry['name']}: generated in {tm['generate_s']:.1f} s, "
                  f"written in {tm['write_s']:.1f} s", flush=True)

