"""The paper's pipeline, stage by stage, on the data of a profile.

:func:`prepare_data` makes sure a profile's volumes are there (generating the synthetic cohort
where it is missing), :func:`prepare_dataset` anonymizes them and cuts the slice dataset of one
experiment, and :func:`reproduce` (``refacing reproduce``, ``make reproduce-full``) runs the
pipeline without the notebooks: anonymize, slice, train and evaluate every experiment of a
profile, then write one results folder. Every stage resumes where it stopped, so after an
interruption the same command goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from refacing_lib.data.layout import Layout, is_synthetic

from .profiles import data_plan, experiments, layout, load_profile, train_config

__all__ = ["prepare_data", "prepare_dataset", "reproduce"]


def prepare_data(profile: dict, folders: Layout, log: Callable[[str], None] = print,
                 rescans: bool = False, progress: bool = False) -> Path:
    """Make sure the data a profile reads exists; return its folder, ``folders.originals``.

    For a synthetic ``data_source`` (``synthetic``, or ``synthetic-NAME`` for a cohort of its
    own) the cohort is generated there (only the subjects that are missing; with ``rescans``
    also a second scan of each, the re-identification gallery). For ``data_source: ixi`` the
    IXI T1 volumes must already be there (``refacing fetch-ixi``); otherwise a clear error.
    With ``progress``, one line per subject of the cohort.
    """
    folder = folders.originals
    if is_synthetic(folders.source):
        from refacing_lib.data.synthetic import make_cohort

        plan = data_plan(profile)
        n = plan.subjects
        if n < 1:
            raise ValueError(f"profile {profile.get('profile', '?')!r}: data_source "
                             f"{folders.source!r} needs synthetic_subjects (the cohort's size)")
        left_out = f", {n - len(plan.names)} left out" if len(plan.names) < n else ""
        log(f"synthetic cohort: {n} subjects{left_out} in {folder} (generated where missing)")
        make_cohort(folder, subjects=n, seed=plan.seed, rescans=rescans, progress=progress,
                    only=list(plan.names), jobs=plan.jobs, faces=plan.faces)
        return folder
    from refacing_lib.data.ixi import list_volumes

    log(f"IXI T1 data: {len(list_volumes(folder))} volumes in {folder}")
    return folder


def prepare_dataset(profile: dict, folders: Layout, experiment: str, method: str,
                    log: Callable[[str], None] = print, progress: bool = False):
    """Anonymize a profile's originals with ``method`` and build the slice dataset of
    ``experiment``, keeping what is already done (notebook 03's two stages).

    The originals are anonymized with every method of the profile's experiments at once
    (:func:`refacing_lib.anonymize.files.deface_folders`: each face is found once), so the next
    experiment finds its volumes done.

    Parameters
    ----------
    profile : dict
        A loaded profile (``spacing``, ``jobs``, ``experiments``).
    folders : Layout
        The profile's folders (:func:`refacing_lib.course.profiles.layout`); the originals
        must be there (:func:`prepare_data`).
    experiment : {"guys", "all"}
    method : {"blur", "remove"}
    log : callable
        Receives one line per stage.
    progress : bool
        Show tqdm bars of the anonymizing and the slicing on stderr.

    Returns
    -------
    pathlib.Path
        The dataset's folder, ``folders.dataset(experiment, method)``.

    Raises
    ------
    RuntimeError
        When some volumes could not be anonymized (they are listed; the others are kept, and
        running again retries only the failed ones).
    """
    from refacing_lib.anonymize.files import deface_folders
    from refacing_lib.slicing.datasets import build_dataset

    label, plan = folders.name(experiment, method), data_plan(profile)
    methods = dict.fromkeys([method] + [m for _, m in experiments(profile)])
    log(f"{label}: anonymizing ({', '.join(methods)}) where not done")
    report = deface_folders([folders.originals], {m: folders.anonymized(m) for m in methods},
                            jobs=plan.jobs, progress=progress)
    if not report.ok:
        raise RuntimeError(f"{report.summary()}\n{len(report.failed)} volumes could not be "
                           f"anonymized with {', '.join(methods)}; run again to retry them")
    log(f"{label}: slice dataset")
    return build_dataset(folders.originals, folders.anonymized(method),
                         folders.dataset(experiment, method), experiment=experiment,
                         spacing=plan.spacing, progress=progress, log=log)


def reproduce(profile: str | Path = "quick", out_dir: str | Path | None = None,
              log: Callable[[str], None] = print, progress: bool = True) -> Path:
    """Run the paper's pipeline for every experiment of a profile and write the results.

    For each (experiment, method) of :func:`experiments`: anonymize the originals
    (:func:`refacing_lib.anonymize.files.deface_folders`, finished files skipped), build the slice
    dataset (a no-op when it exists), train the CycleGAN (resuming from the latest
    checkpoint; a finished run is loaded) and evaluate it
    (:func:`refacing_lib.evaluate.evaluation.evaluate_run`). Then
    :func:`refacing_lib.evaluate.results.write_results` writes the figures and metrics table.

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
    from refacing_lib.evaluate.evaluation import evaluate_run
    from refacing_lib.evaluate.results import write_results
    from refacing_lib.model.training import train

    params = load_profile(profile)
    name = params.get("profile", Path(str(profile)).stem)
    folders = layout(params, out_dir or Path("build") / "results" / name)
    prepare_data(params, folders, log, rescans=True, progress=progress)
    config = train_config(params)
    evaluations = []
    for experiment, method in experiments(params):
        label = folders.name(experiment, method)
        dataset = prepare_dataset(params, folders, experiment, method, log, progress)
        log(f"{label}: training ({config.epochs} epochs at {config.image_size} px)")
        result = train(dataset, folders.run(experiment, method), config, log=log,
                       progress=progress)
        if result.interrupted:
            raise KeyboardInterrupt(f"{label}: training interrupted at step {result.step}; "
                                    "run the same command again to resume")
        log(f"{label}: evaluating")
        evaluations.append(evaluate_run(folders, experiment, method, progress=progress))
    markdown = write_results(evaluations, folders.results)
    log(f"results: {markdown}")
    return folders.results
