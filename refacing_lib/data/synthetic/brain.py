"""The brain: cerebrum with folded cortex, deep grey matter, ventricles, brainstem, cerebellum.

Painters of :class:`~.render.Canvas`; :func:`paint_brain` runs them after the skull
(:func:`~.head.paint_skull`). Coordinates are canonical head-frame mm (x right, y anterior,
z superior, origin at the centre of the cerebrum); deep structures are placed relative to the
corpus callosum's centre (:data:`~.anatomy.CALLOSUM_Y`, :data:`~.anatomy.CALLOSUM_Z`).
"""

import math

import numpy as np

from .anatomy import (
    CALLOSUM_A,
    CALLOSUM_B,
    CALLOSUM_Y,
    CALLOSUM_Z,
    CEREBRUM_X,
    CEREBRUM_Y,
    CEREBRUM_Z,
    Z_FORAMEN_MAGNUM,
)
from .geometry import ellipsoid_depth, f32, paint, sub_box
from .tissues import (
    BRAINSTEM,
    CB_GM,
    CB_WM,
    CORD,
    CSF,
    DEEP_GM,
    PALLIDUM,
    PITUITARY,
    SEPTUM,
    VENT,
    WM,
)

#: Deep grey nuclei of the right hemisphere (mirrored to the left): centre relative to the
#: corpus callosum's centre (x from the midline), semi-axes (mm) and label, in painting order:
#: thalamus, head of the caudate nucleus, putamen, globus pallidus.
DEEP_NUCLEI = [((10.5, -12, -14), (9, 15, 9), DEEP_GM),
               ((13.5, 15, 3), (4.5, 9, 7), DEEP_GM),
               ((24.5, 2, -8), (5, 15, 9), DEEP_GM),
               ((18.5, -1, -9), (3, 9, 6), PALLIDUM)]
#: Parts of a lateral ventricle as (centre, semi-axes) in mm at ``ventricle_scale`` 1: body,
#: frontal horn, atrium with occipital horn, temporal horn.
LATERAL_VENTRICLE = [((7.2, CALLOSUM_Y - 4, CALLOSUM_Z + 6), (6.0, 26.0, 4.8)),
                     ((8.0, CALLOSUM_Y + 18, CALLOSUM_Z + 2), (5.0, 10.0, 7.0)),
                     ((16.0, CALLOSUM_Y - 34, CALLOSUM_Z + 1), (6.0, 12.0, 8.0)),
                     ((27.0, CALLOSUM_Y - 8, -24.0), (3.5, 15.0, 4.0))]
#: The fourth ventricle, behind the pons, and the pituitary gland: (centre, semi-axes) in mm.
FOURTH_VENTRICLE = ((0, -21.5, -46), (6.5, 3.6, 9.0))
PITUITARY_GLAND = ((0, 14, -35), (5.5, 5.0, 3.7))


def paint_brain(canvas):
    """The brain into ``canvas.labels``: CSF filling the cranial cavity, then cerebrum, deep grey
    matter and ventricles, brainstem, cerebellum and the pituitary gland.

    Parameters
    ----------
    canvas : Canvas
        After :func:`~.head.paint_cavity` (and the skull, which the brain does not overwrite:
        it lies inside the cavity).
    """
    b = canvas.cranium_box
    paint(canvas.labels[b], canvas.cavity_depth > 0, CSF)
    _paint_cerebrum(canvas)
    _paint_deep_structures(canvas)
    _paint_brainstem(canvas)
    _paint_cerebellum(canvas)
    canvas.paint_ellipsoid(*PITUITARY_GLAND, PITUITARY)


