"""The head around the brain: cranial cavity, skull, scalp, face and neck outline, spine.

Painters of :class:`~.render.Canvas`, in the order :func:`~.render._render` calls them:
:func:`paint_cavity`, :func:`paint_envelope`, :func:`paint_soft_tissue`, then (after the face's
inside) :func:`paint_spine` and :func:`paint_skull`. Coordinates are canonical head-frame mm
(x right, y anterior, z superior, origin at the centre of the cerebrum).
"""

import numpy as np

from .anatomy import CEREBRUM_X, CEREBRUM_Y, CEREBRUM_Z, CORD_LEVELS, CORD_Y, Z_FORAMEN_MAGNUM
from .geometry import (
    ellipsoid_depth,
    f32,
    intersect_boxes,
    paint,
    smooth_max,
    smoothstep,
    sub_box,
    table,
)
from .tissues import AIR_IN, BONE, CORD, CSF, DISC, FAT, MARROW, SKIN

# Ellipsoids as (centre, semi-axes), canonical mm.
#: Cerebellum: vermis, left and right hemisphere.
CEREBELLUM = [((0, -44, -39), (11, 19, 21)), ((-24, -51, -46), (26, 26, 18)),
              ((24, -51, -46), (26, 26, 18))]
#: The CSF cistern behind and below the cerebellum.
CISTERNA_MAGNA = ((0, -46, -58), (16, 20, 10))
#: The CSF above the sella and the fossa of the pituitary gland (part of the cranial cavity).
SUPRASELLAR_CISTERN = ((0, 12, -26), (12, 10, 7))
PITUITARY_FOSSA = ((0, 14, -35), (6, 5.5, 4.2))
#: The pons, in front of the brainstem.
PONS = ((0, -3, -40), (15, 12, 12))
#: The air of the sphenoid sinus, below the sella.
SPHENOID_SINUS = ((0.0, 26.0, -50.0), (10.0, 9.0, 8.0))
#: A pinna (the right one; the left is its mirror image): centre and semi-axes.
EAR = ((75.0, 0.0, -48.0), (4.5, 14.0, 27.0))
#: Half width (x) and half depth (y) of brainstem and cord (mm) at :data:`~.anatomy.CORD_LEVELS`.
BRAINSTEM_HALF_WIDTH = [6.5, 6.5, 6.8, 8, 10, 14, 13, 13]
BRAINSTEM_HALF_DEPTH = [4.6, 4.6, 4.8, 6, 8, 10.5, 10, 10]
#: Thickness of the skin (mm).
SKIN_MM = 1.8
#: The neck, an elliptic cylinder: half width (x) and half depth (y) in mm, the y of its axis,
#: the extra half width at the mastoids (above z = -60 mm, fading out by z = -110 mm) and the
#: level (z, mm) where it ends above, inside the head.
NECK_HALF_WIDTH, NECK_HALF_DEPTH, NECK_Y = 52.0, 60.0, -8.0
MASTOID_WIDTH = 14.0
NECK_TOP = -40.0
#: Heights of the vertebrae C2..C7 (mm), from 18 mm below the foramen magnum down, 4.5 mm
#: discs between them, and the lengths of their spinous processes (mm behind the canal).
VERTEBRA_HEIGHTS = (20.0, 13.0, 13.0, 13.5, 14.0, 14.0)
SPINOUS_LENGTHS = (28.0, 20.0, 20.0, 22.0, 26.0, 30.0)


def _cerebrum_floor(X, Y):
    """Level (canonical z, mm) of the cerebrum's floor: the orbital roofs in front, the middle
    cranial fossae at the sides, the tentorium behind (sloping up to the back).

    Parameters
    ----------
    X, Y : numpy.ndarray of float32
        Canonical x and y (mm), broadcastable.

    Returns
    -------
    numpy.ndarray of float32
    """
    ax = np.abs(X)
    lat = smoothstep(ax, 16.0, 28.0)
    front = smoothstep(Y, 32.0, 46.0)
    back = smoothstep(-Y, 14.0, 32.0)
    f_ant = -22.0 + 12.0 * smoothstep(ax, 6.0, 18.0)
    f_mid = -20.0 - (22.0 - 0.012 * (ax - 40.0) ** 2) * lat
    mid = 1.0 - front - back
    f_post2 = -8.0 + 0.25 * (Y + 15.0)
    return mid * f_mid + front * f_ant + back * (f_post2 - 0.2 * ax)


