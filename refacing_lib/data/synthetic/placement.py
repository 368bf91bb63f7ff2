"""The voxel grid of a scan and where the head lies in it.

The scanner frame has its origin at the centre of the field of view, axes left->right,
posterior->anterior, inferior->superior (RAS, mm). :func:`placement` puts the head frame's
origin (the centre of the cerebrum) in it so that the whole skull and the nose fit;
:func:`head_to_scanner` is the resulting rigid transform.
"""

from __future__ import annotations

import math

import numpy as np

from .anatomy import CEREBRUM_X, CEREBRUM_Y, CEREBRUM_Z
from .face import Face
from .geometry import ellipsoid_depth, f32
from .subject import SITE_SHAPES, VOXEL_SIZE, Pose, SubjectParams

# Margins (mm) between the field of view's edges and the head: the nose tip stays at least
# _NOSE_MARGIN behind the front edge, the occiput _BACK_MARGIN in front of the back edge; the
# skull top lies _TOP_MARGIN_RANGE below the upper edge (as much of the spare height as fits, half
# of it) and never closer than _TOP_MIN_MARGIN. The left-right shift is limited to _MAX_SHIFT_X.
_NOSE_MARGIN = 3.0
_BACK_MARGIN = 1.0
_TOP_MARGIN_RANGE = (3.0, 14.0)
_TOP_MIN_MARGIN = 4.0
_MAX_SHIFT_X = 5.0


def field_of_view(shape, zooms):
    """Extent (mm) of a grid: ``shape`` (3 ints) times ``zooms`` (3 floats, mm), per axis."""
    return tuple(n * z for n, z in zip(shape, zooms))


def placement(params: SubjectParams, pose: Pose, fov) -> np.ndarray:
    """Scanner position of the head frame's origin for ``pose`` (see :class:`~.subject.Pose`).

    The head's mid-sagittal outline (cranium with its soft tissue, nose tip, glabella, chin) is
    rotated by the pose's pitch, centred front to back and put near the top of the field of view,
    then shifted by the pose's shift as far as the skull top and the nose tip stay inside.

    Parameters
    ----------
    params : SubjectParams
    pose : Pose
    fov : tuple of 3 floats
        Field of view (mm) along the RAS axes (:func:`field_of_view`).

    Returns
    -------
    numpy.ndarray, shape (3,)
        Translation (scanner mm, RAS).
    """
    f = Face(params)
    sy, sz = params.scale_y, params.scale_z
    m = params.csf_width + params.skull_thickness + params.scalp_thickness
    # outline of the cranium where the (approximate) depth used by the renderer reaches -m
    phi = np.linspace(-0.3, np.pi + 0.3, 81)[:, None]
    t = np.linspace(30.0, 140.0, 441)[None, :]
    yy, zz = t * np.cos(phi), t * np.sin(phi)
    d = ellipsoid_depth(np.float32(0.0), f32(yy), f32(zz), (0, 0, 0),
                        (CEREBRUM_X, CEREBRUM_Y, CEREBRUM_Z)) + m + 1.5
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
    ty = min(ty, half_y - _NOSE_MARGIN - front)          # nose tip inside
    ty = max(ty, -half_y + _BACK_MARGIN - back) if front - back < 2 * half_y - 4 else ty
    margin = float(np.clip((2 * half_z - (top - bottom)) / 2, *_TOP_MARGIN_RANGE))
    tz = half_z - margin - top + pose.shift_mm[2]
    tz = min(tz, half_z - _TOP_MIN_MARGIN - top)            # skull top inside
    tx = float(np.clip(pose.shift_mm[0], -_MAX_SHIFT_X, _MAX_SHIFT_X))
    return np.array([tx, ty, tz])


def head_to_scanner(params: SubjectParams, pose: Pose | None = None, shape=None) -> np.ndarray:
    """4x4 affine from the head frame (mm, origin at the cerebrum centre) to scanner RAS mm.

    The scanner frame is the one of the ``ras_affine`` returned by
    :func:`~refacing_lib.data.synthetic.synthesize` (origin at the centre of the field of
    view). Use it to undo the pose, e.g. to compare facial profiles.

    Parameters
    ----------
    params : SubjectParams
    pose : Pose, optional
        Default ``Pose()``.
    shape : tuple of 3 ints, optional
        RAS array shape, as given to :func:`~refacing_lib.data.synthetic.synthesize`.

    Returns
    -------
    numpy.ndarray, shape (4, 4)
        A rigid transform (pitch about x, then translation); the head frame is not scaled.
    """
    pose = pose or Pose()
    shape, zooms = grid(params.site, shape)
    t = placement(params, pose, field_of_view(shape, zooms))
    th = math.radians(pose.pitch_deg)
    c, s = math.cos(th), math.sin(th)
    return np.array([[1, 0, 0, t[0]], [0, c, -s, t[1]], [0, s, c, t[2]], [0, 0, 0, 1.0]])


def grid(site, shape):
    """Array shape and voxel size of a scan at ``site``.

    Parameters
    ----------
    site : str
        "Guys", "HH" or "IOP".
    shape : tuple of 3 ints or None
        RAS array shape; None for the site's IXI shape (:data:`~.subject.SITE_SHAPES`).

    Returns
    -------
    shape : tuple of 3 ints
    zooms : tuple of 3 floats
        Voxel size (mm) that keeps the site's IXI field of view.

    Raises
    ------
    ValueError
        If ``shape`` is not 3 sizes of at least 8.
    """
    full = SITE_SHAPES[site]
    fov = field_of_view(full, VOXEL_SIZE)
    if shape is None:
        return full, VOXEL_SIZE
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 8:
        raise ValueError(f"shape must be 3 sizes >= 8, got {shape}")
    return shape, tuple(f / n for f, n in zip(fov, shape))


def ras_affine(shape, zooms):
    """Voxel -> scanner affine (4, 4) of a RAS grid whose centre is the scanner origin."""
    aff = np.diag([*zooms, 1.0])
    aff[:3, 3] = [-(n - 1) / 2 * z for n, z in zip(shape, zooms)]
    return aff
