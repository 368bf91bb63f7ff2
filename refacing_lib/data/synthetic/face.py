"""The face of a synthetic subject: landmarks, skin surface tables and the face's ground truth.

:class:`Face` turns the face-shape parameters of a :class:`~.subject.SubjectParams` into
mid-sagittal landmarks and 1-D tables over the canonical level z (head frame, mm), from which
the painters derive the skin surface (:mod:`.head`) and the structures behind it
(:mod:`.face_anatomy`).
"""

from __future__ import annotations

import math

import numpy as np

from .anatomy import Z_NASION
from .geometry import smoothstep
from .subject import SubjectParams

#: The kinds of face a synthetic head can have (:class:`Face`).
FACES = ("block", "human")

#: Canonical levels z (mm) at which the face's tables are sampled: from the neck to above the
#: skull, every 0.25 mm.
Z_GRID = np.arange(-240.0, 80.0, 0.25)

#: The pharyngeal airway at the levels of :meth:`Face.airway_levels`: the anterior position of
#: its centre (canonical y, mm), its half depth (along y) and half width (along x), mm.
AIRWAY_Y = [33, 32, 29, 22, 23, 26]
AIRWAY_HALF_DEPTH = [5.5, 5.5, 4.0, 4.5, 5.0, 6.0]
AIRWAY_HALF_WIDTH = [7.0, 7.0, 9.0, 11.0, 10.0, 10.0]


def smoothed_polyline(zs, ys, grid=Z_GRID, sigma=1.5):
    """A smooth curve through control points, sampled on ``grid``.

    The points are joined by straight lines (the curve is constant beyond the first and last
    point), then smoothed with a Gaussian of ``sigma`` mm: corners are rounded, and the curve
    never overshoots the points (unlike a spline).

    Parameters
    ----------
    zs, ys : sequence of float
        Control points (mm), in any order of ``zs``.
    grid : numpy.ndarray, shape (n,)
        Evenly spaced positions (mm).
    sigma : float
        Standard deviation of the smoothing (mm).

    Returns
    -------
    numpy.ndarray, shape (n,)
    """
    order = np.argsort(zs)
    zs = np.asarray(zs, float)[order]
    ys = np.asarray(ys, float)[order]
    lin = np.interp(grid, zs, ys)
    step = grid[1] - grid[0]
    half = int(round(3 * sigma / step))
    kern = np.exp(-0.5 * (np.arange(-half, half + 1) * step / sigma) ** 2)
    kern /= kern.sum()
    return np.convolve(np.pad(lin, half, mode="edge"), kern, mode="valid")


