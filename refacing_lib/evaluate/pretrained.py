"""The pretrained course model: refacing generators trained longer than a laptop can.

A CPU cannot train a CycleGAN in the minutes a notebook has (notebook 05 trains for about
three). So, as the keras.io CycleGAN example does, the course ships generators trained longer,
with everything needed to check and redo them. ``refacing_lib/evaluate/pretrained/`` holds, per
anonymization (``blur``, ``remove``):

* ``course-all-{method}.npz``: the refacing generator ``G_AB`` as float16 arrays keyed by
  each weight's Keras path (``c7s1_conv/kernel``), and ``average_face``, the mean
  original training image per slice position (21, s, s), for the attack's baseline;
* ``course-all-{method}-history.csv.gz``: the losses of every training step;
* ``results/``: what :func:`evaluate_pretrained` wrote for the shipped weights
  (``metrics.md``, the paper's figures), shown by notebook 06 (:func:`shipped_results`);

and ``course.json``, the manifest: the profile (``refacing_lib/course/profiles/course.yaml``), the
cohort (synthetic, its seed, size and test subjects), the commands that reproduce the files,
and per method the training config, the steps done and the sha256 of the weights, which
:func:`load_pretrained` checks before loading.

The model was trained on the synthetic cohort of the ``course`` profile; its test subjects
were never seen in training. :func:`evaluate_pretrained` regenerates them from the seed,
anonymizes them and measures the pretrained generators on them (``make reproduce`` writes the
results to ``build/results/pretrained/``). Images are the course's [-1, 1] sagittal slices,
face to the right, at the model's size (``image_size`` of its config).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from refacing_lib.model import checkpoints

__all__ = ["PRETRAINED_DIR", "PROFILE", "manifest", "weights_path", "load_pretrained",
           "pretrained_average_face", "score_pretrained", "export_pretrained",
           "held_out_subjects", "checked_subjects", "prepare_test_data", "evaluate_pretrained",
           "shipped_results"]

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
"""Where the shipped files are."""
PROFILE = "course"
"""The profile that trains the pretrained model (``refacing_lib/course/profiles/course.yaml``)."""
_MANIFEST = PRETRAINED_DIR / f"{PROFILE}.json"


def manifest() -> dict:
    """The pretrained model's manifest (``course.json``) as a dict."""
    if not _MANIFEST.is_file():
        raise FileNotFoundError(f"{_MANIFEST}: the pretrained model's manifest is missing; "
                                "restore it with `git checkout`")
    try:
        return json.loads(_MANIFEST.read_text())
    except ValueError as exc:
        raise ValueError(f"{_MANIFEST}: unreadable manifest ({exc}); restore it with "
                         "`git checkout`") from exc


def weights_path(method: str) -> Path:
    """The weights file of one anonymization's pretrained generator."""
    return PRETRAINED_DIR / f"{PROFILE}-all-{method}.npz"


def _sha256(path: Path) -> str:
    """The file's sha256 hex digest (pooch's, as the IXI download checks its files)."""
    import pooch

    return pooch.file_hash(str(path), alg="sha256")


def _checked_arrays(method: str) -> tuple[dict, dict]:
    """The manifest entry of ``method`` and its weight arrays, after the sha256 check."""
    entry, path = _checked_entry(method)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    return entry, arrays


def _checked_entry(method: str) -> tuple[dict, Path]:
    """The manifest entry of ``method`` and its weights file, whose sha256 was checked."""
    models = manifest()["models"]
    if method not in models:
        raise ValueError(f"no pretrained model for method {method!r}; there is one for "
                         f"{', '.join(sorted(models))}")
    entry, path = models[method], weights_path(method)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the pretrained weights are missing; restore them "
                                "with `git checkout`, or retrain (see course.json, 'commands')")
    found = _sha256(path)
    if found != entry["sha256"]:
        raise ValueError(f"{path}: sha256 {found} differs from {entry['sha256']} recorded in "
                         f"{_MANIFEST.name}; the file is damaged or was replaced. Restore it "
                         "with `git checkout`, or retrain and export (course.json, 'commands')")
    return entry, path


def load_pretrained(method: str):
    """The pretrained refacing generator (anonymized -> original) of one anonymization.

    Parameters
    ----------
    method : {"blur", "remove"}

    Returns
    -------
    keras.Model
        Input and output (batch, s, s, 1) in [-1, 1], ``s`` the model's ``image_size``
        (128); float32 weights (stored as float16).

    Raises
    ------
    ValueError
        If the weights' sha256 differs from the manifest's, or a weight is missing or has
        another shape than the network built from the recorded config (named).
    FileNotFoundError
        If a shipped file is missing.
    """
    from refacing_lib.model.cyclegan import TrainConfig
    from refacing_lib.model.networks import generator_from_config

    entry, arrays = _checked_arrays(method)
    config = TrainConfig(**entry["config"])
    generator = generator_from_config(config, name="G_AB")
    weights = {k: v for k, v in arrays.items() if k != "average_face"}
    checkpoints.assign({v.path: v for v in generator.weights}, weights, weights_path(method))
    return generator


