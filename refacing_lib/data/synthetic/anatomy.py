"""Named dimensions of the canonical head shared by the painters (millimetres).

The canonical head frame has its origin at the centre of the cerebrum, x to the subject's right,
y anterior, z superior; a subject's ``scale_x``, ``scale_y`` and ``scale_z`` stretch it. The
dimensions are those of an average adult head; each structure's own table lives with the code
that paints it (:mod:`.head`, :mod:`.face_anatomy`, :mod:`.brain`).
"""

#: Semi-axes of the ellipsoid of the cerebrum: half width, half length, half height.
CEREBRUM_X, CEREBRUM_Y, CEREBRUM_Z = 66.0, 84.0, 60.0
#: Corpus callosum: centre (y, z) of its elliptic arch in the mid-sagittal plane and the arch's
#: half length (along y) and half height (along z).
CALLOSUM_Y, CALLOSUM_Z, CALLOSUM_A, CALLOSUM_B = 6.0, 4.0, 34.0, 14.0
#: Level of the foramen magnum: the brainstem becomes the spinal cord below it.
Z_FORAMEN_MAGNUM = -72.0
#: Level of the nasion (root of the nose).
Z_NASION = -24.0
#: Centre line of brainstem and spinal cord: anterior-posterior position (y) against level (z),
#: interpolated linearly (constant beyond the ends).
CORD_LEVELS = [-260, -130, -100, Z_FORAMEN_MAGNUM, -58, -42, -28, -12]
CORD_Y = [-9, -10, -14, -16, -14, -9, -11, -12]
