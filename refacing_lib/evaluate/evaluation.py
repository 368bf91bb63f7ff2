"""Evaluating a trained refacing generator as the paper did, and with a re-identification attack.

:func:`evaluate` refaces the test slices of a dataset and measures them (one
:class:`Evaluation` per experiment and anonymization): the paper's front-half correlation and
SSIM per image for the anonymized and the refaced slices (also over the changed pixels only),
and top-1 / top-5 identification rates of the attack in :mod:`refacing_lib.evaluate.reidentify` for
the original, refaced, anonymized and average-face versions. :func:`evaluate_volume` refaces a
whole head and measures the discontinuity between neighbouring refaced slices.
:func:`refacing_lib.evaluate.results.write_results` writes them to a results folder.

Images are the datasets' [-1, 1] slices, face to the right, at the generator's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from refacing_lib.data.io import Volume, load_volume
from refacing_lib.data.layout import Layout
from refacing_lib.model.reface import reface_dataset, reface_volume
from refacing_lib.slicing.datasets import SliceDataset
from refacing_lib.slicing.slices import N_SLICES, shrink, subject_slices

from .metrics import similarity, slice_discontinuity
from .reidentify import (
    face_profile,
    identification_rates,
    profile_distances,
    rate_interval,
    with_average_face,
)

__all__ = ["CHANGE_TOLERANCE", "Evaluation", "gallery_profiles", "average_face", "evaluate",
           "evaluate_volume", "evaluate_first_head", "evaluate_run"]

#: A pixel counts as changed by the anonymization when it moved by more than this ([-1, 1]).
CHANGE_TOLERANCE = 0.05
_CHUNK = 256                                  # images decoded at a time


@dataclass
class Evaluation:
    """The measures of one trained generator on its dataset's test split.

    Attributes
    ----------
    experiment, method : str
        E.g. ``"all"`` and ``"remove"``.
    scores : pandas.DataFrame
        One row per test image: the dataset's metadata, ``position`` (0 to 20 within the
        subject), then ``anonymized *`` and ``refaced *`` columns of
        :func:`refacing_lib.evaluate.metrics.similarity` (``correlation``, ``ssim``,
        ``correlation_changed``, ``ssim_changed``, ``mae_changed``, ``mae_unchanged``).
    identification : pandas.DataFrame
        One row per probe version (``original``, ``refaced``, ``anonymized``,
        ``average face``): ``top-1`` and ``top-5`` rates, ``probes`` and ``gallery`` sizes.
    images : dict of str to numpy.ndarray
        ``original``, ``anonymized``, ``refaced`` test images, (n, s, s) in [-1, 1].
    gallery : str
        Where the gallery faces came from.
    volume : dict, optional
        :func:`evaluate_volume` of one test subject, when measured.
    render, render_heads : pandas.DataFrame, optional
        The render attack on the test subjects' whole heads, when run
        (:func:`refacing_lib.evaluate.render.render_attack`: rates per version, and what was
        found per head).
    """

    experiment: str
    method: str
    scores: pd.DataFrame
    identification: pd.DataFrame
    images: dict
    gallery: str
    volume: dict | None = field(default=None, repr=False)
    render: pd.DataFrame | None = field(default=None, repr=False)
    render_heads: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """``{experiment}-{method}``, e.g. ``all-remove``."""
        return f"{self.experiment}-{self.method}"

    def examples(self, n: int = 4, subject: str | None = None) -> tuple[dict, list[str]]:
        """Test images to show: all slices of ``subject``, or the middle slice of ``n`` subjects.

        Returns ``({"original": ..., "anonymized": ..., "refaced": ...}, titles)``, arrays
        (k, s, s) and one title per image (the offset from the mid-plane, after the subject
        when several are shown).
        """
        scores = self.scores
        if subject is not None:
            chosen = np.nonzero(np.asarray(scores["name"] == subject))[0]
        else:
            middle = np.nonzero(np.asarray(scores["position"] == N_SLICES // 2))[0]
            chosen = middle[np.linspace(0, len(middle) - 1, min(n, len(middle))).astype(int)]
        titles = [("" if subject else f"{scores['subject'][i]} ")
                  + f"{scores['offset_mm'][i]:+.0f} mm" for i in chosen]
        return {k: v[chosen] for k, v in self.images.items()}, titles

    def summary(self) -> dict:
        """One row of the metrics table: mean scores, the identification rates of the 2-D
        profile attack (``top-1 refaced``, ...) and of the render attack (``top-1 refaced
        (face recognition)``, ..., when run), discontinuity."""
        means = self.scores.select_dtypes("number").mean()
        row = {"experiment": self.experiment, "method": self.method,
               "test images": len(self.scores),
               "test subjects": self.scores["name"].nunique()}
        for measure in ("correlation", "ssim", "correlation_changed", "ssim_changed",
                        "mae_changed", "mae_unchanged"):
            for version in ("anonymized", "refaced"):
                row[f"{measure} {version}"] = means[f"{version} {measure}"]
        probes, gallery = (int(self.identification[k].iloc[0]) for k in ("probes", "gallery"))
        row["probes"], row["gallery"] = probes, gallery
        for k in (1, 5):
            row[f"top-{k} chance"] = min(1.0, k / gallery)
            for version, rates in self.identification.iterrows():
                low, high = rate_interval(rates[f"top-{k}"], probes)
                row[f"top-{k} {version}"] = rates[f"top-{k}"]
                row[f"top-{k} {version} 95% low"], row[f"top-{k} {version} 95% high"] = low, high
        if self.render is not None:
            row.update(_render_rows(self.render))
        if self.volume is not None:
            row["discontinuity refaced / original"] = (self.volume["discontinuity"]["refaced"]
                                                       / self.volume["discontinuity"]["original"])
        return row


def _render_rows(render: pd.DataFrame) -> dict:
    """The render attack's entries of a metrics row: per version, the fraction of heads with a
    face and the top-1 and top-5 rates with their 95% intervals; the rates of chance."""
    row = {}
    for k in (1, 5):
        row[f"top-{k} chance (face recognition)"] = float(render[f"top-{k} chance"].iloc[0])
    for version, rates in render.iterrows():
        row[f"faces found {version} (face recognition)"] = float(rates["faces found"])
        for k in (1, 5):
            key = f"top-{k} {version} (face recognition)"
            row[key] = float(rates[f"top-{k}"])
            row[f"{key} 95% low"] = float(rates[f"top-{k} 95% low"])
            row[f"{key} 95% high"] = float(rates[f"top-{k} 95% high"])
    return row


def _positions(metadata: pd.DataFrame) -> np.ndarray:
    """Each row's slice number (0 to 20) within its subject; rows are stored subject by subject."""
    return np.asarray(metadata.groupby("name", sort=False).cumcount())


