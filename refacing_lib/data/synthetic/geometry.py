"""Shapes and grids of the painters: signed depths, index boxes and head-frame coordinates.

Depths are approximate signed distances in millimetres, positive inside a shape. An *index box*
is a tuple of three slices of the RAS voxel grid. :class:`Frame` gives the canonical head-frame
coordinates (mm) of every voxel.
"""

import math

import numpy as np


def smoothstep(x, e0, e1):
    """Cubic step from 0 (``x <= e0``) to 1 (``x >= e1``), flat at both ends.

    Parameters
    ----------
    x : array_like
        Positions (any shape).
    e0, e1 : float
        Where the step starts and ends (same unit as ``x``, ``e0 != e1``).

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``.
    """
    t = np.clip((x - e0) * (1.0 / (e1 - e0)), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def f32(a):
    """``a`` as a float32 array."""
    return np.asarray(a, dtype=np.float32)


def table(z, zp, fp):
    """Linear interpolation of the table (``zp``, ``fp``) at ``z`` (constant beyond its ends).

    Parameters
    ----------
    z : array_like
        Positions (any shape).
    zp, fp : sequence of float
        Increasing positions and their values.

    Returns
    -------
    numpy.ndarray of float32
        Same shape as ``z``.
    """
    return np.interp(z, zp, fp).astype(np.float32)


def ellipsoid_depth(x, y, z, c, a):
    """Approximate signed distance to an axis-aligned ellipsoid.

    Parameters
    ----------
    x, y, z : numpy.ndarray of float32
        Coordinates (mm), broadcastable against each other (e.g. from :meth:`Frame.coords`).
    c : sequence of 3 floats
        Centre (mm).
    a : sequence of 3 floats
        Semi-axes along x, y and z (mm).

    Returns
    -------
    numpy.ndarray of float32
        The broadcast shape; mm, positive inside (first-order distance: the implicit function
        divided by its gradient's length).
    """
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


def smooth_max(a, b, k):
    """Smooth maximum of two depth fields: their union with a rounded joint.

    Parameters
    ----------
    a, b : numpy.ndarray of float32
        Signed depths (mm), broadcastable.
    k : float
        Width of the blend (mm): where ``a`` and ``b`` differ by less, the union bulges out by up
        to ``k / 4``.

    Returns
    -------
    numpy.ndarray of float32
    """
    h = np.maximum(np.float32(k) - np.abs(a - b), 0.0)
    h *= h
    h *= np.float32(0.25 / k)
    h += np.maximum(a, b)
    return h


def paint(lab, mask, value):
    """Set ``lab[mask] = value`` in place, without branching (fast for dense masks).

    Parameters
    ----------
    lab : numpy.ndarray of uint8
        Labels, e.g. a box of the label volume (a view).
    mask : numpy.ndarray of bool or of 0/1 integers
        Broadcastable to ``lab``.
    value : int or numpy.ndarray of uint8
        A label, or one per voxel (broadcastable).
    """
    m = mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
    lab += m * (np.asarray(value, np.uint8) - lab)


class Frame:
    """Canonical head-frame coordinates (mm) of a RAS voxel grid.

    With a pitch-only rotation, the head-frame x of a voxel depends on its axis-0 index only and
    (y, z) on its axis-1 and axis-2 indices only, so 3-D quantities are broadcasts of 1-D and
    2-D arrays. Coordinates are divided by the subject's scale factors ("canonical" mm).

    Parameters
    ----------
    shape : tuple of 3 ints
        RAS array shape (left-right, posterior-anterior, inferior-superior).
    zooms : tuple of 3 floats
        Voxel size (mm) along those axes.
    translation : array_like, shape (3,)
        Scanner position (mm, origin at the centre of the field of view) of the head frame's
        origin.
    pitch_deg : float
        Rotation of the head about the left-right axis (degrees, positive chin up).
    scale : array_like, shape (3,)
        The subject's ``scale_x``, ``scale_y``, ``scale_z``.

    Attributes
    ----------
    X : numpy.ndarray of float32, shape (nx,)
        Canonical x of each axis-0 index.
    Y, Z : numpy.ndarray of float32, shape (ny, nz)
        Canonical y and z of each (axis-1, axis-2) index pair.
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
        self.X = f32((sx - self.t[0]) / self.scale[0])
        self.Y = f32((self.c * dy + self.s * dz) / self.scale[1])
        self.Z = f32((-self.s * dy + self.c * dz) / self.scale[2])

    def to_index(self, y, z):
        """Fractional array indices of canonical head-frame positions.

        Parameters
        ----------
        y, z : array_like
            Canonical y and z (mm), same shape.

        Returns
        -------
        j, k : numpy.ndarray of float
            Axis-1 and axis-2 indices (not rounded, possibly outside the grid).
        """
        yh = np.asarray(y, float) * self.scale[1]
        zh = np.asarray(z, float) * self.scale[2]
        sy = self.c * yh - self.s * zh + self.t[1]
        sz = self.s * yh + self.c * zh + self.t[2]
        ny, nz = self.shape[1:]
        return sy / self.zooms[1] + (ny - 1) / 2, sz / self.zooms[2] + (nz - 1) / 2

    def box(self, x0, x1, y0, y1, z0, z1, pad=1):
        """The index box covering a canonical box.

        Parameters
        ----------
        x0, x1, y0, y1, z0, z1 : float
            Canonical bounds (mm) along x, y and z.
        pad : int
            Extra voxels on every side.

        Returns
        -------
        tuple of 3 slices or None
            Clipped to the grid; None if the box lies outside it.
        """
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
        """Canonical coordinates of the voxels of index box ``b``, for broadcasting.

        Returns
        -------
        X, Y, Z : numpy.ndarray of float32
            Shapes (n, 1, 1), (1, m, p) and (1, m, p) for a box of shape (n, m, p) (views).
        """
        return (self.X[b[0]][:, None, None], self.Y[b[1], b[2]][None], self.Z[b[1], b[2]][None])

    def coords2(self, b):
        """Canonical (Y, Z) of index box ``b`` as 2-D arrays of shape (m, p) (views)."""
        return self.Y[b[1], b[2]], self.Z[b[1], b[2]]


def sub_box(inner, outer):
    """Index box ``inner``, clipped to ``outer``, relative to ``outer``'s first voxel.

    Parameters
    ----------
    inner, outer : tuple of 3 slices
        Index boxes of the same grid (steps of 1).

    Returns
    -------
    tuple of 3 slices
        Indexes an array holding ``outer`` (possibly empty).
    """
    out = []
    for a, b in zip(inner, outer):
        start = min(max(a.start, b.start), b.stop)
        stop = max(min(a.stop, b.stop), start)
        out.append(slice(start - b.start, stop - b.start))
    return tuple(out)


def intersect_boxes(a, b):
    """Intersection of two index boxes of the same grid: a box, or None if they do not meet."""
    out = []
    for sa, sb in zip(a, b):
        lo, hi = max(sa.start, sb.start), min(sa.stop, sb.stop)
        if hi <= lo:
            return None
        out.append(slice(lo, hi))
    return tuple(out)
