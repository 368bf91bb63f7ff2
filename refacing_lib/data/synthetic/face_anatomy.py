"""Inside the face: glands, tongue, sinuses, orbits and eyes, jaws and teeth, nose, airway.

Painters of :class:`~.render.Canvas`; :func:`paint_face_internals` runs them all, after the skin,
fat and muscle layers (:func:`~.head.paint_soft_tissue`). Positions are canonical head-frame mm
(x right, y anterior, z superior), most of them relative to the landmarks of
:class:`~.face.Face` (eyes ``y_e``, ``z_e``; palate ``z_pal``; mouth ``z_st``; incisors
``y_inc``).
"""

import numpy as np

from .face import AIRWAY_HALF_DEPTH, AIRWAY_HALF_WIDTH, AIRWAY_Y
from .geometry import ellipsoid_depth, paint, smoothstep, table
from .tissues import (
    AIR_IN,
    BONE,
    CARTILAGE,
    FAT,
    GLAND,
    LENS,
    MARROW,
    MUCOSA,
    MUSCLE,
    NERVE,
    SCLERA,
    TEETH,
    TONGUE,
    VITREOUS,
)

#: Parotid gland (the right one; the left is its mirror image): lateral and anterior position
#: of its centre, its level below the eyes, and its semi-axes (mm).
PAROTID_X, PAROTID_Y, PAROTID_BELOW_EYES = 50, 8, 44
PAROTID_AXES = (9, 14, 20)
#: Buccal fat pad (the right one; the left is its mirror image): centre relative to the midline,
#: the upper incisors (y) and the mouth slit (z), and semi-axes (mm); its width grows by up to
#: 4 mm with ``cheek_fullness``.
BUCCAL_FAT_PAD = ((37, -22, 7), (7, 13, 11))
#: The tongue's body: centre relative to the midline, the upper incisors and the mouth slit, and
#: semi-axes (mm); cut 5.5 mm under the palate (the oral air gap).
TONGUE_BODY = ((0, -29, -6), (23, 31, 20))
#: Ethmoid air cells on each side of the midline: centre relative to the eyes' centres (x from
#: the midline), semi-axes (mm).
ETHMOID = ((9.0, 1.0, 2.0), (5.5, 13.0, 10.0))
#: The bony orbit: centre relative to an eye's centre (x outwards from it), semi-axes (mm).
ORBIT = ((-1.0, -12.0, 0.0), (14.0, 24.0, 13.0))
#: Inferior and middle turbinates (mucosa): centre (x from the midline, y, z above the palate)
#: and semi-axes (mm).
TURBINATES = [((11.5, 62.0, 9.0), (3.5, 22.0, 4.0)), ((9.0, 60.0, 20.0), (3.0, 16.0, 3.5))]
#: A nostril of a human face (the right one; the left is its mirror image): centre from the
#: midline, in front of and above the subnasale, and semi-axes (mm). The two open the nasal
#: vestibule under the nose's tip and leave the columella, about 6 mm wide, between them.
NOSTRIL = ((6.5, 4.5, 2.5), (3.5, 4.0, 2.5))
#: The hyoid bone: centre (y; z relative to the menton) and semi-axes (mm).
HYOID = ((0, 36.0, -8.0), (13, 4.0, 3.5))
#: Semi-axes of the globe of the eye (mm; 23-24 mm across).
GLOBE_AXES = (11.5, 12.0, 11.5)
#: The lens: its centre this far in front of the globe's centre (mm), and its semi-axes.
LENS_FRONT = 7.8
LENS_AXES = (4.5, 2.0, 4.5)


def paint_face_internals(canvas):
    """What lies behind the skin of the face, into ``canvas.labels``.

    In this order (later structures overwrite earlier ones): parotid glands, buccal fat pads
    and tongue; maxillary and ethmoid sinuses; orbits with muscles, optic nerves, globes and
    lenses; palate, teeth and mandible; nasal cavity, turbinates and nasal bones; mouth slit,
    pharyngeal airway and hyoid; ear cartilage.

    Parameters
    ----------
    canvas : Canvas
        After :func:`~.head.paint_soft_tissue`.
    """
    _paint_mouth_floor(canvas)
    _paint_sinuses(canvas)
    _paint_orbits(canvas)
    _paint_jaws(canvas)
    _paint_nose(canvas)
    _paint_mouth_and_airway(canvas)
    for be, de in canvas.ears:
        paint(canvas.labels[be], de > 1.6, CARTILAGE)