def _by_subject(values: np.ndarray, names: pd.Series) -> tuple[list[str], np.ndarray]:
    """Rows grouped per subject: the subjects in order and an array (subjects, 21, ...)."""
    subjects = list(dict.fromkeys(names))
    if list(np.repeat(subjects, N_SLICES)) != list(names):
        raise ValueError(f"expected {N_SLICES} consecutive rows per subject, got "
                         f"{dict(names.value_counts())}")
    return subjects, values.reshape(len(subjects), N_SLICES, *values.shape[1:])


def gallery_profiles(dataset: SliceDataset, originals: str | Path, size: int,
                     progress: bool = False) -> tuple[list[str], np.ndarray, str]:
    """The faces the attacker matches against: one per subject of the dataset.

    If ``originals/rescans`` holds a second scan of every subject (the synthetic cohort's
    ``make_cohort(..., rescans=True)``), the gallery is cut from those, so that a match is
    never a copy of the probe; otherwise it is the dataset's original (B) slices, training
    and test subjects together.

    Parameters
    ----------
    dataset : SliceDataset
    originals : str or Path
        The folder of the original volumes the dataset was built from.
    size : int
        Image size of the probes (the generator's).
    progress : bool
        Show a tqdm progress bar (second scans read) on stderr.

    Returns
    -------
    names : list of str
        Subject file names, one per gallery entry.
    profiles : numpy.ndarray, shape (g, 21, size)
        :func:`refacing_lib.evaluate.reidentify.face_profile` of each subject's 21 slices.
    kind : str
        A sentence saying where the gallery came from.
    """
    names = list(dict.fromkeys(dataset.metadata["name"]))
    rescans = Path(originals) / "rescans"
    if all((rescans / name).is_file() for name in names):
        from tqdm.auto import tqdm

        profiles = [face_profile(shrink(subject_slices(load_volume(rescans / name))["original"],
                                        size))
                    for name in tqdm(names, desc="gallery", unit="subject", disable=not progress)]
        return names, np.stack(profiles), f"second scans of all {len(names)} subjects"
    profiles = []
    for split in ("train", "test"):
        n = len(dataset.arrays[split, "B"])
        for start in range(0, n, _CHUNK):
            profiles.append(face_profile(shrink(
                dataset.images(split, "B", slice(start, start + _CHUNK)), size)))
    order = pd.concat([dataset.metadata[dataset.metadata["split"] == s]
                       for s in ("train", "test")])
    subjects, grouped = _by_subject(np.concatenate(profiles), order["name"])
    grouped = grouped[[subjects.index(name) for name in names]]
    return names, grouped, f"the original scans of all {len(names)} subjects (no second scans)"