class Face:
    """Landmarks and surface tables of the face of one subject (canonical head frame, mm).

    The skin of the face is a height field: at canonical level z and lateral position x its
    anterior position is ``y = base(z) + nose(z) * exp(-(x / nose_half_width(z))**2)
    - curvature(z) * x**2`` (:meth:`surface_y`), cut off laterally at ``half_width(z)``. The
    tables are sampled on :data:`Z_GRID`; :meth:`table` interpolates them.

    With ``faces="human"`` a relief (:meth:`relief`) is added to that height field: eye
    sockets with the eyes, their lids and fissures, brows, cheekbones, the alae of the nose,
    nasolabial folds, the philtrum, and lips and a mouth line only as wide as the mouth (and
    behind the skin, nostrils: :mod:`.face_anatomy`). Without it
    (``"block"``) the face is the height field alone, which no face detector takes for a face.

    Parameters
    ----------
    p : SubjectParams
        The subject (its face-shape parameters).
    faces : {"block", "human"}
        Without or with the relief.

    Attributes
    ----------
    profile, base, nose, nose_half_width, curvature, half_width, slope : numpy.ndarray
        Shape ``Z_GRID.shape``: mid-sagittal skin profile y (mm), the same without the external
        nose, the nose's height above that base (mm), the half width of the nose's Gaussian (mm),
        the lateral fall-off of the face (1/mm), the half width of the face (mm) and the profile's
        slope dy/dz.
    z_g, y_g, z_n, y_n, z_t, y_t, z_sn, y_sn, z_st, y_st, z_ls, y_ls, z_li, y_li, z_sl, y_sl,
    z_pg, y_pg, z_me, y_me : float
        Levels and anterior positions (mm) of the mid-sagittal landmarks: glabella, nasion,
        nose tip, subnasale, stomion (mouth slit), labrale superius and inferius, sublabiale,
        pogonion (chin) and menton (lowest point of the chin).
    z_pal : float
        Level of the hard palate.
    y_inc : float
        Anterior position of the upper incisors' labial face.
    ehs, y_e, z_e : float
        Half the interpupillary distance, anterior position and level of the eyes' centres.
    """

    def __init__(self, p: SubjectParams, faces: str = "human"):
        self.human, self.nose_width = _is_human(faces), p.nose_width
        L = p.nose_length
        tan_a = math.tan(math.radians(p.nose_bridge_angle))
        z_n = Z_NASION
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

        def line(z):
            """Anterior position (mm) of the nasal dorsum, straight from nasion to tip, at z."""
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
        self.profile = smoothed_polyline(zs, ys)
        # base surface without the nose (cheek/maxilla level under the nose)
        base = [pt for pt in prof if pt[0] >= z_n + 3 or pt[0] <= z_sn - 3]
        base += [(z_n, y_n - 1.5), (z_n - 10, y_n - 4.0), (0.5 * (z_n + z_sn), y_sn - 7.0),
                 (z_sn + 4, y_sn - 4.0), (z_sn, y_sn - 0.6)]
        zs, ys = zip(*base)
        self.base = smoothed_polyline(zs, ys)
        taper = (smoothstep(Z_GRID, z_sn - 2.0, z_sn + 0.5)
                 * (1 - smoothstep(Z_GRID, z_n - 1, z_n + 3)))
        self.nose = np.clip(self.profile - self.base, 0, None) * taper
        self.base = np.where(taper > 0, np.minimum(self.base, self.profile), self.profile)
        hw = 0.5 * p.nose_width
        self.nose_half_width = smoothed_polyline(
            [z_n + 6, z_n, z_n - 0.55 * L, z_t + 4, z_t - 3, z_sn, z_sn - 6],
            [7, 6.0, 7.5, 9.0, hw, hw - 1.5, hw - 3])
        ch = p.cheek_fullness
        self.curvature = smoothed_polyline(
            [z_g + 40, z_g + 12, z_g, z_n - 10, z_n - 26, z_st + 5, z_pg, z_me - 12],
            [0.0068, 0.0064, 0.0062, 0.0060, 0.0090 - 0.003 * ch, 0.0120 - 0.003 * ch, 0.019,
             0.024])
        jw = p.jaw_width
        self.half_width = smoothed_polyline(
            [z_g + 40, z_n - 10, z_n - 40, z_st, z_me + 10, z_me - 20],
            [78, 72, 68, jw + 16, jw + 8, jw + 4])
        self.slope = np.gradient(self.profile, Z_GRID)
        self.z_g, self.y_g, self.z_n, self.y_n = z_g, y_g, z_n, y_n
        self.z_t, self.y_t, self.z_sn, self.y_sn = z_t, y_t, z_sn, y_sn
        self.z_st, self.y_st, self.z_ls, self.y_ls = z_st, y_st, z_ls, y_ls
        self.z_li, self.y_li, self.z_sl, self.y_sl = z_li, y_li, z_sl, y_sl
        self.z_pg, self.y_pg, self.z_me, self.y_me = z_pg, y_pg, z_me, y_me
        self.z_pal = z_st + 20.0
        self.y_inc = y_ls - 12.0 - 0.5 * p.upper_lip_thickness   # upper incisor labial face
        # eyes: cornea 1.8 mm under the lid skin (of a human face: at the middle of the lids)
        self.ehs = 0.5 * p.eye_spacing
        self.z_e = z_n - 9.0
        self.y_e = self.surface_y(self.ehs, self.z_e - 0.5 * self.human) - 1.8 - 12.0

    def table(self, name, z):
        """Table ``name`` (e.g. ``"profile"``) interpolated at canonical levels ``z`` (mm).

        Returns
        -------
        numpy.ndarray of float32
            Same shape as ``z``.
        """
        return np.interp(z, Z_GRID, getattr(self, name)).astype(np.float32)

    def surface_y(self, x, z):
        """Anterior position (mm) of the skin at canonical lateral position ``x`` and level ``z``
        (floats, mm), the nose included."""
        b, n, w, c = (float(np.interp(z, Z_GRID, getattr(self, k)))
                      for k in ("base", "nose", "nose_half_width", "curvature"))
        relief = float(self.relief(np.float32(x), np.float32(z)))
        return b + n * math.exp(-(x / w) ** 2) - c * x * x + relief

    def relief(self, X, Z):
        """What a human face adds to the height field (mm, towards anterior) at canonical
        lateral positions ``X`` and levels ``Z`` (arrays of one shape; 0 for block faces).

        Per side, Gaussian bumps and grooves (depth or height, mm; half widths x, z, mm) at the
        face's landmarks: the orbit's socket (-7; 17, 11) around the eye at half the
        interpupillary distance, the eye under its lids (+5; 11, 6.5), the palpebral fissure
        (-1.2; 12, 0.9), the upper lid crease (-1.5; 13, 1.6), the brow 14 mm above the eye
        (+2.5; 20, 3.5), the cheekbone 20 mm below and 14 mm lateral to it (+3; 12, 9), the ala
        5 mm above the subnasale at the nose's width (+3.5; 6, 5), the nasolabial fold lateral
        to it (-1.5; 3, 12). The lips keep their profile only across the mouth (half width 25
        mm, with a mouth line of -2 at the stomion); lateral to it the face falls back to the
        line from subnasale to sublabiale. From the subnasale down to the upper lip runs the
        philtrum, a groove (-0.8; 2.5) between two columns 5 mm from the midline (+0.5; 1.5).
        The nostrils are painted with the structures behind the skin
        (:data:`~.face_anatomy.NOSTRIL`).
        """
        X = np.asarray(X, np.float32)
        Z = np.asarray(Z, np.float32)
        if not self.human:
            return np.zeros(np.broadcast(X, Z).shape, np.float32)

        def bump(height, cx, cz, sx, sz):
            return height * np.exp(-(((X - cx) / sx) ** 2 + ((Z - cz) / sz) ** 2))

        ehs, ze = self.ehs, self.z_e
        ala = 0.5 * self.nose_width
        out = np.zeros(np.broadcast(X, Z).shape, np.float32)
        for s in (-1.0, 1.0):
            out += bump(-7.0, s * ehs, ze + 1.0, 17.0, 11.0)             # orbit's socket
            out += bump(5.0, s * ehs, ze - 0.5, 11.0, 6.5)               # eye under the lids
            out += bump(-1.2, s * ehs, ze, 12.0, 0.9)                    # palpebral fissure
            out += bump(-1.5, s * ehs, ze + 6.5, 13.0, 1.6)              # upper lid crease
            out += bump(2.5, s * (ehs + 4.0), ze + 14.0, 20.0, 3.5)      # brow
            out += bump(3.0, s * (ehs + 14.0), ze - 20.0, 12.0, 9.0)     # cheekbone
            out += bump(3.5, s * (ala - 4.0), self.z_sn + 5.0, 6.0, 5.0)  # ala
            out += bump(-1.5, s * (ala + 4.0), self.z_st + 8.0, 3.0, 12.0)  # nasolabial fold
        mouth = np.exp(-(X / 25.0) ** 6)
        lips = (Z < self.z_sn - 2.0) & (Z > self.z_sl + 1.0)
        chord = np.interp(Z, [self.z_sl, self.z_sn], [self.y_sl, self.y_sn])
        bulge = np.clip(np.interp(Z, Z_GRID, self.profile) - chord, 0.0, None)
        out -= np.where(lips, bulge * (1.0 - mouth), 0.0).astype(np.float32)
        out -= (2.0 * np.exp(-((Z - self.z_st) / 1.0) ** 2) * mouth).astype(np.float32)
        half = 0.5 * (self.z_sn - self.z_ls)
        rows = np.exp(-((Z - (self.z_ls + half)) / half) ** 4)     # subnasale to upper lip
        out += (rows * (0.5 * np.exp(-((np.abs(X) - 5.0) / 1.5) ** 2)
                        - 0.8 * np.exp(-(X / 2.5) ** 2))).astype(np.float32)
        return out

    def airway_levels(self):
        """Levels (canonical z, mm) of the rows of :data:`AIRWAY_Y` and the other airway tables:
        the neck, under the chin, at the larynx, the oropharynx and up to the palate."""
        return [-300, self.z_me - 20, self.z_me - 6, self.z_me + 10, self.z_pal - 4,
                self.z_pal + 2]