def _callosum_geometry(Y, Z):
    """Coordinates of the mid-sagittal plane around the corpus callosum's arch.

    Parameters
    ----------
    Y, Z : numpy.ndarray of float32, shape (m, p)
        Canonical y and z (mm).

    Returns
    -------
    rho : numpy.ndarray
        Elliptic radius relative to the arch (1 on its centre line).
    t : numpy.ndarray
        Angle along the arch (radians; 0 at the front, pi at the back, the genu and splenium).
    dist : numpy.ndarray
        Signed distance from the centre line (mm, positive outside the arch).
    thick : numpy.ndarray
        The callosum's thickness there (mm): thickest at the genu and the splenium.
    """
    a, bb = CALLOSUM_A, CALLOSUM_B
    u = (Y - np.float32(CALLOSUM_Y)) * np.float32(1 / a)
    v = (Z - np.float32(CALLOSUM_Z)) * np.float32(1 / bb)
    rho = np.sqrt(u * u + v * v)
    t = np.arctan2(v, u)
    t = np.where(t < -1.6, t + np.float32(2 * np.pi), t)
    r = np.sqrt((a * np.cos(t)) ** 2 + (bb * np.sin(t)) ** 2)
    dist = (rho - 1.0) * r
    thick = (5.2 + 5.8 * np.exp(-((t - 0.05) / 0.5) ** 2)
             + 7.2 * np.exp(-((t - np.pi) / 0.38) ** 2))
    thick = np.where(t < -0.3, thick - 1.5, thick)
    return rho, t, dist, thick


def _paint_cerebrum(canvas):
    """The two hemispheres: white matter, a folded cortex (grey matter and sulcal CSF), the
    interhemispheric fissure, the cingulate sulcus and the Sylvian fissure.

    Sets ``canvas.hemisphere_box`` (index box), ``canvas.hemisphere_depth`` (depth inside the
    hemispheres, mm, the fissure cut out) and ``canvas.callosum`` (:func:`_callosum_geometry`
    over the box's axes 1 and 2). Draws from ``canvas.folding_rng``.

    Parameters
    ----------
    canvas : Canvas
    """
    fr = canvas.frame
    bt = fr.box(-CEREBRUM_X - 1, CEREBRUM_X + 1, -CEREBRUM_Y - 1, CEREBRUM_Y + 1, -44.0,
                CEREBRUM_Z + 1)
    sb = sub_box(bt, canvas.cranium_box)
    dc = canvas.cerebrum_depth[sb].copy()
    X, Y, Z = fr.coords(bt)
    Y2, Z2 = fr.coords2(bt)
    rng = canvas.folding_rng
    # interhemispheric fissure (wavy falx) except where the corpus callosum joins the halves
    ph = rng.uniform(0, 2 * np.pi, 4)
    xf = f32(0.4 * np.sin(Y2 / 13.0 + ph[0]) * np.cos(Z2 / 17.0 + ph[1])
              + 0.3 * np.sin(Y2 / 29.0 + ph[2]))
    rho, t, dist, thick = _callosum_geometry(Y2, Z2)
    dien = (((Y2 - (CALLOSUM_Y - 4.0)) / 24.0) ** 2
            + ((Z2 - (CALLOSUM_Z - 20.0)) / 14.0) ** 2) < 1.0
    fiss = ~((rho < 1.0) | (np.abs(dist) < 0.5 * thick) | dien)
    off = np.where(fiss, np.float32(-0.2), np.float32(1e3)).astype(np.float32)
    dmed = np.abs(X - xf[None]) + off[None]
    np.minimum(dc, dmed, out=dc)
    del dmed
    F, G, kk = _folding_fields(rng, X[:, 0, 0], Y2, Z2)
    w_s, w_gm = 0.65 * kk, 3.3 * kk
    D = 13.0
    inside = dc > 0
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
    lab = canvas.labels[bt]
    paint(lab, inside, val)
    canvas.hemisphere_box = bt
    canvas.hemisphere_depth = dc
    canvas.callosum = (rho, t, dist, thick)


