"""Running the course's notebooks end to end with papermill.

``make reproduce`` and the notebook tests call :func:`run_notebooks`: it makes sure the data
of the profile is there (generating the synthetic cohort if it is missing), then executes every
``notebooks/NN_*.ipynb`` in order, writing the executed notebooks and their figures under the
output folder. A failing notebook stops the run; the failing cell's traceback is printed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .profiles import data_root, load_profile

__all__ = ["NotebookFailed", "find_notebooks", "prepare_data", "run_notebooks"]

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"


class NotebookFailed(RuntimeError):
    """A notebook raised an error; the message holds the cell's traceback."""


def find_notebooks(folder: str | Path = NOTEBOOKS_DIR) -> list[Path]:
    """The course notebooks ``NN_*.ipynb`` in ``folder``, in course order."""
    folder = Path(folder)
    notebooks = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"{folder}: no course notebooks (NN_name.ipynb) found")
    return notebooks


def prepare_data(profile: dict, log: Callable[[str], None] = print) -> Path:
    """Make sure the data a profile reads exists; return its folder.

    For ``data_source: synthetic`` the cohort is generated under ``<data root>/synthetic``
    (only the subjects that are missing). For ``data_source: ixi`` the IXI T1 volumes must
    already be in ``<data root>/ixi`` (``refacing fetch-ixi``); otherwise a clear error.
    """
    source = profile.get("data_source", "synthetic")
    if source == "synthetic":
        from .synthetic import make_cohort

        folder = data_root() / "synthetic"
        n = int(profile["synthetic_subjects"])
        log(f"synthetic cohort: {n} subjects in {folder} (generated where missing)")
        make_cohort(folder, subjects=n, seed=int(profile.get("seed", 0)))
        return folder
    if source == "ixi":
        from .ixi import list_volumes

        folder = data_root() / "ixi"
        log(f"IXI T1 data: {len(list_volumes(folder))} volumes in {folder}")
        return folder
    raise ValueError(f"data_source must be 'synthetic' or 'ixi', got {source!r}")


def run_notebooks(
    profile: str | Path = "quick",
    out_dir: str | Path = "build",
    only: list[str] | None = None,
    notebooks_dir: str | Path = NOTEBOOKS_DIR,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Execute the course notebooks in order with papermill.

    Parameters
    ----------
    profile : str or Path
        Profile name (``"quick"``, ``"full"``) or YAML file; its values are passed to each
        notebook's ``parameters`` cell (only the names that cell declares).
    out_dir : str or Path
        Executed notebooks go to ``out_dir/NN_name.ipynb``, figures to
        ``out_dir/figures/NN_name/``.
    only : list of str, optional
        Run only the notebooks whose file name starts with one of these (e.g. ``["01"]``).
    notebooks_dir : str or Path
        Folder holding the notebooks (the repository's ``notebooks/``).
    log : callable
        Receives one line per event (which notebook runs, how long it took).

    Returns
    -------
    list of Path
        The executed notebooks.

    Raises
    ------
    NotebookFailed
        When a notebook raises; the executed copy (with the error) is kept in ``out_dir``.
    """
    import papermill as pm

    params = load_profile(profile)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    notebooks = find_notebooks(notebooks_dir)
    if only:
        notebooks = [nb for nb in notebooks if nb.name.startswith(tuple(only))]
        if not notebooks:
            raise ValueError(f"no notebook in {notebooks_dir} starts with any of {only}")
    prepare_data(params, log)
    executed = []
    for i, nb in enumerate(notebooks, 1):
        declared = pm.inspect_notebook(str(nb))
        parameters = {k: v for k, v in params.items() if k in declared}
        if "figure_dir" in declared:
            parameters["figure_dir"] = str(out_dir / "figures" / nb.stem)
        output = out_dir / nb.name
        log(f"[{i}/{len(notebooks)}] {nb.name} ({params.get('profile', profile)} profile) ...")
        start = time.perf_counter()
        try:
            pm.execute_notebook(
                str(nb), str(output), parameters=parameters, cwd=str(nb.parent),
                kernel_name="python3", progress_bar=False,
            )
        except pm.PapermillExecutionError as exc:
            seconds = time.perf_counter() - start
            raise NotebookFailed(
                f"{nb.name} failed after {seconds:.0f} s in cell {exc.exec_count}; "
                f"the executed notebook is {output}\n{exc}"
            ) from None
        log(f"    done in {time.perf_counter() - start:.1f} s -> {output}")
        executed.append(output)
    return executed