def average_face(dataset: SliceDataset, size: int) -> np.ndarray:
    """Mean original training image per slice number, float32 (21, size, size) in [-1, 1]:
    a face that belongs to nobody in particular (the attack's baseline)."""
    train = dataset.metadata[dataset.metadata["split"] == "train"]
    if train.empty:
        raise ValueError(f"{dataset.folder}: no training split to average; give the average "
                         "face of the model's training subjects instead")
    positions = _positions(train)
    total = np.zeros((N_SLICES, size, size))
    for start in range(0, len(train), _CHUNK):
        images = shrink(dataset.images("train", "B", slice(start, start + _CHUNK)), size)
        np.add.at(total, positions[start:start + len(images)], images)
    return (total / np.bincount(positions, minlength=N_SLICES)[:, None, None]).astype(np.float32)


def evaluate(dataset: SliceDataset, generator, gallery: tuple[list[str], np.ndarray, str],
             average: np.ndarray | None = None, progress: bool = False) -> Evaluation:
    """Reface a dataset's test slices and measure them as in the paper, plus re-identification.

    Parameters
    ----------
    dataset : SliceDataset
        The dataset the generator was trained on (its test split is evaluated).
    generator : keras.Model
        The trained anonymized-to-original generator (``load_generator(run)``).
    gallery : tuple
        :func:`gallery_profiles` of the same dataset, at the generator's size.
    average : numpy.ndarray, shape (21, size, size), optional
        The average face of the baseline; default :func:`average_face` of the dataset's
        training split (give it for a test-only dataset).
    progress : bool
        Show a tqdm progress bar of the refacing (images) on stderr.

    Returns
    -------
    Evaluation
    """
    size = generator.input_shape[1]
    test = dataset.metadata[dataset.metadata["split"] == "test"].reset_index(drop=True)
    test.insert(test.columns.get_loc("slice") + 1, "position", _positions(test))
    original = shrink(dataset.images("test", "B"), size)
    anonymized = shrink(dataset.images("test", "A"), size)
    refaced = reface_dataset(generator, dataset, "test", progress=progress)
    changed = np.abs(anonymized - original) > CHANGE_TOLERANCE
    scores = test
    for version, images in (("anonymized", anonymized), ("refaced", refaced)):
        scores = scores.join(similarity(original, images, changed).add_prefix(f"{version} "))

    names, profiles, kind = gallery
    subjects, rows = _by_subject(changed[..., size // 2:].any(axis=-1), test["name"])
    missing = [s for s in subjects if s not in names]
    if missing:
        raise ValueError(f"test subjects missing from the gallery: {', '.join(missing)}")
    owners = np.array([names.index(s) for s in subjects])
    if average is None:
        average = average_face(dataset, size)
    average = with_average_face(anonymized, changed, test["position"], average)
    probes = {"original": original, "refaced": refaced, "anonymized": anonymized,
              "average face": average}
    table = {}
    for version, images in probes.items():
        distances = profile_distances(_by_subject(face_profile(images), test["name"])[1],
                                      profiles, rows)
        rates = identification_rates(distances, owners, (1, 5))
        table[version] = {"top-1": rates[1], "top-5": rates[5], "probes": len(subjects),
                          "gallery": len(names)}
    return Evaluation(dataset.info["settings"]["experiment"], _method(dataset), scores,
                      pd.DataFrame.from_dict(table, orient="index"),
                      {"original": original, "anonymized": anonymized, "refaced": refaced}, kind)


def _method(dataset: SliceDataset) -> str:
    """The anonymization of a dataset, from its folder name ``{source}-{experiment}-{method}``."""
    return dataset.folder.name.rsplit("-", 1)[-1]


def evaluate_volume(generator, original: Volume, anonymized: Volume,
                    changed: np.ndarray | None = None) -> dict:
    """Reface one anonymized head slice by slice and measure the seams between the slices.

    Parameters
    ----------
    generator : keras.Model
    original, anonymized : Volume
        The subject's original and anonymized RAS volumes, on the same grid.
    changed : numpy.ndarray of bool, shape (nx, ny, nz), optional
        The anonymization's changed-voxel mask; only those voxels are refaced and measured
        (default: the voxels where the two volumes differ).

    Returns
    -------
    dict
        ``original``, ``anonymized``, ``refaced`` (Volume) and ``discontinuity``: for each
        version, :func:`refacing_lib.evaluate.metrics.slice_discontinuity` over the changed voxels
        (about 1 for an intact head; higher where slices do not fit their neighbours).
    """
    if changed is None:
        changed = original.data != anonymized.data
    refaced = reface_volume(generator, anonymized, changed)
    versions = {"original": original, "anonymized": anonymized, "refaced": refaced}
    return {**versions, "discontinuity": {k: slice_discontinuity(v.data, changed)
                                          for k, v in versions.items()}}


def evaluate_run(folders: Layout, experiment: str, method: str, run: str | Path | None = None,
                 volume: bool = True, render: bool = True,
                 progress: bool = False) -> Evaluation:
    """Evaluate the trained run of one experiment, reading the course's data folders.

    The dataset is ``folders.dataset(experiment, method)``, the generator the latest
    checkpoint of ``run`` (default ``folders.run(experiment, method)``), the gallery and the
    whole heads come from ``folders.originals`` and ``folders.anonymized(method)``.

    Parameters
    ----------
    folders : refacing_lib.data.layout.Layout
    experiment : {"guys", "all"}
    method : {"blur", "remove"}
    run : str or Path, optional
        The training's run folder.
    volume : bool
        Also reface the first test subject's whole head (:func:`evaluate_volume`).
    render : bool
        Also run the render attack on the test subjects' whole heads, against the dataset's
        subjects (:func:`refacing_lib.evaluate.render.render_attack`).
    progress : bool
        Show tqdm progress bars (gallery scans read, test slices refaced, heads rendered) on
        stderr.

    Returns
    -------
    Evaluation

    Raises
    ------
    FileNotFoundError
        When the dataset or the run is missing; the message names the folder and the command
        that makes it.
    """
    from refacing_lib.model.training import load_generator
    from refacing_lib.slicing.datasets import open_dataset

    dataset = open_dataset(folders.dataset(experiment, method))
    generator = load_generator(run or folders.run(experiment, method))
    gallery = gallery_profiles(dataset, folders.originals, generator.input_shape[1],
                               progress=progress)
    result = evaluate(dataset, generator, gallery, progress=progress)
    if volume:
        result.volume = evaluate_first_head(result, generator, folders.originals,
                                            folders.anonymized(method))
    if render:
        from .render import render_attack

        result.render, result.render_heads = render_attack(
            list(dict.fromkeys(result.scores["name"])), gallery[0], folders.originals,
            folders.anonymized(method), generator, progress=progress)
    return result


def evaluate_first_head(result: Evaluation, generator, originals: str | Path,
                        anonymized: str | Path) -> dict:
    """:func:`evaluate_volume` of the first test subject of ``result``, read from the folders
    of the original and the anonymized volumes (with its ``NAME_changed.nii.gz`` mask)."""
    from refacing_lib.anonymize.files import changed_mask_path

    name = result.scores["name"].iloc[0]
    path = Path(anonymized) / name
    changed = load_volume(changed_mask_path(path)).data > 0.5
    return evaluate_volume(generator, load_volume(Path(originals) / name), load_volume(path),
                           changed)


