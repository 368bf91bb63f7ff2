"""Stage 5, evaluation: the paper's image measures (:mod:`.metrics`), a re-identification
attack (:mod:`.reidentify`), the evaluation of a run (:mod:`.evaluation`) and its results
folder (:mod:`.results`), and the shipped pretrained models (:mod:`.pretrained`).
Notebook 06; ``refacing evaluate``, ``refacing evaluate-pretrained``."""
