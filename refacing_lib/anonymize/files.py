"""Anonymizing files and folders: every input volume written anonymized, with a mask of the
changed voxels beside it, resumably and in parallel (through :func:`refacing_lib.batch.run_batch`).
An interrupted or failed run is completed by running it again: finished files are skipped.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import nibabel as nib
import numpy as np

from refacing_lib.batch import BatchReport, find_nifti, run_batch, written
from refacing_lib.data.io import load_volume, save_volume

from .deface import check_methods, deface, find_face

__all__ = ["changed_mask_path", "deface_file", "deface_folder", "deface_folders"]


def changed_mask_path(output: str | Path) -> Path:
    """Where :func:`deface_file` saves the changed-voxel mask of ``output``:
    ``NAME.nii.gz`` -> ``NAME_changed.nii.gz`` in the same folder."""
    output = Path(output)
    stem = output.name[:-7] if output.name.endswith(".nii.gz") else output.stem
    return output.with_name(f"{stem}_changed.nii.gz")


def deface_file(source: str | Path, output: str | Path, method: str) -> Path:
    """Deface one NIfTI file and save the result and its changed-voxel mask.

    The output keeps the input's voxel order on disk, its affine and its data type (values
    rounded for integer types); the mask (uint8, 1 = changed) goes to
    :func:`changed_mask_path`. Each is written to a temporary name and renamed when complete,
    the mask first, so an interrupted run never leaves a file that looks finished.

    Returns
    -------
    pathlib.Path
        ``output``.

    Raises
    ------
    FileNotFoundError, refacing_lib.data.io.VolumeError, DefaceError, ValueError
        Each message names ``source``.
    """
    _deface_into(source, {method: output})
    return Path(output)


def _deface_into(source: str | Path, outputs: dict) -> None:
    """:func:`deface_file` with each method of ``outputs`` (method -> output file), the face
    found once for all of them."""
    check_methods(outputs)
    source = Path(source)
    volume = load_volume(source)
    finding = find_face(volume)
    stored = nib.load(source)
    codes = "".join(nib.aff2axcodes(stored.affine))
    for method, output in outputs.items():
        defaced, changed = deface(volume, method, finding)
        output = Path(output)
        mask_path = changed_mask_path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        with written(mask_path) as part:        # the mask first: a finished output has one
            save_volume(part, changed.astype(np.uint8), defaced.affine, orientation=codes,
                        dtype=np.uint8)
        with written(output) as part:
            save_volume(part, defaced.data, defaced.affine, orientation=codes,
                        dtype=stored.get_data_dtype())


def deface_folder(inputs, out: str | Path, method: str, *, jobs: int = 1,
                  progress: bool = True) -> BatchReport:
    """Deface many files into one folder, in parallel; resumable, failures collected.

    What ``refacing deface`` runs: :func:`deface_file` on every NIfTI file of ``inputs``,
    writing ``out/NAME`` and its changed-voxel mask. Files whose output and mask both exist,
    not older than the file, are skipped, so running it again finishes an interrupted or
    partly failed run (and redoes a file written again since).

    Parameters
    ----------
    inputs : iterable of str or Path
        Files and folders, as :func:`refacing_lib.batch.find_nifti` takes them.
    out : str or Path
        Output folder; it must not be the folder of an input (same names would overwrite).
    method : {"blur", "remove"}
    jobs : int
        Worker processes.
    progress : bool
        Show a progress bar.

    Returns
    -------
    refacing_lib.batch.BatchReport
        Written, skipped and failed files; a failed file does not stop the others.

    Raises
    ------
    ValueError
        For an unknown method, or an output that would overwrite its input.
    """
    return deface_folders(inputs, {method: out}, jobs=jobs, progress=progress)


def deface_folders(inputs, outs: dict, *, jobs: int = 1, progress: bool = True) -> BatchReport:
    """:func:`deface_folder` with several methods at once, each into its own folder.

    The face of each file is found once for all the methods (:func:`find_face`; the time
    saved: ``benchmarks/bench_deface.py``). A file is skipped when the output and the mask of
    every method exist and are not older than the file; otherwise only the missing or older
    methods are written.

    Parameters
    ----------
    inputs : iterable of str or Path
        Files and folders, as :func:`refacing_lib.batch.find_nifti` takes them.
    outs : dict of str to str or Path
        Output folder of each method (``{"blur": ..., "remove": ...}``); none may be the folder
        of an input.
    jobs : int
        Worker processes.
    progress : bool
        Show a progress bar (files).

    Returns
    -------
    refacing_lib.batch.BatchReport
        Written, skipped and failed source files; a failed file does not stop the others.

    Raises
    ------
    ValueError
        For an unknown method, no method, two methods with one folder, or an output that
        would overwrite its input.
    """
    check_methods(outs)
    outs = {method: Path(out) for method, out in outs.items()}
    if len({out.resolve() for out in outs.values()}) < len(outs):
        raise ValueError(f"each method needs a folder of its own; got {outs}")
    sources = find_nifti(inputs)
    for source in sources:
        for out in outs.values():
            if (out / source.name).resolve() == source.resolve():
                raise ValueError(f"{source}: output folder {out} would overwrite the input; "
                                 "choose another folder")
    # run_batch keys a file by the first method's output; the others follow its name
    first = next(iter(outs.values()))
    by_name = {s.name: s for s in sources}
    return run_batch(partial(_deface_missing, outs=outs), [(s, first / s.name) for s in sources],
                     workers=jobs, is_done=partial(_all_defaced, outs=outs, sources=by_name),
                     progress=progress, desc=f"deface ({', '.join(outs)})")


def _deface_missing(source: Path, output: Path, outs: dict) -> None:
    """Write ``source``'s anonymizations that are not finished yet, ``outs[method] / name``
    for each method (``output`` gives the name)."""
    _deface_into(source, {m: out / output.name for m, out in outs.items()
                          if not _defaced(out / output.name, source)})


def _all_defaced(output: Path, outs: dict, sources: dict) -> bool:
    """Every method's output of the file named like ``output`` is finished (``sources``: the
    source of each file name)."""
    return all(_defaced(out / output.name, sources[output.name]) for out in outs.values())


def _defaced(output: Path, source: Path) -> bool:
    """A defaced output is finished when it and its changed-voxel mask exist and neither is
    older than its source: a source written again (a regenerated synthetic head) is defaced
    again."""
    mask = changed_mask_path(output)
    if not (output.exists() and mask.exists()):
        return False
    return min(output.stat().st_mtime_ns, mask.stat().st_mtime_ns) >= source.stat().st_mtime_ns
