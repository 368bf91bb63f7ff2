"""Stage 3, slicing: the paper's 21 normalised sagittal slices (:mod:`.slices`), the slice
datasets on disk (:mod:`.datasets`) and the tf.data and numpy pipelines that feed them to the
models (:mod:`.pipelines`). Notebook 03; ``refacing slices``."""
