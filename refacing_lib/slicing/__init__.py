"""Stage 3, slicing: the paper's 21 normalised sagittal slices (:mod:`.slices`) and the slice
datasets on disk with their tf.data and numpy pipelines (:mod:`.datasets`).
Notebook 03; ``refacing slices``."""
