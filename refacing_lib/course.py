"""Running the course's notebooks end to end with papermill.

``make reproduce`` and the notebook tests call :func:`run_notebooks`: it makes sure the data
of the profile is there (generating the synthetic cohort if it is missing), then executes every
``notebooks/NN_*.ipynb`` in order, writing the executed notebooks and their figures under the
output folder. A failing notebook stops the run; the failing cell's traceback is printed.

:func:`reproduce` (``refacing reproduce``, ``make reproduce-full``) runs the paper's pipeline
without the notebooks: anonymize, slice, train and evaluate every experiment of a profile,
then write one results folder. Every stage resumes where it stopped, so after an interruption
the same command goes on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .profiles import check_source, data_root, is_synthetic, load_profile

__all__ = ["NotebookFailed", "find_notebooks", "prepare_data", "cohort_names", "prepare_dataset",
           "kernel_config", "run_notebooks", "experiments", "reproduce"]

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


def prepare_data(profile: dict, log: Callable[[str], None] = print, rescans: bool = False,
                 progress: bool = False) -> Path:
    """Make sure the data a profile reads exists; return its folder.

    For a synthetic ``data_source`` (``synthetic``, or ``synthetic-NAME`` for a cohort of its
    own) the cohort is generated under ``<data root>/{data_source}`` (only the subjects that
    are missing; with ``rescans`` also a second scan of each, the re-identification gallery).
    For ``data_source: ixi`` the IXI T1 volumes must already be in ``<data root>/ixi``
    (``refacing fetch-ixi``); otherwise a clear error. With ``progress``, one line per
    subject of the cohort.
    """
    source = check_source(profile.get("data_source", "synthetic"))
    if is_synthetic(source):
        from .synthetic import make_cohort

        folder = data_root() / source
        n, names = int(profile["synthetic_subjects"]), cohort_names(profile)
        left_out = f", {n - len(names)} left out" if len(names) < n else ""
        log(f"synthetic cohort: {n} subjects{left_out} in {folder} (generated where missing)")
        make_cohort(folder, subjects=n, seed=int(profile.get("seed", 0)), rescans=rescans,
                    progress=progress, only=names, jobs=int(profile.get("jobs", 1)))
        return folder
    from .ixi import list_volumes

    folder = data_root() / "ixi"
    log(f"IXI T1 data: {len(list_volumes(folder))} volumes in {folder}")
    return folder


def cohort_names(profile: dict) -> list[str]:
    """File names of a profile's synthetic cohort: its first ``synthetic_subjects`` subjects
    of seed ``seed``, less those listed in ``exclude_subjects`` (heads the defacer refuses)."""
    from .synthetic import cohort_entries

    names = [e["name"] for e in cohort_entries(int(profile["synthetic_subjects"]),
                                               int(profile.get("seed", 0)))]
    excluded = set(profile.get("exclude_subjects") or [])
    unknown = sorted(excluded - set(names))
    if unknown:
        raise ValueError(f"exclude_subjects of profile {profile.get('profile', '?')!r} names "
                         f"subjects that are not in its cohort: {unknown}")
    return [name for name in names if name not in excluded]


def prepare_dataset(profile: dict, experiment: str, method: str, originals: Path,
                    log: Callable[[str], None] = print, progress: bool = False):
    """Anonymize a profile's originals with ``method`` and build the slice dataset of
    ``experiment``, keeping what is already done (notebook 03's two stages).

    The originals are anonymized with every method of the profile's experiments at once
    (:func:`refacing_lib.deface.deface_folders`: each face is found once), so the next
    experiment finds its volumes done.

    Parameters
    ----------
    profile : dict
        A loaded profile (``data_source``, ``spacing``, ``jobs``).
    experiment : {"guys", "all"}
    method : {"blur", "remove"}
    originals : Path
        Folder of the original volumes (:func:`prepare_data`'s result).
    log : callable
        Receives one line per stage.
    progress : bool
        Show tqdm bars of the anonymizing and the slicing on stderr.

    Returns
    -------
    pathlib.Path
        The dataset's folder, ``<data root>/datasets/{source}-{experiment}-{method}``.

    Raises
    ------
    RuntimeError
        When some volumes could not be anonymized (they are listed; the others are kept, and
        running again retries only the failed ones).
    """
    from .datasets import build_dataset
    from .deface import deface_folders
    from .profiles import anonymized_dir, dataset_dir

    source = profile.get("data_source", "synthetic")
    label = f"{source}-{experiment}-{method}"
    methods = dict.fromkeys([method] + [m for _, m in experiments(profile)])
    log(f"{label}: anonymizing ({', '.join(methods)}) where not done")
    report = deface_folders([originals], {m: anonymized_dir(source, m) for m in methods},
                            jobs=int(profile.get("jobs", 1)), progress=progress)
    if not report.ok:
        raise RuntimeError(f"{report.summary()}\n{len(report.failed)} volumes could not be "
                           f"anonymized with {', '.join(methods)}; run again to retry them")
    log(f"{label}: slice dataset")
    return build_dataset(originals, anonymized_dir(source, method),
                         dataset_dir(source, experiment, method), experiment=experiment,
                         spacing=profile.get("spacing", "tight"), progress=progress, log=log)


def kernel_config():
    """The traitlets config of the kernels that papermill starts: encrypted transport, and
    :class:`refacing_lib.kernel_client.WakefulKernelClient` to talk to them (see that module).

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
    return Config({"KernelManager": {"transport_encryption": policy},
                   "AsyncKernelManager": {
                       "client_class": "refacing_lib.kernel_client.WakefulKernelClient"}})


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

    import papermill as pm
    from nbclient.exceptions import CellTimeoutError

    # The kernels draw with matplotlib's Agg backend (figures are saved as PNG under
    # out_dir/figures). Under the inline backend, papermill waited forever for the dataset
    # browser's cell of notebook 03 to finish (seen in 4 of 5 runs here), as CI never did.
    os.environ.setdefault("MPLBACKEND", "Agg")
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
        if "results_dir" in declared:
            parameters["results_dir"] = str(out_dir / "results")
        output = out_dir / nb.name
        log(f"[{i}/{len(notebooks)}] {nb.name} ({params.get('profile', profile)} profile) ...")
        start = time.perf_counter()
        try:
            pm.execute_notebook(
                str(nb), str(output), parameters=parameters, cwd=str(nb.parent),
                kernel_name="python3", progress_bar=False, config=kernel_config(),
                execution_timeout=cell_timeout,
            )
        except pm.PapermillExecutionError as exc:
            seconds = time.perf_counter() - start
            raise NotebookFailed(
                f"{nb.name} failed after {seconds:.0f} s in cell {exc.exec_count}; "
                f"the executed notebook is {output}\n{exc}"
            ) from None
        except CellTimeoutError as exc:       # cell_timeout, or no output from the kernel
            seconds = time.perf_counter() - start
            limit = "" if cell_timeout is None else f" (cell_timeout={cell_timeout:g} s)"
            raise NotebookFailed(
                f"{nb.name} failed after {seconds:.0f} s: {str(exc).splitlines()[0]}{limit}; "
                f"the executed notebook is {output}\n{exc}"
            ) from None
        log(f"    done in {time.perf_counter() - start:.1f} s -> {output}")
        executed.append(output)
    return executed


def experiments(profile: dict) -> list[tuple[str, str]]:
    """The (experiment, method) pairs a profile reproduces.

    ``experiments:`` in the profile lists them as ``guys-blur``, ``all-remove``, ...; without
    it, the profile's single ``experiment`` and ``method``.
    """
    names = profile.get("experiments") or [f"{profile.get('experiment', 'all')}-"
                                           f"{profile.get('method', 'remove')}"]
    pairs = []
    for name in names:
        experiment, _, method = str(name).partition("-")
        if experiment not in ("guys", "all") or method not in ("blur", "remove"):
            raise ValueError(f"experiment {name!r} in the profile: expected guys-blur, "
                             "guys-remove, all-blur or all-remove")
        pairs.append((experiment, method))
    return pairs


def reproduce(profile: str | Path = "quick", out_dir: str | Path | None = None,
              log: Callable[[str], None] = print, progress: bool = True) -> Path:
    """Run the paper's pipeline for every experiment of a profile and write the results.

    For each (experiment, method) of :func:`experiments`: anonymize the originals
    (:func:`refacing_lib.deface.deface_folders`, finished files skipped), build the slice
    dataset (a no-op when it exists), train the CycleGAN (resuming from the latest
    checkpoint; a finished run is loaded) and evaluate it
    (:func:`refacing_lib.evaluation.evaluate_run`). Then
    :func:`refacing_lib.evaluation.write_results` writes the figures and metrics table.

    Parameters
    ----------
    profile : str or Path
        ``"quick"``, ``"full"`` or a YAML file.
    out_dir : str or Path, optional
        Results folder; default ``build/results/{profile}``.
    log : callable
        Receives one line per stage.
    progress : bool
        Show the progress of every stage on stderr (tqdm bars; one line per generated
        subject of a synthetic cohort).

    Returns
    -------
    pathlib.Path
        The results folder (``metrics.md`` inside).

    Raises
    ------
    RuntimeError
        When some volumes could not be anonymized (they are listed; the others are kept, and
        running again retries only the failed ones).
    """
    from .evaluation import evaluate_run, write_results
    from .profiles import run_dir
    from .training import TrainConfig, train

    params = load_profile(profile)
    name = params.get("profile", Path(str(profile)).stem)
    out_dir = Path(out_dir or Path("build") / "results" / name)
    source = params.get("data_source", "synthetic")
    originals = prepare_data(params, log, rescans=True, progress=progress)
    config = TrainConfig.from_profile(params)
    evaluations = []
    for experiment, method in experiments(params):
        label = f"{source}-{experiment}-{method}"
        dataset = prepare_dataset(params, experiment, method, originals, log, progress)
        log(f"{label}: training ({config.epochs} epochs at {config.image_size} px)")
        result = train(dataset, run_dir(source, experiment, method), config, log=log,
                       progress=progress)
        if result.interrupted:
            raise KeyboardInterrupt(f"{label}: training interrupted at step {result.step}; "
                                    "run the same command again to resume")
        log(f"{label}: evaluating")
        evaluations.append(evaluate_run(source, experiment, method, progress=progress))
    markdown = write_results(evaluations, out_dir)
    log(f"results: {markdown}")
    return out_dir