def pretrained_average_face(method: str) -> np.ndarray:
    """Mean original training image per slice position of the pretrained model's training
    subjects, float32 (21, s, s) in [-1, 1]: the attack's average-face baseline."""
    return _checked_arrays(method)[1]["average_face"].astype(np.float32)


def score_pretrained(dataset, method: str):
    """The pretrained generator of ``method`` on another dataset's test split, measured.

    Parameters
    ----------
    dataset : refacing_lib.slicing.datasets.SliceDataset
        E.g. the quick profile's dataset, whose test subjects the pretrained model never saw.
    method : {"blur", "remove"}
        The dataset's anonymization.

    Returns
    -------
    images : dict of str to numpy.ndarray
        ``original``, ``anonymized``, ``refaced`` test images (n, s, s) in [-1, 1] at the
        pretrained model's size.
    scores : pandas.DataFrame
        One row per test image: :func:`refacing_lib.evaluate.metrics.similarity` of the anonymized
        and the refaced images (``anonymized ...``, ``refaced ...`` columns).
    """
    from refacing_lib.model.reface import reface_dataset
    from refacing_lib.slicing.slices import shrink

    from .evaluation import CHANGE_TOLERANCE
    from .metrics import similarity

    generator = load_pretrained(method)
    size = generator.input_shape[1]
    images = {"original": shrink(dataset.images("test", "B"), size),
              "anonymized": shrink(dataset.images("test", "A"), size),
              "refaced": reface_dataset(generator, dataset, "test")}
    changed = np.abs(images["anonymized"] - images["original"]) > CHANGE_TOLERANCE
    scores = [similarity(images["original"], images[v], changed).add_prefix(f"{v} ")
              for v in ("anonymized", "refaced")]
    return images, scores[0].join(scores[1])


