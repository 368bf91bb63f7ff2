"""Stage 1, the data: T1 volumes in RAS (:mod:`.io`), the folders of every stage
(:mod:`.layout`), the IXI dataset's names, splits, files and demographics (:mod:`.ixi`;
:mod:`.download` fetches them: resumable, checksum-verified downloads and safe extraction),
and the embedded synthetic IXI-like cohort (:mod:`.synthetic`).
Notebook 01; ``refacing synth``, ``refacing fetch-ixi``."""
