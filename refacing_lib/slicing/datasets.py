"""Slice datasets on disk (:mod:`.pipelines` feeds them to the models).

A dataset is one folder per experiment and anonymization (``refacing slices`` writes it to
``<data root>/datasets/{source}-{experiment}-{method}``)::

    train_A.npy  train_B.npy   (n_train, 256, 256) uint16: A anonymized, B original
    test_A.npy   test_B.npy    (n_test, 256, 256) uint16; row i of A and of B is the same slice
    metadata.csv               one row per image pair: split, index, subject, name, site,
                               slice (axis-0 voxel index), offset_mm, scale (99.5th percentile)
    dataset.json               settings, inputs, counts and the encoding below

Images are the [-1, 1] arrays of :func:`refacing_lib.slicing.slices.subject_slices`, stored as
uint16 ``u = round((x + 1) * 32767.5)``, so ``x = u / 32767.5 - 1`` to within 1.5e-5. The ``.npy``
files open memory-mapped (:func:`open_dataset`): the whole IXI never has to fit in memory.

:func:`build_dataset` streams subjects: one subject's volumes are in memory at a time, the
arrays are written in a ``NAME.part`` folder that is renamed when complete, and an interrupted
build resumes where it stopped. Building again with the same settings and inputs does nothing.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from refacing_lib.batch import find_nifti, written
from refacing_lib.data.io import load_volume
from refacing_lib.data.ixi import NAME_RE, paper_split, parse_name

from .slices import IMAGE_SIZE, N_SLICES, subject_slices

__all__ = ["DOMAINS", "SPLITS", "SliceDataset", "dataset_plan", "build_dataset", "open_dataset",
           "encode", "decode"]

DOMAINS = {"A": "anonymized", "B": "original"}
"""The two image domains of the CycleGAN, by their array suffix."""
SPLITS = ("train", "test")
_UNIT = 32767.5                         # uint16 steps per unit of the [-1, 1] range
_FORMAT = "refacing-slices-1"
_OTHER_TEST_FRACTION = 81 / 581         # the paper's test fraction, for names that are not IXI's


def encode(images: np.ndarray) -> np.ndarray:
    """[-1, 1] float images to the stored uint16 (``round((x + 1) * 32767.5)``)."""
    return (np.clip(np.rint((np.asarray(images, np.float64) + 1) * _UNIT), 0, 65535)
            .astype(np.uint16))


def decode(stored: np.ndarray) -> np.ndarray:
    """Stored uint16 back to [-1, 1] float32 images (error at most 1.5e-5)."""
    return (np.asarray(stored, np.float32) / np.float32(_UNIT) - 1).astype(np.float32)


def dataset_plan(names, experiment: str, n_slices: int = N_SLICES,
                 test_only: bool = False) -> pd.DataFrame:
    """Which image pair of which split each slice of each subject becomes.

    Parameters
    ----------
    names : iterable of str or path-like
        Volume file names. IXI names are split with :func:`refacing_lib.data.ixi.paper_split`
        (the paper's subjects per site for ``"guys"`` and ``"all"``); other names (heads from
        elsewhere, site ``"other"``) only for ``"all"``: the last ``max(1, round(n * 81/581))``
        names in sorted order are test, the paper's overall test fraction.
    experiment : {"guys", "all"}
    n_slices : int
        Slices per subject.
    test_only : bool
        Make every subject a test subject (no training split): a dataset for evaluating a
        model trained on other subjects, such as the pretrained course model. ``experiment``
        is then only recorded (the subjects were chosen by that experiment's split).

    Returns
    -------
    pandas.DataFrame
        One row per image pair, train rows first then test, subjects in name order, slices
        left to right: ``split``, ``index`` (row in that split's arrays), ``subject``, ``name``,
        ``site``, ``slot`` (0 .. n_slices - 1).

    Raises
    ------
    ValueError
        As :func:`refacing_lib.data.ixi.paper_split`; or IXI and other names mixed, or other names
        with ``"guys"`` or fewer than 2 of them.
    """
    names = sorted(Path(n).name for n in names)
    ixi = [bool(NAME_RE.fullmatch(n)) for n in names]
    if test_only:
        parts = {"train": [], "test": names}
    elif all(ixi):
        split = paper_split(names, experiment)
        parts = {"train": split.train, "test": split.test}
    elif any(ixi):
        raise ValueError("IXI file names and other names are mixed; a dataset is built from one "
                         f"kind (other names: {[n for n, i in zip(names, ixi) if not i][:3]})")
    elif experiment != "all" or len(names) < 2:
        raise ValueError(f"files not named like IXI (e.g. {names[0]}) can only make experiment "
                         f"'all' of at least 2 subjects, got {experiment!r} with {len(names)}")
    else:
        n_test = max(1, int(len(names) * _OTHER_TEST_FRACTION + 0.5))
        parts = {"train": names[:-n_test], "test": names[-n_test:]}
    rows = []
    for split_name in SPLITS:
        for rank, name in enumerate(parts[split_name]):
            site = parse_name(name).site if NAME_RE.fullmatch(name) else "other"
            subject = name.split("-")[0] if NAME_RE.fullmatch(name) else _stem(name)
            for slot in range(n_slices):
                rows.append((split_name, rank * n_slices + slot, subject, name, site, slot))
    return pd.DataFrame(rows, columns=["split", "index", "subject", "name", "site", "slot"])


def build_dataset(originals: str | Path, anonymized: str | Path, out: str | Path, *,
                  experiment: str = "all", spacing: str | float = "tight",
                  midplane: str = "head", size: int = IMAGE_SIZE, overwrite: bool = False,
                  test_only=None, progress: bool = True, log=print) -> Path:
    """Write the train and test slice arrays of one experiment and anonymization.

    Parameters
    ----------
    originals : str or Path
        Folder of the original volumes (``.nii``/``.nii.gz``; IXI names for the paper's
        per-site splits).
    anonymized : str or Path
        Folder of their anonymized versions, same file names (``refacing deface --out``).
    out : str or Path
        Dataset folder to create (layout in the module docstring).
    experiment : {"guys", "all"}
        The paper's split (see :func:`dataset_plan`).
    spacing, midplane
        Slice placement (see :func:`refacing_lib.slicing.slices.slice_indices`).
    size : int
        Image side in pixels.
    overwrite : bool
        Replace an existing dataset built with other settings or inputs. Without it such a
        dataset is kept and an error says how it differs.
    test_only : iterable of str, optional
        File names of ``originals`` to take, all as test subjects (see :func:`dataset_plan`);
        default every volume of ``originals``, split as in the paper.
    progress : bool
        Show a tqdm progress bar (subjects).
    log : callable
        Receives a line when the dataset is ready (counts and size on disk).

    Returns
    -------
    pathlib.Path
        ``out``; returned as it is if it holds this dataset (same settings, input names and
        sizes: a subject's inputs count as unchanged while both file sizes are).

    Raises
    ------
    FileNotFoundError
        A missing folder, or an anonymized volume missing for an original (all are listed).
    ValueError, refacing_lib.data.io.VolumeError
        A bad setting, a corrupt volume or one off the original's grid; the message names the
        file. Subjects finished before it are kept in ``out.part`` and not redone next time.
    """
    originals, anonymized, out = Path(originals), Path(anonymized), Path(out)
    plan = _plan(originals, anonymized, experiment, test_only)
    names = list(dict.fromkeys(plan["name"]))
    settings = {"format": _FORMAT, "experiment": experiment, "spacing": spacing,
                "midplane": midplane, "size": size, "n_slices": N_SLICES, "subjects": names,
                **({"test_only": True} if test_only is not None else {})}
    inputs = {name: [(originals / name).stat().st_size, (anonymized / name).stat().st_size]
              for name in names}
    done_info = _read_json(out / "dataset.json")
    if done_info is not None:
        old = {**done_info.get("settings", {}), "inputs": done_info.get("inputs")}
        difference = _difference(old, {**settings, "inputs": inputs})
        if not difference:
            log(f"{out}: up to date ({_describe(done_info)})")
            return out
        if not overwrite:
            raise ValueError(f"{out} holds a dataset built with other settings or inputs "
                             f"({difference}); delete it, choose another folder, or pass "
                             "overwrite=True (--overwrite)")
    part = out.with_name(out.name + ".part")
    state = _read_json(part / "progress.json")
    if state is None or state.get("settings") != settings:
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        state = {"settings": settings, "subjects": {}}
    state["subjects"] = {name: done for name, done in state["subjects"].items()
                         if done["inputs"] == inputs[name]}
    _slice_subjects(originals, anonymized, part, plan, state, inputs, progress)
    info = _finish(part, plan, state, inputs)
    if out.exists():
        shutil.rmtree(out)
    part.rename(out)
    log(f"{out}: written ({_describe(info)})")
    return out


def _plan(originals: Path, anonymized: Path, experiment: str, test_only) -> pd.DataFrame:
    """:func:`dataset_plan` of the volumes of ``originals`` (or of ``test_only``), after
    checking that each has an anonymized version (FileNotFoundError naming what is missing)."""
    sources = find_nifti([originals])
    if not anonymized.is_dir():
        raise FileNotFoundError(f"{anonymized}: no such folder of anonymized volumes; write it "
                                f"with `refacing deface --method ... {originals} "
                                f"--out {anonymized}`")
    if test_only is not None:
        test_only = sorted(test_only)
        present = {s.name for s in sources}
        absent = [name for name in test_only if name not in present]
        if absent:
            raise FileNotFoundError(f"{len(absent)} test subjects are not in {originals} "
                                    f"(first: {absent[:3]})")
        sources = [s for s in sources if s.name in set(test_only)]
    plan = dataset_plan([s.name for s in sources], experiment, test_only=test_only is not None)
    names = list(dict.fromkeys(plan["name"]))
    missing = [name for name in names if not (anonymized / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(names)} volumes have no anonymized version in "
            f"{anonymized} (first: {missing[:3]}); run `refacing deface --method ... "
            f"{originals} --out {anonymized}`")
    return plan


def _slice_subjects(originals: Path, anonymized: Path, part: Path, plan: pd.DataFrame,
                    state: dict, inputs: dict, progress: bool) -> None:
    """Slice every subject of ``plan`` not yet in ``state["subjects"]`` into the arrays of the
    unfinished dataset ``part``, recording each in ``part/progress.json`` once written."""
    from tqdm.auto import tqdm

    settings = state["settings"]
    counts, size = plan["split"].value_counts(), settings["size"]
    arrays = {}
    for split_name in SPLITS:
        for domain in DOMAINS:
            path = part / f"{split_name}_{domain}.npy"
            arrays[split_name, domain] = np.lib.format.open_memmap(
                path, mode="r+" if path.exists() else "w+", dtype=np.uint16,
                shape=(int(counts.get(split_name, 0)), size, size))
    subjects = plan.drop_duplicates("name")          # each subject's first slice
    todo = [(name, split_name, int(first)) for name, split_name, first
            in zip(subjects["name"], subjects["split"], subjects["index"])
            if name not in state["subjects"]]
    for name, split_name, first in tqdm(todo, desc=f"slices ({settings['experiment']})",
                                         unit="subject", disable=not progress):
        original = load_volume(originals / name)
        result = subject_slices(original, {"A": load_volume(anonymized / name)},
                                spacing=settings["spacing"], midplane=settings["midplane"],
                                size=size)
        rows = slice(first, first + N_SLICES)
        arrays[split_name, "A"][rows] = encode(result["A"])
        arrays[split_name, "B"][rows] = encode(result["original"])
        for array in arrays.values():
            array.flush()
        state["subjects"][name] = {"inputs": inputs[name], "slices": result["indices"].tolist(),
                                   "offsets_mm": np.round(result["offsets_mm"], 4).tolist(),
                                   "scale": result["scale"]}
        _write_json(part / "progress.json", state)


def _finish(part: Path, plan: pd.DataFrame, state: dict, inputs: dict) -> dict:
    """Write ``metadata.csv`` and ``dataset.json`` (returned) of the fully sliced ``part`` and
    remove its ``progress.json``."""
    counts, subjects = plan["split"].value_counts(), plan.drop_duplicates("name")
    metadata = plan.drop(columns="slot").copy()
    per_subject = [state["subjects"][name] for name in plan["name"]]
    metadata["slice"] = [s["slices"][k] for s, k in zip(per_subject, plan["slot"])]
    metadata["offset_mm"] = [s["offsets_mm"][k] for s, k in zip(per_subject, plan["slot"])]
    metadata["scale"] = [s["scale"] for s in per_subject]
    metadata.to_csv(part / "metadata.csv", index=False)
    info = {"settings": state["settings"], "inputs": inputs, "domains": DOMAINS,
            "encoding": {"dtype": "uint16", "decode": "x = u / 32767.5 - 1"},
            "counts": {s: {"images": int(counts.get(s, 0)),
                           "subjects": int(subjects["split"].eq(s).sum())} for s in SPLITS},
            "sites": {s: metadata[metadata["split"] == s].drop_duplicates("name")["site"]
                      .value_counts().sort_index().to_dict() for s in SPLITS},
            "bytes": 0}
    (part / "progress.json").unlink()
    info["bytes"] = sum(p.stat().st_size for p in part.iterdir())
    _write_json(part / "dataset.json", info)
    return info


@dataclass(frozen=True)
class SliceDataset:
    """A dataset folder opened for reading (see :func:`open_dataset`).

    Attributes
    ----------
    folder : pathlib.Path
    info : dict
        The contents of ``dataset.json`` (settings, counts, sites, bytes).
    metadata : pandas.DataFrame
        One row per image pair (columns in the module docstring).
    arrays : dict
        ``{(split, domain): numpy.memmap of uint16, shape (n, size, size)}`` for split in
        ``"train"``, ``"test"`` and domain ``"A"`` (anonymized), ``"B"`` (original).
    """

    folder: Path
    info: dict
    metadata: pd.DataFrame
    arrays: dict

    def images(self, split: str, domain: str, index=slice(None)) -> np.ndarray:
        """Decoded images ``[index]`` of one split and domain: float32 in [-1, 1], shape
        (..., size, size), row 0 superior, face to the right."""
        return decode(self.arrays[split, domain][index])

    def __len__(self) -> int:
        return len(self.metadata)


def open_dataset(folder: str | Path) -> SliceDataset:
    """Open a dataset folder written by :func:`build_dataset`, arrays memory-mapped.

    Raises
    ------
    FileNotFoundError
        If the folder or one of its files is missing (an unfinished build leaves only
        ``NAME.part``); the message says how to build it.
    ValueError
        If an array does not match ``dataset.json`` (a damaged or foreign file).
    """
    folder = Path(folder)
    info = _read_json(folder / "dataset.json")
    if info is None:
        hint = " (an unfinished build is in .part: run it again)" if \
            folder.with_name(folder.name + ".part").exists() else ""
        raise FileNotFoundError(f"{folder}: not a slice dataset (no dataset.json){hint}; build it "
                                "with `refacing slices` or "
                                "refacing_lib.slicing.datasets.build_dataset")
    metadata = pd.read_csv(folder / "metadata.csv")
    size = info["settings"]["size"]
    arrays = {}
    for split_name in SPLITS:
        for domain in DOMAINS:
            path = folder / f"{split_name}_{domain}.npy"
            try:
                array = np.load(path, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise ValueError(f"{path}: unreadable dataset array ({exc})") from exc
            expected = (info["counts"][split_name]["images"], size, size)
            if array.shape != expected or array.dtype != np.uint16:
                raise ValueError(f"{path}: shape {array.shape} {array.dtype}, expected "
                                 f"{expected} uint16; rebuild the dataset")
            arrays[split_name, domain] = array
    return SliceDataset(folder, info, metadata, arrays)


def _stem(name: str) -> str:
    return name[:-7] if name.endswith(".nii.gz") else Path(name).stem


def _describe(info: dict) -> str:
    counts = info["counts"]
    return (f"{counts['train']['images']} train and {counts['test']['images']} test image pairs "
            f"from {counts['train']['subjects']} + {counts['test']['subjects']} subjects, "
            f"{info['bytes'] / 1e6:.1f} MB on disk")


def _difference(old: dict, new: dict) -> str:
    """The settings that differ, as ``"name: old -> new"`` items ("" if none)."""
    changes = []
    for key, value in new.items():
        if old.get(key) == value:
            continue
        if key in ("inputs", "subjects"):
            changed = sorted(set(value).symmetric_difference(old.get(key) or ())) or sorted(
                n for n in value if (old.get(key) or {}).get(n) != value[n])
            changes.append(f"{key}: {len(changed)} changed, e.g. {changed[:2]}")
        else:
            changes.append(f"{key}: {old.get(key)!r} -> {value!r}")
    return ", ".join(changes)


def _read_json(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable ({exc}); delete it to rebuild") from exc


def _write_json(path: Path, value: dict) -> None:
    with written(path) as part, open(part, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1)
