"""Refacing: the helper library of the course.

Stages (one module each): :mod:`refacing_lib.io` (volumes in RAS), :mod:`refacing_lib.ixi`
(the IXI dataset: names, splits, its files, demographics; :mod:`refacing_lib.download` fetches
them: resumable, checksum-verified downloads and safe extraction), :mod:`refacing_lib.synthetic`
(the embedded synthetic IXI-like cohort), :mod:`refacing_lib.deface` (face blurring and removal;
:mod:`refacing_lib.head_masks` finds the head and the brain it must not touch;
:mod:`refacing_lib.deface_checks` measures a defacing against ground-truth masks, for tests and
benchmarks only), :mod:`refacing_lib.batch` (many files, in parallel, resumable),
:mod:`refacing_lib.blocks` (block averaging, for images and volumes), :mod:`refacing_lib.slices`
(the paper's 21 normalised sagittal slices), :mod:`refacing_lib.datasets` (slice datasets on
disk and their tf.data and numpy pipelines), :mod:`refacing_lib.models` (the paper's CycleGAN
networks in Keras 3), :mod:`refacing_lib.cyclegan` (its losses, image pools and training step
on TensorFlow or JAX), :mod:`refacing_lib.checkpoints` (checkpoint files),
:mod:`refacing_lib.training` (settings, the training loop, interrupts and resume),
:mod:`refacing_lib.reface` (running a trained generator on slices and volumes),
:mod:`refacing_lib.metrics` (the paper's image measures), :mod:`refacing_lib.reidentify`
and :mod:`refacing_lib.evaluation` (a re-identification attack, and the evaluation of a run),
:mod:`refacing_lib.pretrained` (the shipped pretrained course model),
:mod:`refacing_lib.plotting` and :mod:`refacing_lib.widgets` (figures and slice browsers),
:mod:`refacing_lib.profiles` (quick/course/full settings and data locations) and
:mod:`refacing_lib.course` (runs the notebooks).
"""

__version__ = "0.1.0"