def _paint_mouth_floor(canvas):
    """Parotid glands, buccal fat pads, and the tongue with the air gap under the palate.

    Parameters
    ----------
    canvas : Canvas
    """
    fr, f, p = canvas.frame, canvas.face, canvas.params
    z_st, z_pal, y_inc = f.z_st, f.z_pal, f.y_inc
    ch = p.cheek_fullness
    # parotid glands and buccal fat pads
    for s in (-1, 1):
        canvas.paint_ellipsoid((s * PAROTID_X, PAROTID_Y, f.z_e - PAROTID_BELOW_EYES),
                               PAROTID_AXES, GLAND)
        (cx, cy, cz), (ax, ay, az) = BUCCAL_FAT_PAD
        canvas.paint_ellipsoid((s * cx, y_inc + cy, z_st + cz), (ax + 4 * ch, ay, az), FAT)
    # tongue, with the oral air gap under the palate
    (cx, cy, cz), axes = TONGUE_BODY
    canvas.paint_ellipsoid((cx, y_inc + cy, z_st + cz), axes, TONGUE,
                           where=lambda X, Y, Z: Z < z_pal - 5.5)
    b = fr.box(-17, 17, y_inc - 48, y_inc - 5, z_pal - 6, z_pal - 2.5)
    if b is not None:
        X, Y, Z = fr.coords(b)
        m = (np.abs(X) < 15.0) & (Y < y_inc - 6 - 0.05 * X * X) & (Z > z_pal - 5.5)
        paint(canvas.labels[b], m, AIR_IN)


def _paint_sinuses(canvas):
    """Maxillary sinuses (air in a bony and mucosal shell, between orbit floor and palate)
    and the ethmoid air cells between the orbits.

    Parameters
    ----------
    canvas : Canvas
    """
    fr, f = canvas.frame, canvas.face
    z_pal = f.z_pal
    # maxillary sinuses: between orbit floor and palate
    top, bot = f.z_e - 14.0, z_pal + 3.0
    cz, az = 0.5 * (top + bot), max(0.5 * (top - bot), 5.0)
    for s in (-1, 1):
        canvas.paint_ellipsoid((s * 26, f.y_e - 8, cz), (12, 17, az), AIR_IN, shell=(1.4, BONE))
        canvas.paint_ellipsoid((s * 26, f.y_e - 8, cz), (10.6, 15.6, az - 1.4), AIR_IN,
                               shell=(1.3, MUCOSA))
    # ethmoid air cells
    for s in (-1, 1):
        (cx, cy, cz), a = ETHMOID
        c = (s * cx, f.y_e + cy, f.z_e + cz)
        b = canvas.box_around(c, a)
        if b is not None:
            X, Y, Z = fr.coords(b)
            d = ellipsoid_depth(X, Y, Z, c, a)
            cells = np.cos(Y * np.float32(2 * np.pi / 7)) * np.cos(Z * np.float32(2 * np.pi / 7))
            lab = canvas.labels[b]
            paint(lab, d > 0, BONE)
            paint(lab, (d > 0.8) & (cells < 0.6), AIR_IN)


def _paint_orbits(canvas):
    """Orbits: bony wall, fat, four extraocular muscles, optic nerve, globe and lens.

    Parameters
    ----------
    canvas : Canvas
    """
    fr, f = canvas.frame, canvas.face
    ehs, y_e, z_e = f.ehs, f.y_e, f.z_e
    # orbits: bony wall, fat, extraocular muscles, optic nerve, globe, lens
    for s in (-1, 1):
        (cx, cy, cz), a = ORBIT
        c = (s * (ehs + cx), y_e + cy, z_e + cz)
        b = canvas.box_around(c, a, pad=2.0)
        if b is None:
            continue
        X, Y, Z = fr.coords(b)
        d = ellipsoid_depth(X, Y, Z, c, a)
        lab = canvas.labels[b]
        paint(lab, (d > -1.5) & (Y < y_e - 3.0), BONE)
        paint(lab, (d > 0) & (Y < y_e + 3.0), FAT)
        ax = np.abs(X)
        o = np.float32(11.0) * np.clip((Y - np.float32(y_e - 38.0)) / 28.0, 0.2, 1.0)
        yr = (Y > y_e - 34.0) & (Y < y_e - 1.0)
        mus = yr & (((np.abs(ax - (ehs + o)) < 1.7) | (np.abs(ax - (ehs - o)) < 1.7))
                    & (np.abs(Z - z_e) < 3.0)
                    | ((np.abs(Z - z_e - o) < 1.7) | (np.abs(Z - z_e + o) < 1.7))
                    & (np.abs(ax - ehs) < 4.5))
        paint(lab, mus & (d > 0), MUSCLE)
        xn = ehs - 14.0 * np.clip((y_e - 11.0 - Y) / 24.0, 0.0, 1.0)
        nerve = (np.abs(ax - xn) < 2.0) & (np.abs(Z - z_e - 1.0) < 2.0) & (Y < y_e - 8.0)
        paint(lab, nerve & (d > 0), NERVE)
        ce, ae = (s * ehs, y_e, z_e), GLOBE_AXES
        de = ellipsoid_depth(X, Y, Z, ce, ae)
        paint(lab, de > 0, SCLERA)
        paint(lab, de > 1.0, VITREOUS)
        dl = ellipsoid_depth(X, Y, Z, (s * ehs, y_e + LENS_FRONT, z_e), LENS_AXES)
        paint(lab, dl > 0, LENS)


