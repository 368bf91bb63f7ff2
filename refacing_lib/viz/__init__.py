"""Figures: static matplotlib figures of volumes, slices and results (:mod:`.plotting`), heads
in 3-D (:mod:`.surfaces`) and the ipywidgets viewers built on them (:mod:`.widgets`). Used by
every notebook."""