def paint_cavity(canvas):
    """The cranial cavity: its depth, the skull's thickness and the cranium's skin depth.

    Sets ``canvas.cranium_box`` (index box of the cavity grown by 22 mm), ``cavity_depth``
    (depth inside the cavity: brain plus ``csf_width`` of CSF, cisterns and pituitary fossa,
    mm over that box), ``cerebrum_depth``, ``cerebellum_box``, ``cerebellum_depth``,
    ``brainstem_box``, ``brainstem_depth``, and ``brow_bump`` and ``skull_map`` (2-D, over the
    box's axes 1 and 2: extra thickness at the glabella and the skull's thickness, mm); raises
    ``canvas.skin_depth`` to the cavity's depth plus skull and scalp.

    Parameters
    ----------
    canvas : Canvas
    """
    p, fr = canvas.params, canvas.frame
    csf = p.csf_width
    m = 22.0
    canvas.cranium_box = fr.box(-CEREBRUM_X - m, CEREBRUM_X + m, -CEREBRUM_Y - m, CEREBRUM_Y + m,
                                -78.0 - m, CEREBRUM_Z + m)
    b = canvas.cranium_box
    X, Y, Z = fr.coords(b)
    d_ell = ellipsoid_depth(X, Y, Z, (0, 0, 0), (CEREBRUM_X, CEREBRUM_Y, CEREBRUM_Z))
    d_floor = Z - _cerebrum_floor(X, Y)
    canvas.cerebrum_depth = np.minimum(d_ell, d_floor)      # cerebrum without the fissure
    del d_ell, d_floor
    dcav = canvas.cerebrum_depth + np.float32(csf)
    # cerebellum (vermis + hemispheres), cisterna magna
    cb = CEREBELLUM
    bc = fr.box(-50 - m, 50 + m, -76 - m, -24 + m, -64 - m, -17 + m)
    canvas.cerebellum_box = bc
    Xc, Yc, Zc = fr.coords(bc)
    dcb = ellipsoid_depth(Xc, Yc, Zc, *cb[0])
    for c, a in cb[1:]:
        np.maximum(dcb, ellipsoid_depth(Xc, Yc, Zc, c, a), out=dcb)
    canvas.cerebellum_depth = dcb
    cm = ellipsoid_depth(Xc, Yc, Zc, *CISTERNA_MAGNA)
    sb = sub_box(bc, b)
    v = dcav[sb]
    np.maximum(v, np.maximum(dcb + np.float32(csf), cm), out=v)
    # brainstem (tube) + pons, with a wider cistern in front
    bs = fr.box(-16 - m, 16 + m, -30 - m, 14 + m, Z_FORAMEN_MAGNUM - 4 - m, -10.0)
    canvas.brainstem_box = bs
    Xs, Ys, Zs = fr.coords(bs)
    dbs = _brainstem_depth(Xs, Ys, Zs)
    canvas.brainstem_depth = dbs
    v = dcav[sub_box(bs, b)]
    cist = dbs + np.float32(csf + 1.5)
    np.minimum(cist, Zs - np.float32(Z_FORAMEN_MAGNUM - 4), out=cist)
    np.maximum(v, cist, out=v)
    # suprasellar cistern and pituitary fossa
    for c, a in (SUPRASELLAR_CISTERN, PITUITARY_FOSSA):
        bb = fr.box(c[0] - a[0] - 1, c[0] + a[0] + 1, c[1] - a[1] - 1, c[1] + a[1] + 1,
                    c[2] - a[2] - 1, c[2] + a[2] + 1)
        if bb is None:
            continue
        Xb, Yb, Zb = fr.coords(bb)
        v = dcav[sub_box(bb, b)]
        np.maximum(v, ellipsoid_depth(Xb, Yb, Zb, c, a), out=v)
    canvas.cavity_depth = dcav
    # skull thickness map (2-D in y, z): thinner skull base, thick glabella (frontal sinus)
    Y2, Z2 = fr.coords2(b)
    T = np.float32(4.5) + np.float32(p.skull_thickness - 4.5) * smoothstep(Z2, -22.0, -6.0)
    brow = np.exp(-(((Z2 - (canvas.face.z_g + 1.0)) / 9.0) ** 2)) * smoothstep(Y2, 60.0, 75.0)
    canvas.brow_bump = f32(brow * (3.0 + 1.2 * p.brow_ridge))
    canvas.skull_map = f32(T + canvas.brow_bump)
    # head envelope from the cranium
    v = canvas.skin_depth[b]
    np.maximum(v, dcav + (canvas.skull_map + np.float32(p.scalp_thickness))[None], out=v)