def _paint_jaws(canvas):
    """Hard palate, upper alveolus and teeth, lower teeth, mandible (body and rami).

    Parameters
    ----------
    canvas : Canvas
    """
    fr, f, p = canvas.frame, canvas.face, canvas.params
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
        lab = canvas.labels[b]
        alv = inarch & (dist < 6.0) & (Z > z_st + 10.0) & (Z < z_pal + 3.0)
        paint(lab, alv, BONE)
        paint(lab, alv & (dist < 4.2) & (Z > z_st + 11.5) & (Z < z_pal + 1.5), MARROW)
        pal = inarch & (Y < yca) & (Y > y_inc - 48.0) & (np.abs(Z - z_pal) < 3.0)
        paint(lab, pal, BONE)
        paint(lab, pal & (np.abs(Z - z_pal) < 1.2) & (Y < yca - 3.0), MARROW)
        teeth = inarch & (dist < 4.0 + 0.03 * np.abs(X)) & (Z > z_st + 0.5) & (Z < z_st + 10.5)
        paint(lab, teeth, TEETH)
    # lower arch: teeth and mandible (symphysis inclined, body to the gonial angle)
    jw = p.jaw_width
    zp = [f.z_me - 30, f.z_me + 3, f.z_pg, z_st - 10, z_st + 10]
    ysym = [f.y_me - 8, f.y_me - 8, f.y_pg - 18, y_inc - 9.5, y_inc - 9.5]
    y0 = float(np.interp(z_st - 10, zp, ysym))
    y_go = 14.0
    km = (y0 - y_go) / jw**2
    b = fr.box(-jw - 8, jw + 8, y_go - 8, f.y_pg, f.z_me - 2, z_st - 0.4)
    if b is not None:
        X, Y, Z = fr.coords(b)
        ys = table(Z, zp, ysym)
        ycm = ys - np.float32(km) * X * X
        nrm = 1.0 / np.sqrt(1.0 + (2.0 * km * X) ** 2)
        dist = np.abs(Y - ycm) * nrm
        ax = np.abs(X)
        zb = np.float32(f.z_me + 2.5) + np.float32(0.12) * ax
        half = np.float32(6.5) - np.float32(0.02) * ax
        inb = (ax < jw + 1) & (Y > y_go - 4.0)
        lab = canvas.labels[b]
        # cross-section along the arch: rounded lower border, thicker at the base
        ztop = np.float32(z_st - 9.5)
        zc, hz = 0.5 * (zb + ztop), 0.5 * (ztop - zb)
        q = (Z - zc) / hz
        half = half * (0.8 + 0.3 * np.clip(-q, 0, 1))
        e = (dist / half) ** 2 + np.where(q < 0, q * q, q ** 8)
        body = inb & (e < 1.0)
        paint(lab, body, BONE)
        ei = (dist / (half - 1.8)) ** 2 + np.where(q < 0, (q * hz / (hz - 2.0)) ** 2, q ** 8)
        paint(lab, body & (ei < 1.0) & (Z < ztop - 1.8), MARROW)
        # lower teeth: arch 2.5 mm behind the upper one
        ycl = np.float32(y_inc - 6.5) - np.float32(ku) * X * X
        distl = np.abs(Y - ycl) / np.sqrt(1.0 + (2.0 * ku * X) ** 2)
        teeth = (ax < 26.0) & (distl < 3.8 + 0.03 * ax) & (Z > z_st - 10.0) & (Z < z_st - 0.5)
        paint(lab, teeth & (Y > y_inc - 46.0), TEETH)
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
        lab = canvas.labels[b]
        paint(lab, d > 0, BONE)
        paint(lab, d > 1.6, MARROW)


