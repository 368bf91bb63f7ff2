"""Stage 2, anonymization: face blurring and face removal from the image alone
(:mod:`.deface`), the head and brain masks and the face region they rely on (:mod:`.head_masks`,
:mod:`.face_region`), whole files and folders, resumably and in parallel (:mod:`.files`), and
measures of a defacing against ground-truth masks, for tests and benchmarks only
(:mod:`.deface_checks`). Notebook 02; ``refacing deface``."""