def _brainstem_depth(X, Y, Z):
    """Depth (mm) inside the brainstem and spinal cord: an elliptic tube along
    :data:`~.anatomy.CORD_Y` with the radii of :data:`BRAINSTEM_HALF_WIDTH` and
    :data:`BRAINSTEM_HALF_DEPTH`, the pons bulging in front, ending 12 mm below the centre.

    Parameters
    ----------
    X, Y, Z : numpy.ndarray of float32
        Canonical coordinates (mm), broadcastable (:meth:`~.geometry.Frame.coords`).

    Returns
    -------
    numpy.ndarray of float32
    """
    zp = CORD_LEVELS
    yc = table(Z, zp, CORD_Y)
    rx = table(Z, zp, BRAINSTEM_HALF_WIDTH)
    ry = table(Z, zp, BRAINSTEM_HALF_DEPTH)
    u2 = (X * X) * (1.0 / (rx * rx))
    v = (Y - yc) / ry
    rho = np.sqrt(u2 + v * v)
    d = (1.0 - rho) * ry
    np.maximum(d, ellipsoid_depth(X, Y, Z, *PONS), out=d)
    np.minimum(d, np.float32(-12.0) - Z, out=d)
    return d


def paint_envelope(canvas):
    """Face, neck and ears, joined to the cranium by smooth unions (``canvas.skin_depth``).

    The face's depth is the distance under the height field of :class:`~.face.Face`, limited
    laterally by its half width and below by the submental line; the neck is an elliptic
    cylinder, wider at the mastoids. Sets ``canvas.ears``: (index box, depth) of each pinna.

    Parameters
    ----------
    canvas : Canvas
    """
    fr, f = canvas.frame, canvas.face
    # face height field
    b = fr.box(-85, 85, -10, f.y_t + 8, f.z_me - 25, f.z_g + 30)
    X, Y, Z = fr.coords(b)
    Bz, Nz, wz, cz, Wz, dP = (f.table(k, Z) for k in ("base", "nose", "nose_half_width",
                                                       "curvature", "half_width", "slope"))
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
    if f.human:
        ys += f.relief(X, Z)
    ys -= Y
    ys /= gx
    del gx, g
    d = ys
    np.minimum(d, Wz - np.abs(X), out=d)
    zsub = np.float32(f.z_me) - np.float32(0.3) * (np.float32(f.y_me) - Y) + X2 * 0.006
    np.minimum(d, (Z - zsub) * np.float32(0.95), out=d)
    lim = np.minimum(Y + np.float32(8.0), np.float32(f.z_g + 16.0) - Z)
    np.minimum(d, lim, out=d)
    v = canvas.skin_depth[b]
    v[...] = smooth_max(v, d, 8.0)
    # neck: elliptic cylinder, wider at the top (mastoids)
    bn = fr.box(-75, 75, -75, 60, -300, -40)
    if bn is not None:
        X, Y, Z = fr.coords(bn)
        a = np.float32(NECK_HALF_WIDTH) + np.float32(MASTOID_WIDTH) * smoothstep(Z, -110.0, -60.0)
        uu = X / a
        vv = (Y - np.float32(NECK_Y)) * np.float32(1 / NECK_HALF_DEPTH)
        r2 = uu * uu + vv * vv
        gg = np.sqrt((uu * uu) / (a * a) + (vv * vv) * np.float32(1 / NECK_HALF_DEPTH**2))
        dn = (1.0 - r2) / (2.0 * gg + np.float32(1e-3))
        np.minimum(dn, np.float32(NECK_TOP) - Z, out=dn)
        v = canvas.skin_depth[bn]
        v[...] = smooth_max(v, dn, 10.0)
    # ears (pinnae)
    canvas.ears = []
    for sgn in (-1, 1):
        c = (sgn * EAR[0][0], EAR[0][1], EAR[0][2])
        a = EAR[1]
        be = fr.box(c[0] - 6, c[0] + 6, -16, 16, -77, -19)
        if be is None:
            continue
        X, Y, Z = fr.coords(be)
        de = ellipsoid_depth(X, Y, Z, c, a)
        v = canvas.skin_depth[be]
        np.maximum(v, de, out=v)
        canvas.ears.append((be, de))