def _is_human(faces: str) -> bool:
    """True for ``"human"``, False for ``"block"`` (:data:`FACES`); ValueError otherwise."""
    if faces not in FACES:
        raise ValueError(f"faces must be one of {FACES}, got {faces!r}")
    return faces == "human"


def face_region(frame, face: Face) -> np.ndarray:
    """Where non-bone, non-air head tissue counts as face in the ground truth.

    From 25 mm below the menton up to 3 mm above the glabella, and in front of the orbits'
    back (above the eyes' level minus 16 mm), of the nasal cavity's back (down to the palate) and
    of the pharynx (below the palate).

    Parameters
    ----------
    frame : Frame
        Head-frame coordinates of the voxel grid.
    face : Face
        The subject's face.

    Returns
    -------
    numpy.ndarray of bool, shape (ny, nz)
        The region in the sagittal plane (axis 1 posterior->anterior, axis 2
        inferior->superior); it applies to every sagittal slice.
    """
    Y, Z = frame.Y, frame.Z
    f = face
    zp = f.airway_levels()
    ya = np.interp(Z, zp, AIRWAY_Y)
    h = np.interp(Z, zp, AIRWAY_HALF_DEPTH)
    ylim = np.where(Z > f.z_e - 16.0, 48.0,
                    np.where(Z > f.z_pal, 36.0, np.maximum(ya + h + 1.0, 15.0)))
    return (Z < f.z_g + 3.0) & (Z > f.z_me - 25.0) & (Y > ylim)