def _paint_nose(canvas):
    """Nasal cavity with vestibule and septum, turbinates (and the nostrils of a human face),
    nasal bones and cartilages.

    Parameters
    ----------
    canvas : Canvas
    """
    fr, f, p = canvas.frame, canvas.face, canvas.params
    z_pal = f.z_pal
    # nasal cavity with septum and turbinates
    b = fr.box(-17, 17, 30, f.y_t, z_pal + 1, f.z_n - 3)
    if b is not None:
        X, Y, Z = fr.coords(b)
        Pz, Bz = f.table("profile", Z), f.table("base", Z)
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
        wnc = np.float32(3.5) + np.float32(11.5) * (1 - smoothstep(Z, z_pal + 6, f.z_n - 8))
        reg = (main | vest) & (np.abs(X) < wnc) & (canvas.skin_depth[b] > 2.6)
        lab = canvas.labels[b]
        paint(lab, reg, AIR_IN)
        paint(lab, reg & (np.abs(X) < 1.1), CARTILAGE)
    for s in (-1, 1):
        for (cx, cy, cz), axes in TURBINATES:
            canvas.paint_ellipsoid((s * cx, cy, z_pal + cz), axes, MUCOSA)
        if f.human:
            (cx, cy, cz), axes = NOSTRIL
            canvas.paint_ellipsoid((s * cx, f.y_sn + cy, f.z_sn + cz), axes, AIR_IN)
    # nasal bones and cartilages under the skin of the dorsum
    b = fr.box(-14, 14, f.y_n - 14, f.y_t + 2, f.z_t + 3, f.z_n + 2)
    if b is not None:
        X, Y, Z = fr.coords(b)
        Bz, wz = f.table("base", Z), f.table("nose_half_width", Z)
        dh = canvas.skin_depth[b]
        m = (dh > 2.0) & (dh < 3.8) & (Y > Bz - 4.0) & (np.abs(X) < 0.95 * wz)
        lab = canvas.labels[b]
        paint(lab, m & (Z > f.z_n - 0.4 * p.nose_length), BONE)
        paint(lab, m & (Z <= f.z_n - 0.4 * p.nose_length), CARTILAGE)


def _paint_mouth_and_airway(canvas):
    """Mouth slit between the lips, pharyngeal airway (nasopharynx, oro- and
    laryngopharynx) and the hyoid bone.

    Parameters
    ----------
    canvas : Canvas
    """
    fr, f = canvas.frame, canvas.face
    z_st, z_pal, y_inc = f.z_st, f.z_pal, f.y_inc
    # mouth slit between the lips
    b = fr.box(-26, 26, y_inc - 2, f.y_ls + 2, z_st - 1.5, z_st + 1.5)
    if b is not None:
        X, Y, Z = fr.coords(b)
        m = (np.abs(Z - z_st) < 0.7) & (Y > y_inc - 1.0) & (canvas.skin_depth[b] > 1.2)
        m &= np.abs(X) < 24.0
        paint(canvas.labels[b], m, AIR_IN)
    # airway: nasopharynx and oro/laryngopharynx
    np_top = -60.0
    c = 0.5 * (np_top + z_pal - 1.0)
    canvas.paint_ellipsoid((0, 28.0, c), (11.0, 8.5, max(0.5 * (np_top - z_pal + 1.0), 3.0)),
                           AIR_IN)
    b = fr.box(-14, 14, 10, 45, -300, z_pal + 2)
    if b is not None:
        X, Y, Z = fr.coords(b)
        zp = f.airway_levels()
        ya = table(Z, zp, AIRWAY_Y)
        h = table(Z, zp, AIRWAY_HALF_DEPTH)
        w = table(Z, zp, AIRWAY_HALF_WIDTH)
        u = X / w
        v = (Y - ya) / h
        paint(canvas.labels[b], (u * u + v * v < 1.0) & (Z < z_pal + 1.0), AIR_IN)
    # hyoid bone
    (cx, cy, cz), axes = HYOID
    canvas.paint_ellipsoid((cx, cy, f.z_me + cz), axes, MARROW, shell=(1.2, BONE))