def paint_soft_tissue(canvas):
    """Skin, subcutaneous fat and muscle from the depth under the skin (``canvas.labels``).

    Skin is the first :data:`SKIN_MM`, then fat to a depth that depends on the region (scalp, face,
    neck; thin over the nose and lips), then muscle. Sets ``canvas.fat_end`` (float32, shape
    (ny, nz): depth where the fat ends, mm).

    Parameters
    ----------
    canvas : Canvas
    """
    fr, f, p = canvas.frame, canvas.face, canvas.params
    Y, Z = fr.Y, fr.Z
    scalp_fat = np.float32(p.scalp_thickness - 1.2)
    face_fat = np.float32(SKIN_MM + p.face_fat * (0.8 + 0.4 * p.cheek_fullness))
    neck_fat = np.float32(SKIN_MM + 4.0 + 0.5 * p.face_fat)
    wf = (1 - smoothstep(Z, f.z_g - 6, f.z_g + 4)) * smoothstep(Y, 10.0, 35.0)
    wn = 1 - smoothstep(Z, f.z_me - 10, f.z_me + 10)
    fe = scalp_fat + (face_fat - scalp_fat) * wf
    fe = fe + (neck_fat - fe) * np.maximum(wn, 1 - smoothstep(Y, 0.0, 20.0) * 1.0) * (
        1 - smoothstep(Z, -70.0, -50.0))
    # thin fat over the nose and the lips
    Pz = f.table("profile", Z)
    Bz = f.table("base", Z)
    nose = (Y > Bz - 6.0) & (Z < f.z_n) & (Z > f.z_sn - 1)
    lips = (Z < f.z_sn - 3) & (Z > f.z_sl + 2) & (Y > Pz - 14.0)
    fe = np.where(nose, np.float32(2.3), fe)
    fe = np.where(lips, np.float32(2.6), fe).astype(np.float32)
    dh = canvas.skin_depth
    lab = canvas.labels
    lab[...] = (dh > 0).view(np.uint8) * np.uint8(SKIN)
    lab += (dh > SKIN_MM).view(np.uint8)
    lab += (dh > fe[None]).view(np.uint8)
    canvas.fat_end = fe


