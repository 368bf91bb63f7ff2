"""Tissue labels of the synthetic heads and their T1-weighted intensities.

A head is painted as a uint8 label volume (:func:`refacing_lib.data.synthetic.label_map`); the
image is that volume looked up in a table of intensities relative to white matter
(:data:`T1_RELATIVE`), changed per site (:data:`SITE_LOOK`).
"""

import numpy as np

# Numbered so that facial soft tissues (SKIN..GLAND, 1..11) and brain tissues (GM..SEPTUM,
# 19..27) are contiguous ranges; SKIN, FAT, MUSCLE and CSF, GM, WM are painted by adding 0 or 1
# to the label below (skin -> fat -> muscle with depth, white -> grey matter -> sulcal CSF).
# AIR is outside the head, AIR_IN inside it (sinuses, airway, mouth, nasal cavity).
(AIR, SKIN, FAT, MUSCLE, VITREOUS, LENS, SCLERA, NERVE, CARTILAGE, MUCOSA, TONGUE, GLAND,
 BONE, MARROW, TEETH, CSF, CORD, DISC, PITUITARY,
 GM, WM, DEEP_GM, PALLIDUM, BRAINSTEM, CB_GM, CB_WM, VENT, SEPTUM, AIR_IN) = range(29)
#: Number of labels.
N_LABELS = 29
#: First and last label of the tissues that count as face in the ground truth (inclusive).
FACE_RANGE = (SKIN, GLAND)
#: First and last label of the brain parenchyma and ventricles (inclusive).
BRAIN_RANGE = (GM, SEPTUM)

#: Tissue label values of :func:`refacing_lib.data.synthetic.label_map` (name -> uint8 value).
LABELS: dict[str, int] = {name: value for value, name in enumerate(
    ["air", "skin", "fat", "muscle", "vitreous", "lens", "sclera", "optic_nerve", "cartilage",
     "mucosa", "tongue", "gland", "bone", "marrow", "teeth", "csf", "cord", "disc", "pituitary",
     "gm", "wm", "deep_gm", "pallidum", "brainstem", "cerebellum_gm", "cerebellum_wm",
     "ventricle", "septum_pellucidum", "air_inside"])}

#: T1-weighted intensity of each label relative to white matter (1.0), before the site's
#: changes: fat brightest, then white matter, marrow, brainstem; grey matter about 2/3; CSF,
#: vitreous and compact bone dark; air 0.
T1_RELATIVE: dict[int, float] = {
    AIR: 0.0, SKIN: 0.72, FAT: 1.18, MUSCLE: 0.47, BONE: 0.04, MARROW: 0.95, CSF: 0.17,
    GM: 0.66, WM: 1.0, DEEP_GM: 0.8, PALLIDUM: 0.88, BRAINSTEM: 0.9, CB_GM: 0.63, CB_WM: 0.95,
    VENT: 0.16, SEPTUM: 0.45, VITREOUS: 0.14, LENS: 0.7, SCLERA: 0.3, NERVE: 0.85,
    CARTILAGE: 0.5, TEETH: 0.03, MUCOSA: 0.6, TONGUE: 0.58, CORD: 0.88, DISC: 0.45,
    PITUITARY: 0.72, GLAND: 0.8, AIR_IN: 0.0,
}
#: :data:`T1_RELATIVE` as a lookup table, float32 of shape (N_LABELS,).
BASE_T1 = np.array([T1_RELATIVE[label] for label in range(N_LABELS)], np.float32)

#: Appearance of each site: white-matter intensity ``wm`` (image units), Rician noise sigma
#: ``noise`` relative to white matter, bias-field strength ``bias`` (log-amplitude), and the
#: relative T1 of the tissues that differ from :data:`T1_RELATIVE` there (``t1``, label ->
#: value): HH has the strongest grey/white contrast and the least noise, IOP the weakest and
#: the most.
SITE_LOOK = {
    "Guys": dict(wm=800.0, noise=0.028, bias=0.10,
                 t1={GM: 0.68, CSF: 0.20, FAT: 1.15, DEEP_GM: 0.82}),
    "HH": dict(wm=1500.0, noise=0.016, bias=0.22,
               t1={GM: 0.57, CSF: 0.11, FAT: 1.25, DEEP_GM: 0.74, MUSCLE: 0.42, CB_GM: 0.56}),
    "IOP": dict(wm=420.0, noise=0.035, bias=0.12,
                t1={GM: 0.73, CSF: 0.27, FAT: 0.98, MUSCLE: 0.55, MARROW: 0.82, SKIN: 0.62,
                    DEEP_GM: 0.84, VENT: 0.25, VITREOUS: 0.22}),
}
