"""Rendering a subject: the label volume, then the T1-weighted image and its ground truth.

:class:`Canvas` holds the volumes that the painters fill in turn (:mod:`.head`,
:mod:`.face_anatomy`, :mod:`.brain`, in the order of :func:`_render`): a uint8 label volume
(:mod:`.tissues`) and the depth under the skin. :func:`synthesize` looks the labels up in the
site's intensity table, blurs them by a voxel (partial volume), applies a smooth bias field and
Rician noise.
"""

from __future__ import annotations

import numpy as np

from .brain import paint_brain
from .face import Face, face_region
from .face_anatomy import paint_face_internals
from .geometry import Frame, ellipsoid_depth, f32, paint
from .head import paint_cavity, paint_envelope, paint_skull, paint_soft_tissue, paint_spine
from .placement import field_of_view, grid, placement, ras_affine
from .subject import Pose, SubjectParams
from .tissues import AIR, BASE_T1, BRAIN_RANGE, FACE_RANGE, SITE_LOOK

#: Depth under the skin (mm) of voxels that no painter reached: far outside the head.
_OUTSIDE_DEPTH = -50.0


class Canvas:
    """The volumes of one subject's head while the painters fill them.

    Parameters
    ----------
    p : SubjectParams
        The subject.
    pose : Pose
        Its placement in the scanner.
    shape : tuple of 3 ints
        RAS array shape.
    zooms : tuple of 3 floats
        Voxel size (mm).
    faces : {"block", "human"}
        The kind of face (:class:`~.face.Face`).

    Attributes
    ----------
    params : SubjectParams
    face : Face
        The subject's face landmarks and tables.
    frame : Frame
        Canonical head-frame coordinates of the grid.
    labels : numpy.ndarray of uint8, shape ``shape``
        Tissue labels (:mod:`.tissues`), RAS; 0 (air) until painted.
    skin_depth : numpy.ndarray of float32, shape ``shape``
        Approximate depth under the skin (mm, positive inside the head).
    folding_rng : numpy.random.Generator
        Randomness of the cortical folding (seeded with ``params.folding_seed``).

    Notes
    -----
    The painters leave intermediate results for the later ones: :func:`~.head.paint_cavity`
    sets ``cranium_box`` (index box of the cranial cavity), ``cavity_depth`` (depth inside the
    cavity, mm, over that box), ``cerebrum_depth``, ``cerebellum_box``, ``cerebellum_depth``,
    ``brainstem_box``, ``brainstem_depth``, ``brow_bump`` and ``skull_map`` (2-D maps over the
    box's axes 1 and 2: extra thickness at the brow and skull thickness, mm);
    :func:`~.head.paint_envelope` sets ``ears`` (index box and depth of each pinna);
    :func:`~.head.paint_soft_tissue` sets ``fat_end`` (2-D, depth where the subcutaneous fat
    ends, mm); :func:`~.brain.paint_brain` sets ``hemisphere_box``, ``hemisphere_depth`` and
    ``callosum`` (the corpus callosum's arch coordinates).
    """

    def __init__(self, p: SubjectParams, pose: Pose, shape, zooms, faces: str = "human"):
        self.params = p
        self.face = Face(p, faces)
        t = placement(p, pose, field_of_view(shape, zooms))
        self.frame = Frame(shape, zooms, t, pose.pitch_deg, (p.scale_x, p.scale_y, p.scale_z))
        self.labels = np.zeros(shape, np.uint8)
        self.skin_depth = np.full(shape, _OUTSIDE_DEPTH, np.float32)
        self.folding_rng = np.random.default_rng(p.folding_seed)

    def box_around(self, c, a, pad=1.0):
        """Index box of the ellipsoid of centre ``c`` and semi-axes ``a`` (canonical mm),
        grown by ``pad`` mm; None outside the grid."""
        return self.frame.box(c[0] - a[0] - pad, c[0] + a[0] + pad, c[1] - a[1] - pad,
                              c[1] + a[1] + pad, c[2] - a[2] - pad, c[2] + a[2] + pad)

    def paint_ellipsoid(self, c, a, label, shell=None, where=None):
        """Paint an ellipsoid into :attr:`labels`.

        Parameters
        ----------
        c, a : sequence of 3 floats
            Centre and semi-axes (canonical mm).
        label : int
            Label of the inside.
        shell : tuple (float, int), optional
            ``(thickness_mm, label)`` of an outer shell painted under ``label``.
        where : callable, optional
            ``where(X, Y, Z)`` -> bool array: paint only there.

        Returns
        -------
        tuple (index box, numpy.ndarray of float32) or None
            The box and the ellipsoid's depth over it (mm), None if it lies outside the grid.
        """
        b = self.box_around(c, a)
        if b is None:
            return None
        X, Y, Z = self.frame.coords(b)
        d = ellipsoid_depth(X, Y, Z, c, a)
        lab = self.labels[b]
        ok = d > 0
        if where is not None:
            ok &= where(X, Y, Z)
        if shell is not None:
            paint(lab, ok, shell[1])
            ok &= d > shell[0]
        paint(lab, ok, label)
        return b, d


def _render(params, pose, shape, faces="human"):
    """Paint the labels of a subject.

    Returns
    -------
    canvas : Canvas
        With its labels painted.
    shape : tuple of 3 ints
        RAS array shape (:func:`~.placement.grid`).
    zooms : tuple of 3 floats
        Voxel size (mm).
    """
    pose = pose or Pose()
    shape, zooms = grid(params.site, shape)
    canvas = Canvas(params, pose, shape, zooms, faces)
    paint_cavity(canvas)
    paint_envelope(canvas)
    paint_soft_tissue(canvas)
    paint_face_internals(canvas)
    paint_spine(canvas)
    paint_skull(canvas)
    paint_brain(canvas)
    return canvas, shape, zooms


