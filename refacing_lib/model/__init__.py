"""Stage 4, the model: the paper's CycleGAN networks in Keras 3 (:mod:`.networks`), its losses,
image pools and training step on TensorFlow or JAX (:mod:`.cyclegan`), checkpoint files
(:mod:`.checkpoints`), the training loop with its settings, interrupts and resume
(:mod:`.training`), and running a trained generator on slices and volumes (:mod:`.reface`).
Notebooks 04 and 05; ``refacing train``, ``refacing reface``."""
