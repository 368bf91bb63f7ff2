"""The synthetic cohort on disk: IXI-like file names, sites, seeds, and resumable writing.

Subject ``i`` of the cohort of seed ``s`` is the same whatever the cohort's size: its file name
(:func:`cohort_entries`), parameters, poses and scan seeds (:func:`cohort_subject`) come from
seed sequences of ``(s, i)`` only.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np

from refacing_lib.batch import run_batch, written
from refacing_lib.data.io import save_volume

from .placement import grid, head_to_scanner
from .render import synthesize
from .subject import (
    SITE_PROPORTIONS,
    SITES,
    STORAGE_ORIENTATION,
    Pose,
    SubjectParams,
    rescan_pose,
    sample_pose,
    sample_subject,
)

#: Recorded in every JSON file of the ground truth.
GENERATOR_VERSION = "refacing-synthetic-1"
#: Spawn-key branch of the per-index bookkeeping (ids, session numbers) of a cohort seed.
_ENTRY_KEY = 7919


def site_for_index(index: int) -> str:
    """Site of the ``index``-th subject (0-based) of every cohort (independent of size/seed).

    The first six are Guys, HH, IOP, Guys, HH, IOP (so that even 6 subjects cover every site
    twice); after that the site furthest below its IXI share (322:185:74) comes next.
    """
    order = list(SITES) * 2
    if index < len(order):
        return order[index]
    total = sum(SITE_PROPORTIONS.values())
    counts = {s: 2 for s in SITES}
    site = SITES[0]
    for i in range(len(order), index + 1):
        site = max(SITES, key=lambda s: (SITE_PROPORTIONS[s] / total * (i + 1) - counts[s],
                                         SITE_PROPORTIONS[s]))
        counts[site] += 1
    return site


def _child(seed: int, *key: int) -> np.random.SeedSequence:
    """The seed sequence of branch ``key`` (ints) of cohort seed ``seed``."""
    return np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key))


def cohort_entries(subjects: int, seed: int = 0) -> list[dict]:
    """File names and seeds of the first ``subjects`` subjects of a cohort (nothing is written).

    Entry ``i`` depends only on ``seed`` and ``i``: ids start at 2 and grow by small random gaps
    (like IXI's), the 4-digit session number is random, the site is :func:`site_for_index`.

    Returns
    -------
    list of dict
        Keys ``index``, ``id``, ``site``, ``num``, ``name`` (``IXI{id:03d}-{site}-{num:04d}-T1``
        + ``.nii.gz``), ``stem``.
    """
    out = []
    ident = 2
    for i in range(int(subjects)):
        rng = np.random.default_rng(_child(seed, _ENTRY_KEY, i))
        gap = 1 + int(rng.random() < 0.12) * int(rng.integers(1, 4))
        num = int(rng.integers(100, 1300))
        if i > 0:
            ident += gap
        if ident > 999:
            raise ValueError(f"too many subjects for 3-digit IXI ids ({subjects})")
        site = site_for_index(i)
        stem = f"IXI{ident:03d}-{site}-{num:04d}-T1"
        out.append(dict(index=i, id=ident, site=site, num=num, name=stem + ".nii.gz", stem=stem))
    return out


def cohort_subject(seed: int, index: int, site: str):
    """The parameters and the two scans of subject ``index`` of the cohort of seed ``seed``.

    Parameters
    ----------
    seed : int
        Cohort seed.
    index : int
        0-based subject index (entry ``index`` of :func:`cohort_entries`).
    site : str
        Its site (:func:`site_for_index`).

    Returns
    -------
    params : SubjectParams
    first, rescan : tuple (Pose, int)
        Pose and scan seed of the first scan and of the rescan (:func:`make_cohort`).
    """
    params = sample_subject(np.random.default_rng(_child(seed, index, 0)), site)
    pose = sample_pose(np.random.default_rng(_child(seed, index, 1)))
    scan_seed = int(_child(seed, index, 2).generate_state(1)[0])
    re_pose = rescan_pose(pose, np.random.default_rng(_child(seed, index, 3)))
    re_seed = int(_child(seed, index, 4).generate_state(1)[0])
    return params, (pose, scan_seed), (re_pose, re_seed)


def _truth_paths(folder: Path, stem: str) -> dict[str, Path]:
    """Ground-truth files of image ``stem`` in ``folder``: keys brain, face, head (masks) and
    json (parameters)."""
    t = folder / "truth"
    return {"brain": t / f"{stem}_brain.nii.gz", "face": t / f"{stem}_face.nii.gz",
            "head": t / f"{stem}_head.nii.gz", "json": t / f"{stem}.json"}


def _complete(folder: Path, entry: dict, faces: str) -> bool:
    """Whether the image of cohort ``entry`` and all its ground-truth files are in ``folder``,
    made with this kind of face."""
    paths = _truth_paths(folder, entry["stem"])
    if not all(p.is_file() for p in [folder / entry["name"], *paths.values()]):
        return False
    try:
        return json.loads(paths["json"].read_text()).get("faces", "block") == faces
    except ValueError:          # an unreadable description: write the subject again
        return False


def _write_scan(folder: Path, entry: dict, params: SubjectParams, pose: Pose, scan_seed: int,
                seed: int, rescan: bool, shape, faces: str) -> dict[str, float]:
    """Synthesize one scan and write its image, masks and JSON into ``folder``.

    Each file is written under a temporary name and renamed when complete, so an interrupted
    run never leaves a file that looks finished.

    Parameters
    ----------
    folder : Path
    entry : dict
        Its :func:`cohort_entries` entry (file name, id, number).
    params, pose, scan_seed
        As for :func:`~.render.synthesize`.
    seed : int
        Cohort seed (recorded in the JSON).
    rescan : bool
        Whether this is the rescan (recorded in the JSON).
    shape : tuple of 3 ints or None
        RAS array shape (None: the site's IXI shape).
    faces : {"block", "human"}
        As for :func:`~.render.synthesize` (recorded in the JSON unless ``"block"``).

    Returns
    -------
    dict
        Seconds spent generating (``generate_s``) and writing (``write_s``).
    """
    t0 = time.perf_counter()
    image, truth, affine = synthesize(params, scan_seed, pose, shape, faces)
    t1 = time.perf_counter()
    paths = _truth_paths(folder, entry["stem"])
    paths["truth_dir"] = paths["json"].parent
    paths["truth_dir"].mkdir(parents=True, exist_ok=True)
    todo = [(folder / entry["name"], image, np.int16)]
    todo += [(paths[k], truth[k].view(np.uint8), np.uint8) for k in ("brain", "face", "head")]
    for final, data, dtype in todo:
        with written(final) as part:
            save_volume(part, data, affine, orientation=STORAGE_ORIENTATION, dtype=dtype)
    shape_used, zooms = grid(params.site, shape)
    meta = {
        "generator": GENERATOR_VERSION,
        "name": entry["name"],
        "id": entry["id"],
        "site": params.site,
        "num": entry["num"],
        "subject_index": entry["index"],
        "cohort_seed": int(seed),
        "scan_seed": int(scan_seed),
        "rescan": bool(rescan),
        "params": asdict(params),
        "face_params": params.face_params(),
        "head_params": params.head_params(),
        "pose": {"pitch_deg": pose.pitch_deg, "shift_mm": list(pose.shift_mm)},
        "head_to_scanner": head_to_scanner(params, pose, shape).round(6).tolist(),
        "ras_shape": list(shape_used),
        "ras_zooms": list(zooms),
        "storage_orientation": STORAGE_ORIENTATION,
        **({} if faces == "block" else {"faces": faces}),
        "masks": {"brain": "brain parenchyma incl. ventricles, down to the foramen magnum",
                  "face": "facial soft tissue, cartilage and eyes a defacer should remove",
                  "head": "everything inside the skin, cavities filled"},
    }
    with written(paths["json"]) as part:
        part.write_text(json.dumps(meta, indent=1))
    return {"generate_s": t1 - t0, "write_s": time.perf_counter() - t1}


def make_cohort(out_dir, subjects: int = 12, seed: int = 0, rescans: bool = False,
                progress: bool = True, shape=None, only=None, jobs: int = 1,
                faces: str = "human") -> list[Path]:
    """Write a synthetic IXI-like cohort (resumable: existing complete files are skipped).

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``IXI{id:03d}-{site}-{num:04d}-T1.nii.gz`` files; ground truth goes to
        ``out_dir/truth/`` (``<stem>_brain.nii.gz``, ``<stem>_face.nii.gz``,
        ``<stem>_head.nii.gz`` as uint8 stored like the image, and ``<stem>.json`` with the
        parameters, site, pose and seeds).
    subjects : int
        Number of subjects. Subject ``i`` is the same whatever ``subjects`` is.
    seed : int
        Cohort seed; the same seed gives byte-identical arrays.
    rescans : bool
        Also write ``out_dir/rescans/<same name>`` (+ ``rescans/truth/``): the same subjects
        with new noise/bias and a slightly different pose (pitch +-3 deg, shifts +-3 mm).
    progress : bool
        Print one line per subject.
    shape : tuple of 3 ints, optional
        RAS array shape override (see :func:`synthesize`); default the IXI shapes.
    only : iterable of str, optional
        Write only the subjects of the cohort with these file names (e.g. the test subjects
        of a model trained on the others); each is the same as in the whole cohort.
    jobs : int
        Processes writing subjects at the same time (the files do not depend on it).
    faces : {"block", "human"}
        The kind of face (:func:`~.render.synthesize`); a subject written with the other kind
        is written again.

    Returns
    -------
    list of pathlib.Path
        The image files of the (first-scan) cohort, in subject order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = cohort_entries(subjects, seed)
    if only is not None:
        wanted = set(only)
        unknown = sorted(wanted - {entry["name"] for entry in entries})
        if unknown:
            raise ValueError(f"not in the first {subjects} subjects of the cohort of seed "
                             f"{seed}: {', '.join(unknown)}")
        entries = [entry for entry in entries if entry["name"] in wanted]
    labels = {entry["name"]: (entry, f"[{k + 1}/{len(entries)}]")
              for k, entry in enumerate(entries)}
    write = partial(_make_subject, labels=labels, seed=seed, rescans=rescans, shape=shape,
                    progress=progress, faces=faces)
    images = [out_dir / entry["name"] for entry in entries]
    report = run_batch(write, [(image, image) for image in images], workers=jobs,
                       is_done=lambda image: False, progress=False)
    if not report.ok:
        raise RuntimeError(f"synthetic cohort {out_dir}: {report.summary()}")
    return images


def _make_subject(image: Path, output: Path, *, labels: dict, seed: int, rescans: bool, shape,
                  progress: bool, faces: str) -> None:
    """Write the subject of :func:`make_cohort` whose image is ``image`` (and its rescan) where
    not complete; ``labels``: file name -> (cohort entry, progress label); ``output`` is
    ``image`` (the form of :func:`~refacing_lib.batch.run_batch`)."""
    out_dir, (entry, label) = image.parent, labels[image.name]
    folders = [(out_dir, False)] + ([(out_dir / "rescans", True)] if rescans else [])
    missing = [(f, r) for f, r in folders if not _complete(f, entry, faces)]
    if not missing:
        if progress:
            print(f"{label} {entry['name']}: exists, skipped", flush=True)
        return
    params, first, second = cohort_subject(seed, entry["index"], entry["site"])
    for folder, is_rescan in missing:
        pose, scan_seed = second if is_rescan else first
        folder.mkdir(parents=True, exist_ok=True)
        tm = _write_scan(folder, entry, params, pose, scan_seed, seed, is_rescan, shape, faces)
        if progress:
            where = "rescans/" if is_rescan else ""
            print(f"{label} {where}{entry['name']}: generated in {tm['generate_s']:.1f} s, "
                  f"written in {tm['write_s']:.1f} s", flush=True)