def label_map(params: SubjectParams, pose: Pose | None = None, shape=None,
              faces: str = "human"):
    """The tissue labels behind :func:`synthesize` (same geometry, no intensities or noise).

    Parameters
    ----------
    params, pose, shape, faces
        As for :func:`synthesize`.

    Returns
    -------
    labels : numpy.ndarray, uint8, RAS shape as in :func:`synthesize`
        Values of :data:`~.tissues.LABELS` (e.g. ``labels == LABELS["wm"]``).
    ras_affine : numpy.ndarray, shape (4, 4)
        Voxel -> scanner RAS mm.
    """
    canvas, shape, zooms = _render(params, pose, shape, faces)
    return canvas.labels, ras_affine(shape, zooms)


def _bias(shape, zooms, rng, strength):
    """A smooth multiplicative bias field, separable into two factors.

    Parameters
    ----------
    shape : tuple of 3 ints
        RAS array shape.
    zooms : tuple of 3 floats
        Voxel size (mm).
    rng : numpy.random.Generator
        Draws the field's 8 coefficients.
    strength : float
        Scale of the coefficients (log-amplitude, :data:`~.tissues.SITE_LOOK`).

    Returns
    -------
    bx : numpy.ndarray of float32, shape (nx,)
        Factor along axis 0 (left-right).
    byz : numpy.ndarray of float32, shape (ny, nz)
        Factor over axes 1 and 2, darker towards the field of view's edges.
    """
    fov = field_of_view(shape, zooms)
    u = (np.arange(shape[0]) - (shape[0] - 1) / 2) * zooms[0] / (fov[0] / 2)
    v = ((np.arange(shape[1]) - (shape[1] - 1) / 2) * zooms[1] / (fov[1] / 2))[:, None]
    w = ((np.arange(shape[2]) - (shape[2] - 1) / 2) * zooms[2] / (fov[2] / 2))[None, :]
    c = rng.normal(0, 1, 8) * strength
    bx = np.exp(c[0] * u * 0.6 + c[1] * (u * u - 0.33) * 0.6)
    byz = np.exp(c[2] * v + c[3] * w + c[4] * v * w * 0.7 + c[5] * (v * v - 0.33) * 0.7
                 + c[6] * (w * w - 0.33) * 0.7 - abs(strength) * 0.8 * (v * v + w * w - 0.66))
    return f32(bx), f32(byz)


def _blur3(a):
    """Partial-volume smoothing: 3-tap [1/4, 1/2, 1/4] along each axis, in place.

    Parameters
    ----------
    a : numpy.ndarray of float32, 3-D
        Any memory layout (a view); the outermost voxels of each axis are left as they are.

    Returns
    -------
    numpy.ndarray
        ``a``.
    """
    for ax in range(3):
        a_ = np.moveaxis(a, ax, 0)
        tmp = a_[:-2] + a_[2:]
        tmp *= np.float32(0.5)
        a_[1:-1] += tmp
        a_[1:-1] *= np.float32(0.5)
    return a


def synthesize(params: SubjectParams, scan_seed, pose: Pose | None = None, shape=None,
               faces: str = "human"):
    """Make one T1-weighted head volume and its ground truth.

    Parameters
    ----------
    params : SubjectParams
        The subject (anatomy and site), e.g. from :func:`~.subject.sample_subject`.
    scan_seed : int or numpy.random.SeedSequence
        Seed of what changes between scans: Rician noise, bias field, intensity scale.
    pose : Pose, optional
        Head placement; default ``Pose()`` (no pitch, head centred).
    shape : tuple of 3 ints, optional
        RAS array shape. Default: the site's IXI shape, (150, 256, 256) or (146, 256, 256) for
        IOP, with voxels 1.2 x 0.9375 x 0.9375 mm. Another shape keeps the field of view
        (180 or 175.2 x 240 x 240 mm) and changes the voxel size (for fast tests).
    faces : {"block", "human"}
        ``"human"``: eyes, lids, brows, cheekbones, alae and a mouth in the skin
        (:meth:`~.face.Face.relief`); ``"block"``: the smooth face of the course profile's cohort.

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
    canvas, shape, zooms = _render(params, pose, shape, faces)
    # From here on, arrays live in memory in IXI's storage order (PSR: axis 1 reversed, then
    # axes 1, 2, 0), seen through RAS views: writing them in that order needs no transposition.
    lab = _ras_view(np.ascontiguousarray(_to_storage(canvas.labels)))
    region = face_region(canvas.frame, canvas.face)[None]
    del canvas
    face = (lab >= FACE_RANGE[0]) & (lab <= FACE_RANGE[1])
    face &= region
    brain = (lab >= BRAIN_RANGE[0]) & (lab <= BRAIN_RANGE[1])
    truth = {"brain": brain, "face": face, "head": lab != AIR}
    # appearance
    look = SITE_LOOK[params.site]
    rng = np.random.default_rng(scan_seed)
    t1 = BASE_T1.copy()
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
    return img, truth, ras_affine(shape, zooms)


def _to_storage(ras):
    """View of a RAS array (nx, ny, nz) in IXI's PSR storage order, shape (ny, nz, nx) (the
    inverse of :func:`_ras_view`)."""
    return ras[:, ::-1, :].transpose(1, 2, 0)


def _ras_view(stored):
    """RAS view (nx, ny, nz) of an array held in PSR storage order, shape (ny, nz, nx)."""
    return stored.transpose(2, 0, 1)[:, ::-1, :]

