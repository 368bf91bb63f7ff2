"""Who is scanned and how: sites, subject parameters and head poses of the synthetic cohort.

A subject is a :class:`SubjectParams` (head size, skull and scalp thickness, ventricles, and 15
independent face-shape parameters) drawn by :func:`sample_subject`; a scan places it in the
scanner with a :class:`Pose` (pitch about the left-right axis and a shift) drawn by
:func:`sample_pose`, or by :func:`rescan_pose` for a second scan of the same subject.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from refacing_lib.data.ixi import SITES as IXI_SITES

#: The three IXI sites (scanners).
SITES: tuple[str, ...] = tuple(IXI_SITES)
#: Number of T1 volumes per site in IXI (paper, Table 1); the cohort interleaves sites in
#: this ratio.
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

#: Head and brain parameters: name -> (mean, sd, low, high) of a normal draw clipped to
#: [low, high]; lengths in mm of a head with unit scale factors. All draws are independent.
HEAD_SPEC = {
    "scale_x": (1.0, 0.025, 0.94, 1.06),            # head width factor
    "scale_y": (1.0, 0.025, 0.94, 1.06),            # head length factor
    "scale_z": (1.0, 0.02, 0.95, 1.05),             # head height factor
    "skull_thickness": (6.5, 0.7, 5.0, 8.5),        # mm, vault
    "scalp_thickness": (6.0, 0.7, 4.5, 8.0),        # mm, skin + fat + galea
    "csf_width": (2.6, 0.4, 1.8, 4.0),              # mm of CSF around the brain
    "ventricle_scale": (1.0, 0.15, 0.7, 1.5),       # lateral/third ventricle size factor
}
#: Face-shape parameters, as :data:`HEAD_SPEC` (mm, degrees; ``cheek_fullness`` 0..1).
FACE_SPEC = {
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
#: Names of the head and brain parameters of :class:`SubjectParams`.
HEAD_FIELDS: tuple[str, ...] = tuple(HEAD_SPEC)
#: Names of the 15 independent face-shape parameters of :class:`SubjectParams`.
FACE_FIELDS: tuple[str, ...] = tuple(FACE_SPEC)


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
        The 15 independent face-shape parameters (:data:`FACE_FIELDS`); see ``FACE_SPEC`` in the
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
        """The face-shape parameters, :data:`FACE_FIELDS` -> value (mm, degrees)."""
        return {name: getattr(self, name) for name in FACE_FIELDS}

    def head_params(self) -> dict[str, float]:
        """The head and brain parameters, :data:`HEAD_FIELDS` -> value (factors, mm)."""
        return {name: getattr(self, name) for name in HEAD_FIELDS}

    @classmethod
    def from_dict(cls, values: dict) -> "SubjectParams":
        """Rebuild parameters from :func:`dataclasses.asdict` output (e.g. read from JSON).

        Parameters
        ----------
        values : dict
            At least one entry per field of :class:`SubjectParams`; others are ignored.

        Returns
        -------
        SubjectParams
        """
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
    """``seed_or_rng`` itself if it is a Generator, else a new Generator seeded with it."""
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)


def _draw(rng: np.random.Generator, spec: dict) -> dict[str, float]:
    """One value per entry of ``spec`` (:data:`HEAD_SPEC` or :data:`FACE_SPEC`), in its order:
    a normal draw clipped to the entry's range, rounded to 4 decimals (as stored in JSON)."""
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
    head = _draw(rng, HEAD_SPEC)
    face = _draw(rng, FACE_SPEC)
    return SubjectParams(site=site, folding_seed=folding_seed, **head, **face)


def sample_pose(seed_or_rng) -> Pose:
    """A random head pose of a first scan.

    Parameters
    ----------
    seed_or_rng : int, numpy.random.SeedSequence or numpy.random.Generator
        Randomness.

    Returns
    -------
    Pose
        Pitch drawn from N(0, 4) degrees clipped to +-9, each shift uniform in +-4 mm (scanner
        x, y, z), rounded to 0.001.
    """
    rng = _as_rng(seed_or_rng)
    pitch = float(np.clip(rng.normal(0.0, 4.0), -9.0, 9.0))
    shift = rng.uniform(-4.0, 4.0, 3)
    return Pose(round(pitch, 3), tuple(round(float(s), 3) for s in shift))


def rescan_pose(pose: Pose, seed_or_rng) -> Pose:
    """A slightly different pose for a rescan of the same subject.

    Parameters
    ----------
    pose : Pose
        The pose of the first scan.
    seed_or_rng : int, numpy.random.SeedSequence or numpy.random.Generator
        Randomness.

    Returns
    -------
    Pose
        ``pose`` with its pitch moved by up to +-3 degrees (clipped to +-11) and each shift by up
        to +-3 mm (uniform draws), rounded to 0.001.
    """
    rng = _as_rng(seed_or_rng)
    pitch = float(np.clip(pose.pitch_deg + rng.uniform(-3.0, 3.0), -11.0, 11.0))
    shift = np.asarray(pose.shift_mm) + rng.uniform(-3.0, 3.0, 3)
    return Pose(round(pitch, 3), tuple(round(float(s), 3) for s in shift))