def _paint_deep_structures(canvas):
    """Hypothalamus, thalami, caudate heads, putamina and pallida, the lateral and third
    ventricles with the septum pellucidum and the massa intermedia, corpus callosum, callosal
    sulcus and fornix.

    Parameters
    ----------
    canvas : Canvas
        After :func:`_paint_cerebrum`.
    """
    fr, p = canvas.frame, canvas.params
    vs = p.ventricle_scale
    bt = canvas.hemisphere_box
    X, Y, Z = fr.coords(bt)
    Y2, Z2 = fr.coords2(bt)
    lab = canvas.labels[bt]
    ax = np.abs(X)
    inside = canvas.hemisphere_depth > 0
    # diencephalon midline grey (hypothalamus)
    hyp = (((Y2 - (CALLOSUM_Y + 1.0)) / 11.0) ** 2
           + ((Z2 - (CALLOSUM_Z - 22.0)) / 7.0) ** 2) < 1.0
    paint(lab, hyp[None] & (ax < 6.0) & inside, DEEP_GM)
    for s in (-1, 1):
        for (cx, cy, cz), axes, label in DEEP_NUCLEI:
            canvas.paint_ellipsoid((s * cx, CALLOSUM_Y + cy, CALLOSUM_Z + cz), axes, label)
    # lateral ventricles (body, frontal horn, atrium/occipital horn, temporal horn)
    sx, sz, sy = vs, vs, math.sqrt(vs)
    parts = LATERAL_VENTRICLE
    for s in (-1, 1):
        for (cx, cy, cz), (a0, a1, a2) in parts:
            cxx = s * max(cx * (0.6 + 0.4 * vs), 1.2 + a0 * sx)
            canvas.paint_ellipsoid((cxx, cy, cz), (a0 * sx, a1 * sy, a2 * sz), VENT)
    # septum pellucidum: midline sheet between the two bodies/frontal horns
    sep = np.zeros(Y2.shape, bool)
    for (cx, cy, cz), (a0, a1, a2) in parts[:2]:
        sep |= (((Y2 - cy) / (a1 * sy)) ** 2 + ((Z2 - cz) / (a2 * sz)) ** 2) < 1.0
    paint(lab, sep[None] & (ax < 1.3), SEPTUM)
    # third ventricle with the massa intermedia
    c3, a3 = (0.0, CALLOSUM_Y - 6.0, CALLOSUM_Z - 18.0), (2.2 * vs, 12.0 * sy, 8.5 * sz)
    b3 = canvas.box_around(c3, a3)
    if b3 is not None:
        X3, Y3, Z3 = fr.coords(b3)
        d3 = ellipsoid_depth(X3, Y3, Z3, c3, a3)
        mi = ((Y3 - (CALLOSUM_Y - 8.0)) ** 2 + (Z3 - (CALLOSUM_Z - 14.0)) ** 2) < 3.5**2
        paint(canvas.labels[b3], (d3 > 0) & ~mi, VENT)
    # corpus callosum, callosal sulcus, fornix
    rho, t, dist, thick = canvas.callosum
    tr = (t > -1.1) & (t < np.pi + 0.45)
    cc = (np.abs(dist) < 0.5 * thick) & tr
    paint(lab, cc[None] & (ax < 16.0), WM)
    cs = (dist > 0.5 * thick) & (dist < 0.5 * thick + 1.1) & (t > 0.15) & (t < np.pi - 0.15)
    paint(lab, cs[None] & (ax < 3.0), CSF)
    a, bb = 20.0, 13.0
    u = (Y2 - (CALLOSUM_Y - 3.0)) / a
    v = (Z2 - (CALLOSUM_Z - 3.0)) / bb
    tf = np.arctan2(v, u)
    rf = np.sqrt((a * np.cos(tf)) ** 2 + (bb * np.sin(tf)) ** 2)
    fx = (np.abs(np.sqrt(u * u + v * v) - 1.0) * rf < 1.6) & (tf > -1.0) & (tf < 2.6)
    paint(lab, fx[None] & (ax < 3.5), WM)


def _paint_brainstem(canvas):
    """Brainstem above the foramen magnum, cord below it, the aqueduct and the fourth ventricle.

    Parameters
    ----------
    canvas : Canvas
    """
    fr = canvas.frame
    bs = canvas.brainstem_box
    X, Y, Z = fr.coords(bs)
    lab = canvas.labels[bs]
    paint(lab, (canvas.brainstem_depth > 0) & (Z > Z_FORAMEN_MAGNUM), BRAINSTEM)
    paint(lab, (canvas.brainstem_depth > 0) & (Z <= Z_FORAMEN_MAGNUM), CORD)
    aq = (np.abs(X) < 1.0) & (np.abs(Y + 18.5) < 1.0) & (Z > -30.0) & (Z < -14.0)
    paint(lab, aq, VENT)
    canvas.paint_ellipsoid(*FOURTH_VENTRICLE, VENT)