def paint_spine(canvas):
    """The cervical spine: vertebral bodies and discs, dens and atlas, laminae and spinous
    processes, a fat plane between the neck muscles, the canal (CSF) and the cord.

    Parameters
    ----------
    canvas : Canvas
    """
    fr = canvas.frame
    zp = CORD_LEVELS[:5]
    ycp = CORD_Y[:5]
    # vertebral levels (C2 with dens, C3..C7) as (top, bottom)
    levels = []
    top = Z_FORAMEN_MAGNUM - 18.0
    for h in VERTEBRA_HEIGHTS:
        levels.append((top, top - h))
        top -= h + 4.5
    bz = fr.box(-40, 40, -60, 30, -300, Z_FORAMEN_MAGNUM + 6)
    if bz is None:
        return
    X, Y, Z = fr.coords(bz)
    yc = table(Z, zp, ycp)
    lab = canvas.labels[bz]
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
    paint(lab, (ub < 1.0) & disc_z, DISC)
    paint(lab, (ub < 1.0) & body_z, BONE)
    paint(lab, (ub_in < 1.0) & marrow_z, MARROW)
    # dens and atlas
    dens = ((X * X) * np.float32(1 / 25.0) + ((Y - yc - 14.5) * np.float32(1 / 4.5)) ** 2 < 1.0)
    dens &= (Z < Z_FORAMEN_MAGNUM - 3.0) & (Z > levels[0][0] - 1)
    paint(lab, dens, BONE)
    dens_marrow = ((X * X) * np.float32(1 / 9.0)
                   + ((Y - yc - 14.5) * np.float32(1 / 2.8)) ** 2 < 1.0)
    paint(lab, dens & dens_marrow & (Z < Z_FORAMEN_MAGNUM - 4.5), MARROW)
    z1 = Z_FORAMEN_MAGNUM - 10.0
    for yo, ay in ((23.5, 3.5), (-17.5, 4.0)):
        d = ellipsoid_depth(X, Y - yc, Z, (0.0, yo, z1), (12.0, ay, 4.5))
        paint(lab, d > 0, BONE)
        paint(lab, d > 1.2, MARROW)
    # laminae and spinous processes, pointing down and back
    for (t, bt), zc, L in zip(levels, post_z, SPINOUS_LENGTHS):
        back = yc - np.float32(9.0) - Y            # mm behind the canal
        zz = Z - (np.float32(zc) - np.float32(0.3) * back)
        inside = (back > 0) & (back < L) & (np.abs(zz) < 4.5)
        inside = inside & ((ax < 3.5) | ((ax < 12.0) & (back < 5.5)))
        paint(lab, inside, BONE)
        core = (ax < 2.2) | ((ax < 10.5) & (back > 1.2) & (back < 4.3))
        paint(lab, inside & (np.abs(zz) < 3.0) & core, MARROW)
    # fat planes between the posterior neck muscles
    for off, hw in ((36.0, 1.2),):   # (offset behind the cord, half width) mm
        yp = (yc - np.float32(off) + np.float32(0.12) * (Z - np.float32(-120.0))
              + np.float32(0.004) * X * X)
        pl = (np.abs(Y - yp) < hw) & (Z < -80.0) & (ax > 7.0) & (ax < 40.0)
        pl &= canvas.skin_depth[bz] > canvas.fat_end[bz[1], bz[2]][None] + 2.0
        paint(lab, pl, FAT)
    # canal (CSF) and cord
    u = X * np.float32(1 / 11.0)
    v = (Y - yc) * np.float32(1 / 8.0)
    canal = (u * u + v * v < 1.0) & (Z < Z_FORAMEN_MAGNUM + 6.0)
    paint(lab, canal, CSF)
    u = X * np.float32(1 / 6.5)
    v = (Y - yc) * np.float32(1 / 4.6)
    paint(lab, canal & (u * u + v * v < 1.0), CORD)


def paint_skull(canvas):
    """The skull around the cranial cavity (compact bone with diploe where thicker than 4.2 mm),
    the frontal sinus in the thick glabella and the sphenoid sinus below the sella.

    Parameters
    ----------
    canvas : Canvas
    """
    fr = canvas.frame
    b = canvas.cranium_box
    dcav = canvas.cavity_depth
    T = canvas.skull_map[None]
    lab = canvas.labels[b]
    Z = fr.coords(b)[2]
    bone = (dcav <= 0) & (dcav > -T) & (Z > Z_FORAMEN_MAGNUM - 12.0)
    paint(lab, bone, BONE)
    dip = bone & (dcav < -1.6) & (dcav > 1.6 - T) & (T > 4.2)
    paint(lab, dip, MARROW)
    # frontal sinus inside the thick glabella
    X, Y, Z = fr.coords(b)
    fs = dip & (canvas.brow_bump[None] > 2.0) & (np.abs(X) < 15.0) & (dcav < -2.8) & (
        dcav > 2.8 - T)
    paint(lab, fs, AIR_IN)
    # sphenoid sinus below the sella, outside the cavity
    c, a = SPHENOID_SINUS
    bb = canvas.box_around(c, a)
    if bb is not None:
        Xs, Ys, Zs = fr.coords(bb)
        d = ellipsoid_depth(Xs, Ys, Zs, c, a)
        ok = d > 0
        ib = intersect_boxes(bb, b)
        if ib is not None:
            ok[sub_box(ib, bb)] &= dcav[sub_box(ib, b)] < -1.2
        paint(canvas.labels[bb], ok, AIR_IN)
