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
  the same subject (same parameters, new noise, slightly different pose) can be re-identified;
* two kinds of face (``faces`` of :func:`synthesize` and :func:`make_cohort`): ``"human"``
  (the default), with eye sockets, lids, brows, cheekbones, alae, nostrils, a philtrum and a
  mouth (:meth:`.face.Face.relief`), which face detectors find, and ``"block"``, a smooth
  height field that they do not (the course profile's cohort, on which the shipped models were
  trained).

Ground truth (``brain``, ``face`` and ``head`` masks, and a JSON file with every parameter and the
pose) is a by-product of the same geometry; it is never needed to make the image.

Coordinates
-----------
Arrays returned by :func:`synthesize` are in **RAS** order (axis 0 left->right, axis 1
posterior->anterior, axis 2 inferior->superior), like :func:`refacing_lib.data.io.load_volume`
returns them. The anatomy is modelled in a *head frame* (millimetres, origin at the centre of
the cerebrum, x to the subject's right, y anterior, z superior); the pose (a pitch rotation about
the left-right axis and a translation) maps the head frame into the scanner frame, whose origin
is the centre of the field of view. Structures are described by approximate signed depths in mm
(positive inside) of ellipsoids, tubes and a facial height field; tissue layers follow from the
depths, and labels are painted outside-in (soft tissue, facial structures, spine, skull, brain).

Modules
-------
:mod:`.subject` (sites, subject parameters, poses), :mod:`.tissues` (labels and intensities),
:mod:`.anatomy` (shared dimensions of the canonical head), :mod:`.geometry` (depths, boxes,
head-frame coordinates), :mod:`.face` (facial landmarks and surface), :mod:`.placement` (the
head in the field of view), the painters :mod:`.head`, :mod:`.face_anatomy` and :mod:`.brain`,
:mod:`.render` (labels, image and ground truth) and :mod:`.cohort` (files on disk).

Example
-------
>>> from refacing_lib.data.synthetic import sample_subject, synthesize
>>> params = sample_subject(0, "Guys")
>>> image, truth, affine = synthesize(params, scan_seed=1)        # doctest: +SKIP
>>> image.shape, truth["brain"].sum() * 1.2 * 0.9375**2 / 1000    # doctest: +SKIP
((150, 256, 256), 1250.0)
"""

from .cohort import GENERATOR_VERSION, cohort_entries, cohort_subject, make_cohort, site_for_index
from .face import FACES
from .placement import head_to_scanner
from .render import label_map, synthesize
from .subject import (
    FACE_FIELDS,
    FACE_SPEC,
    HEAD_FIELDS,
    HEAD_SPEC,
    SITE_PROPORTIONS,
    SITE_SHAPES,
    SITES,
    STORAGE_ORIENTATION,
    VOXEL_SIZE,
    Pose,
    SubjectParams,
    rescan_pose,
    sample_pose,
    sample_subject,
)
from .tissues import LABELS

__all__ = [
    "SITES",
    "SITE_PROPORTIONS",
    "SITE_SHAPES",
    "VOXEL_SIZE",
    "STORAGE_ORIENTATION",
    "FACE_FIELDS",
    "HEAD_FIELDS",
    "FACE_SPEC",
    "HEAD_SPEC",
    "GENERATOR_VERSION",
    "FACES",
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
    "cohort_subject",
    "make_cohort",
]