def _paint_cerebellum(canvas):
    """Cerebellar cortex, folia and fissures (CSF), and the arbor vitae (white matter), from
    angular waves around the fourth ventricle's roof. Draws from ``canvas.folding_rng``.

    Parameters
    ----------
    canvas : Canvas
    """
    fr = canvas.frame
    bc = canvas.cerebellum_box
    X, Y, Z = fr.coords(bc)
    Y2, Z2 = fr.coords2(bc)
    d = canvas.cerebellum_depth
    yf, zf = -25.0, -43.0
    dy, dz = Y2 - np.float32(yf), Z2 - np.float32(zf)
    r = np.sqrt(dy * dy + dz * dz)
    th = np.arctan2(dz, -dy)
    c = canvas.folding_rng.uniform(0, 2 * np.pi, 3)
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
    paint(canvas.labels[bc], inside, val)


def _folding_fields(rng, x, Y2, Z2):
    """Two random fields whose level sets fold the cortex.

    ``F`` is the absolute value of a sum of 8 plane waves of 24-34 mm wavelength: grey matter
    where it is small, sulci where it is smaller still. ``G``, a second such sum (30-45 mm),
    interrupts the sulcal sheets. Both are evaluated as one matrix product over (x) x (y, z).

    Parameters
    ----------
    rng : numpy.random.Generator
        The subject's folding randomness (draws in a fixed order).
    x : numpy.ndarray of float32, shape (n,)
        Canonical x (mm) of the box's axis-0 indices.
    Y2, Z2 : numpy.ndarray of float32, shape (m, p)
        Canonical y and z (mm) of its axes 1 and 2.

    Returns
    -------
    F, G : numpy.ndarray of float32, shape (n, m, p)
    kk : float
        Mean wave number of ``F`` (rad/mm).
    """
    # cortical folding: sum of plane waves, evaluated as one matrix product
    K = 8
    dirs = rng.normal(size=(K, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    lam = rng.uniform(24.0, 34.0, K)
    k = dirs * (2 * np.pi / lam)[:, None]
    phase = rng.uniform(0, 2 * np.pi, K)
    amp = math.sqrt(2.0 / K)
    x1 = x.astype(np.float64)
    A = np.concatenate([np.cos(np.outer(x1, k[:, 0])), -np.sin(np.outer(x1, k[:, 0]))], axis=1)
    arg = (k[:, 1, None, None] * Y2[None] + k[:, 2, None, None] * Z2[None] + phase[:, None, None])
    Bm = np.concatenate([np.cos(arg), np.sin(arg)], axis=0).reshape(2 * K, -1)
    F = (f32(A * amp) @ f32(Bm)).reshape(len(x), *Y2.shape)
    np.abs(F, out=F)
    kk = float(np.mean(2 * np.pi / lam))
    # a second field interrupts the sulcal sheets, so that sulci end and gyri bridge
    # (level sets alone would form closed cells)
    dirs2 = rng.normal(size=(K, 3))
    dirs2 /= np.linalg.norm(dirs2, axis=1, keepdims=True)
    k2 = dirs2 * (2 * np.pi / rng.uniform(30.0, 45.0, K))[:, None]
    A2 = np.concatenate([np.cos(np.outer(x1, k2[:, 0])), -np.sin(np.outer(x1, k2[:, 0]))], 1)
    arg = (k2[:, 1, None, None] * Y2[None] + k2[:, 2, None, None] * Z2[None]
           + rng.uniform(0, 2 * np.pi, K)[:, None, None])
    B2 = np.concatenate([np.cos(arg), np.sin(arg)], axis=0).reshape(2 * K, -1)
    G = (f32(A2 * amp) @ f32(B2)).reshape(len(x), *Y2.shape)
    return F, G, kk