def export_pretrained(method: str, run: str | Path | None = None, log=print) -> Path:
    """Write a trained course-profile run as the shipped pretrained model of ``method``.

    Takes the latest checkpoint of ``run`` (default the course profile's run folder,
    ``<data>/runs/synthetic-course-all-{method}``), stores its ``G_AB`` as float16 with the
    training subjects' average face, copies its ``history.csv`` (gzip), and records the
    config, steps and sha256 in ``course.json``.

    Returns
    -------
    pathlib.Path
        The weights file.
    """
    from refacing_lib.model.training import latest_checkpoint, load_generator, run_config
    from refacing_lib.slicing.datasets import open_dataset

    from .evaluation import average_face

    plan, folders = _course()
    source, experiment = folders.source, plan.experiment
    run = Path(run or folders.run(experiment, method))
    checkpoint = latest_checkpoint(run)
    if checkpoint is None:
        raise FileNotFoundError(f"{run}: no checkpoint to export; train it first "
                                f"(`refacing train --profile {PROFILE} --method {method}`)")
    progress, config = checkpoints.read(checkpoint)[1], run_config(run)
    generator = load_generator(run)
    dataset = open_dataset(folders.dataset(experiment, method))
    tested = sorted(set(dataset.metadata.loc[dataset.metadata["split"] == "test", "name"]))
    if tested != sorted(held_out_subjects()):
        raise ValueError(f"{dataset.folder}: its test subjects differ from the {PROFILE} "
                         "profile's held-out ones; rebuild it from the profile's cohort only "
                         f"(<data>/{source}, exclude_subjects left out)")
    arrays = {v.path: np.asarray(v.numpy(), np.float16) for v in generator.weights}
    arrays["average_face"] = average_face(dataset, config.image_size).astype(np.float16)
    PRETRAINED_DIR.mkdir(exist_ok=True)
    path = weights_path(method)
    np.savez_compressed(path, **arrays)
    history = PRETRAINED_DIR / f"{PROFILE}-all-{method}-history.csv.gz"
    with open(run / "history.csv", "rb") as f, open(history, "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as g:
        shutil.copyfileobj(f, g)
    info = manifest() if _MANIFEST.is_file() else {}
    info.update({
        "profile": PROFILE,
        "commands": [f"refacing reproduce --profile {PROFILE}   # or, stage by stage:",
                     f"refacing synth --out <data>/{source} --subjects "
                     f"{plan.subjects} --seed {plan.seed}   # then delete "
                     "exclude_subjects of the profile",
                     f"refacing deface --method METHOD <data>/{source} --out "
                     f"<data>/anonymized/METHOD/{source} --jobs 2",
                     f"refacing slices --source {source} --experiment {experiment} "
                     "--method METHOD",
                     f"refacing train --profile {PROFILE} --method METHOD",
                     "refacing export-pretrained --methods METHOD",
                     "refacing evaluate-pretrained --out "
                     "refacing_lib/evaluate/pretrained/results"],
        "cohort": {"source": source, "subjects": plan.subjects, "seed": plan.seed,
                   "excluded": list(plan.excluded),
                   "experiment": experiment, "test_subjects": held_out_subjects()}})
    info.setdefault("models", {})[method] = {
        "weights": path.name, "sha256": _sha256(path), "history": history.name,
        "config": asdict(config), "steps": progress["step"],
        "epochs": progress["epoch"]}
    _MANIFEST.write_text(json.dumps(info, indent=1) + "\n")
    log(f"{path}: {path.stat().st_size / 1e6:.1f} MB, step {progress['step']}")
    return path


def _course():
    """The course profile's (:data:`PROFILE`) data plan and folders (a Layout)."""
    from refacing_lib.course.profiles import data_plan, layout, load_profile

    profile = load_profile(PROFILE)
    return data_plan(profile), layout(profile)


def held_out_subjects() -> list[str]:
    """File names of the pretrained model's test subjects: the paper's 'all' test split of
    the course profile's synthetic cohort (never seen in training)."""
    from refacing_lib.data.ixi import paper_split

    plan = _course()[0]
    return paper_split(list(plan.names), plan.experiment).test


def checked_subjects(subjects=None) -> list[str]:
    """``subjects`` (file names) checked against :func:`held_out_subjects`, in their order;
    ``None``: all held-out subjects. Raises ValueError naming a subject that is not one."""
    held_out = held_out_subjects()
    if subjects is None:
        return held_out
    unknown = sorted(set(subjects) - set(held_out))
    if unknown or not subjects:
        raise ValueError(f"subjects {unknown or '[]'}: not test subjects of the pretrained "
                         f"model; choose among {held_out}")
    return [name for name in held_out if name in set(subjects)]


def prepare_test_data(method: str, jobs: int = 2, log: Callable[[str], None] = print,
                      subjects=None):
    """Regenerate the pretrained model's test subjects, anonymize them and slice them.

    Writes, under the data root, only what is missing: the test subjects and their second
    scans (the attack's gallery) in ``synthetic-course/``, their anonymized volumes in
    ``anonymized/{m}/synthetic-course/`` for every method ``m`` of the pretrained models (each
    face found once for all) and a test-only slice dataset in
    ``datasets/synthetic-course-test-all-{method}/``. ``subjects``: only these test subjects
    (file names, :func:`checked_subjects`), a quick check; their dataset's folder then has a
    digest of the names after ``test``.

    Returns
    -------
    refacing_lib.slicing.datasets.SliceDataset
    """
    from refacing_lib.anonymize.files import deface_folders
    from refacing_lib.data.synthetic import make_cohort
    from refacing_lib.slicing.datasets import build_dataset, open_dataset

    plan, folders = _course()
    experiment, originals = plan.experiment, folders.originals
    names = checked_subjects(subjects)
    log(f"pretrained model: {len(names)} test subjects of the synthetic cohort (seed "
        f"{plan.seed}) in {originals}, generated where missing")
    make_cohort(originals, subjects=plan.subjects, seed=plan.seed, rescans=True,
                progress=False, only=names, jobs=jobs, faces=plan.faces)
    methods = dict.fromkeys([method, *manifest()["models"]])
    report = deface_folders([originals / n for n in names],
                            {m: folders.anonymized(m) for m in methods}, jobs=jobs,
                            progress=False)
    if not report.ok:
        raise RuntimeError(f"{report.summary()}\nsome test subjects could not be anonymized")
    subset = "" if names == held_out_subjects() else \
        "-" + hashlib.sha256(" ".join(names).encode()).hexdigest()[:8]
    out = folders.root / "datasets" / f"{folders.source}-test{subset}-{experiment}-{method}"
    build_dataset(originals, folders.anonymized(method), out, experiment=experiment,
                  spacing=plan.spacing, test_only=names, progress=False,
                  log=log)
    return open_dataset(out)


def evaluate_pretrained(out: str | Path, methods=("blur", "remove"), jobs: int = 2,
                        log: Callable[[str], None] = print, subjects=None) -> Path:
    """Measure the pretrained generators on their test subjects and write a results folder.

    For each method: :func:`prepare_test_data`, then
    :func:`refacing_lib.evaluate.evaluation.evaluate` with the gallery of the test subjects' second
    scans and the shipped average face, and the refacing of one whole test head. The folder
    is :func:`refacing_lib.evaluate.results.write_results`'s (``metrics.md``, the paper's
    figures).

    The latest results are kept in ``<data root>/pretrained-results/<key>/`` and copied to
    ``out``; the key is a digest of the weights (their sha256, checked against the manifest),
    the test datasets, the library's code and the versions of its main packages
    (:func:`results_key`), so the measures are computed again only when one of those
    changed: a second run of notebook 06 takes seconds instead of minutes. ``subjects``: only
    these test subjects (:func:`prepare_test_data`); the attack's gallery is then theirs.

    Returns
    -------
    pathlib.Path
        ``out/metrics.md``.
    """
    from .evaluation import evaluate, evaluate_first_head, gallery_profiles
    from .results import write_results

    folders = _course()[1]
    datasets = {method: prepare_test_data(method, jobs=jobs, log=log, subjects=subjects)
                for method in methods}
    kept = folders.pretrained_results / results_key(datasets)
    if (kept / "metrics.md").is_file():
        log(f"pretrained model: results of these weights and test data kept in {kept}")
    else:
        evaluations, galleries = [], {}
        for method, dataset in datasets.items():
            generator = load_pretrained(method)
            size = generator.input_shape[1]
            names = tuple(dataset.metadata["name"])
            if (names, size) not in galleries:          # both methods: the same second scans
                galleries[names, size] = gallery_profiles(dataset, folders.originals, size)
            result = evaluate(dataset, generator, galleries[names, size],
                              pretrained_average_face(method))
            result.volume = evaluate_first_head(result, generator, folders.originals,
                                                folders.anonymized(method))
            evaluations.append(result)
            log(f"pretrained {method}: evaluated on {len(result.scores)} test slices")
        unfinished = kept.with_name(kept.name + ".partial")  # never taken for finished results
        for folder in (unfinished, kept):                    # kept: a metrics.md was deleted
            shutil.rmtree(folder, ignore_errors=True)
        write_results(evaluations, unfinished)
        unfinished.replace(kept)
        for other in kept.parent.iterdir():                  # only the latest results are kept
            if other != kept:
                shutil.rmtree(other, ignore_errors=True)
    shutil.copytree(kept, out, dirs_exist_ok=True)
    return Path(out) / "metrics.md"


def shipped_results() -> Path:
    """The results folder shipped with the weights (``results/``: ``metrics.md``,
    ``metrics.csv``, the scores and the paper's figures), written by
    ``refacing evaluate-pretrained --out refacing_lib/evaluate/pretrained/results``;
    ``tests/test_pretrained.py`` measures again and compares."""
    folder = PRETRAINED_DIR / "results"
    if not (folder / "metrics.md").is_file():
        raise FileNotFoundError(f"{folder / 'metrics.md'}: the pretrained model's results are "
                                "missing; restore them with `git checkout`, or write them with "
                                f"`refacing evaluate-pretrained --out {folder}`")
    return folder


#: The library whose code :func:`results_key` digests.
_LIBRARY = Path(__file__).parents[1]
#: The packages whose versions :func:`results_key` digests (the network and the measures).
_KEY_PACKAGES = ("keras", "numpy", "scipy", "scikit-image", "nibabel")


def results_key(datasets: dict) -> str:
    """A digest (16 hex digits) of what :func:`evaluate_pretrained`'s results depend on: per
    method its manifest entry (weights' sha256, checked; config) and its test dataset's
    settings and arrays' sizes; the Keras backend and the versions of the packages that
    compute the measures; the source and profiles of ``refacing_lib`` (:data:`_LIBRARY`)."""
    import importlib.metadata

    import keras

    digest = hashlib.sha256()
    for method, dataset in datasets.items():
        entry, _ = _checked_entry(method)          # raises if the weights are not the shipped
        sizes = sorted((p.name, p.stat().st_size) for p in dataset.folder.glob("*.npy"))
        digest.update(json.dumps([method, entry, dataset.info, sizes], sort_keys=True,
                                 default=str).encode())
    versions = {name: importlib.metadata.version(name) for name in _KEY_PACKAGES}
    digest.update(json.dumps([keras.backend.backend(), versions], sort_keys=True).encode())
    for path in sorted([*_LIBRARY.rglob("*.py"), *_LIBRARY.rglob("*.yaml")]):
        digest.update(str(path.relative_to(_LIBRARY)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]
