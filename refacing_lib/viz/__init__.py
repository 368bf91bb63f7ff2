"""Figures: static matplotlib figures of volumes, slices and results (:mod:`.plotting`) and the
ipywidgets viewers built on them (:mod:`.widgets`). Used by every notebook."""
