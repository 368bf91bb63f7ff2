"""Refacing: the helper library of the course.

The sub-packages are the stages of the pipeline, in the order the data flows through them:

- :mod:`refacing_lib.data`: volumes in RAS, the IXI dataset, the synthetic cohort;
- :mod:`refacing_lib.anonymize`: face blurring and face removal;
- :mod:`refacing_lib.slicing`: the paper's sagittal slices and the slice datasets;
- :mod:`refacing_lib.model`: the CycleGAN, its training and refacing with it;
- :mod:`refacing_lib.evaluate`: the image measures, the attack, results, pretrained models;
- :mod:`refacing_lib.viz`: figures and slice browsers;
- :mod:`refacing_lib.course`: profiles, the pipeline and notebook runners, the CLI.

Two helpers serve several stages: :mod:`refacing_lib.batch` (many files, in parallel,
resumable) and :mod:`refacing_lib.blocks` (block averaging, for images and volumes).
"""

__version__ = "0.1.0"
