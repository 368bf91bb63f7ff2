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

from .pipeline import prepare_data
from .profiles import layout, load_profile

__all__ = ["NotebookFailed", "find_notebooks", "kernel_config", "run_notebooks"]

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"


class NotebookFailed(RuntimeError):
    """A notebook raised an error; the message holds the cell's traceback."""


def find_notebooks(folder: str | Path = NOTEBOOKS_DIR) -> list[Path]:
    """The course notebooks ``NN_*.ipynb`` in ``folder``, in course order."""
    folder = Path(folder)
    notebooks = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"{folder}: no course notebooks (NN_name.ipynb) found")
    return notebooks


def kernel_config(stderr_log: str | Path | None = None):
    """The traitlets config of the kernels that papermill starts: encrypted transport,
    :class:`refacing_lib.course.kernel_client.WakefulKernelClient` to talk to them, and (with
    ``stderr_log``) their native error output appended to that file
    (:class:`~refacing_lib.course.kernel_client.LoggedKernelManager`).

    A kernel talks to papermill over ZeroMQ sockets on 127.0.0.1. By default jupyter_client
    provisions no keys, and ipykernel warns "Kernel is running over TCP without encryption"
    at every start. With ``transport_encryption = "auto"`` the kernel manager provisions
    CurveZMQ keys for kernels whose kernelspec declares support (ipykernel's does), so the
    traffic is encrypted and the warning has no cause. The encryption setting (not the
    client) is also in ``jupyter/jupyter_server_config.json`` for JupyterLab (``make lab``,
    Binder).
    """
    import zmq
    from traitlets.config import Config

    policy = "auto" if zmq.has("curve") else "disabled"  # pyzmq built without libsodium
    manager = "refacing_lib.course.kernel_client.LoggedKernelManager"
    return Config({"KernelManager": {"transport_encryption": policy},
                   "AsyncKernelManager": {
                       "client_class": "refacing_lib.course.kernel_client.WakefulKernelClient"},
                   "LoggedKernelManager": {"stderr_log": str(stderr_log or "")},
                   "NotebookClient": {"kernel_manager_class": manager}})


def run_notebooks(
    profile: str | Path = "quick",
    out_dir: str | Path = "build",
    only: list[str] | None = None,
    notebooks_dir: str | Path = NOTEBOOKS_DIR,
    log: Callable[[str], None] = print,
    cell_timeout: float | None = None,
) -> list[Path]:
    """Execute the course notebooks in order with papermill.

    The kernels use matplotlib's Agg backend unless ``MPLBACKEND`` is set: figures reach the
    executed notebooks where a cell displays them, and ``figure_dir`` as PNG files.

    Parameters
    ----------
    profile : str or Path
        Profile name (``"quick"``, ``"full"``) or YAML file; its values are passed to each
        notebook's ``parameters`` cell (only the names that cell declares).
    out_dir : str or Path
        Executed notebooks go to ``out_dir/NN_name.ipynb``, figures to
        ``out_dir/figures/NN_name/``, the results table of notebook 06 to ``out_dir/results/``.
    only : list of str, optional
        Run only the notebooks whose file name starts with one of these (e.g. ``["01"]``).
    notebooks_dir : str or Path
        Folder holding the notebooks (the repository's ``notebooks/``).
    log : callable
        Receives one line per event (which notebook runs, how long it took).
    cell_timeout : float, optional
        Seconds a cell may run; a cell that runs longer fails its notebook (default: no
        limit, as a full-profile training runs for hours in one cell).

    Returns
    -------
    list of Path
        The executed notebooks.

    Raises
    ------
    NotebookFailed
        When a notebook raises or a cell runs longer than ``cell_timeout``; the executed copy
        (with the error) is kept in ``out_dir``.
    """
    import os

    # Agg: figures are saved as PNG files; under the inline backend papermill could wait
    # forever for a widget cell to finish
    os.environ.setdefault("MPLBACKEND", "Agg")
    params = load_profile(profile)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    notebooks = find_notebooks(notebooks_dir)
    if only:
        notebooks = [nb for nb in notebooks if nb.name.startswith(tuple(only))]
        if not notebooks:
            raise ValueError(f"no notebook in {notebooks_dir} starts with any of {only}")
    prepare_data(params, layout(params), log)
    executed = []
    for i, nb in enumerate(notebooks, 1):
        output = out_dir / nb.name
        log(f"[{i}/{len(notebooks)}] {nb.name} ({params.get('profile', profile)} profile) ...")
        start = time.perf_counter()
        _execute(nb, output, params, cell_timeout)
        log(f"    done in {time.perf_counter() - start:.1f} s -> {output}")
        executed.append(output)
    return executed


def _execute(nb: Path, output: Path, params: dict, cell_timeout: float | None) -> None:
    """Run notebook ``nb`` into ``output`` with the values of ``params`` its parameters cell
    declares; ``figure_dir`` and ``results_dir`` lie beside ``output``, the kernel's native
    error output in ``logs/{nb.stem}.log`` there. Raises NotebookFailed."""
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError

    declared = pm.inspect_notebook(str(nb))
    parameters = {k: v for k, v in params.items() if k in declared}
    if "figure_dir" in declared:
        parameters["figure_dir"] = str(output.parent / "figures" / nb.stem)
    if "results_dir" in declared:
        parameters["results_dir"] = str(output.parent / "results")
    stderr_log = output.parent / "logs" / f"{nb.stem}.log"
    stderr_log.unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(nb), str(output), parameters=parameters, cwd=str(nb.parent),
                            kernel_name="python3", progress_bar=False,
                            config=kernel_config(stderr_log), execution_timeout=cell_timeout)
    except pm.PapermillExecutionError as exc:
        seconds = time.perf_counter() - start
        raise NotebookFailed(f"{nb.name} failed after {seconds:.0f} s in cell {exc.exec_count}; "
                             f"the executed notebook is {output}, the kernel's log {stderr_log}\n"
                             f"{exc}") from None
    except CellTimeoutError as exc:       # cell_timeout, or no output from the kernel
        seconds = time.perf_counter() - start
        limit = "" if cell_timeout is None else f" (cell_timeout={cell_timeout:g} s)"
        raise NotebookFailed(
            f"{nb.name} failed after {seconds:.0f} s: {str(exc).splitlines()[0]}{limit}; "
            f"the executed notebook is {output}, the kernel's log {stderr_log}\n{exc}") from None
