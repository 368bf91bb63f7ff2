"""Stage 4, the model: the paper's CycleGAN networks in Keras 3 (:mod:`.networks`), the
CycleGAN with its settings and its training step (:mod:`.cyclegan`; its losses in
:mod:`.losses`, its image pools in :mod:`.pools`, the learning-rate schedule in
:mod:`.schedule`; the step on JAX, several devices and bfloat16 in :mod:`.backends`),
checkpoint files (:mod:`.checkpoints`), the training loop with interrupts and resume
(:mod:`.training`; what it records in a run folder: :mod:`.run_log`), and running a trained
generator on slices and volumes (:mod:`.reface`). Notebooks 04 and 05; ``refacing train``,
``refacing reface``."""
