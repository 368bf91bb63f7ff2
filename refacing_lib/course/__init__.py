"""The course runner, apart from the science: the profiles and the data locations
(:mod:`.profiles`), the pipeline run stage by stage (:mod:`.pipeline`), the notebooks run with
papermill (:mod:`.notebooks`, talking to the kernels through :mod:`.kernel_client`) and the
``refacing`` command (:mod:`.cli`)."""
