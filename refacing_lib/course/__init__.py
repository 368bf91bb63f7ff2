"""The course runner, apart from the science: the profiles, read and interpreted in
:mod:`.profiles` (the data folders they give: :mod:`refacing_lib.data.layout`), the pipeline
run stage by stage (:mod:`.pipeline`), the notebooks run with papermill (:mod:`.notebooks`,
talking to the kernels through :mod:`.kernel_client`) and the ``refacing`` command
(:mod:`.cli`)."""
