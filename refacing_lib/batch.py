"""Run one file-to-file function over many files: resumable, in parallel, failures collected.

A batch is a list of ``(source, output)`` pairs. :func:`run_batch` skips the pairs whose output
is already finished, so an interrupted or partly failed run is completed by running it again;
a file that fails is reported with its reason and the others are still written. Nothing here
knows what the function does: :func:`refacing_lib.anonymize.files.deface_folders` (behind
``refacing deface``) gives it a function that writes one file's anonymizations.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BatchReport", "find_nifti", "run_batch", "written"]


@contextmanager
def written(path: str | Path) -> Iterator[Path]:
    """Write ``path`` all at once: yields a temporary path beside it (``.part-NAME``) to write
    to, which becomes ``path`` when the block ends without error and is removed otherwise.

    An interrupted write never leaves a partial file under the final name, so a finished
    output is one that exists (what :func:`run_batch` and every resumable stage rely on).
    """
    path = Path(path)
    part = path.with_name(f".part-{path.name}")
    try:
        yield part
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def find_nifti(inputs: Iterable[str | Path]) -> list[Path]:
    """The NIfTI files named by ``inputs``, files and folders mixed.

    Parameters
    ----------
    inputs : iterable of str or Path
        ``.nii`` / ``.nii.gz`` files, or folders: a folder stands for its own ``*.nii`` and
        ``*.nii.gz`` files (not those of its subfolders), sorted by name, without hidden files
        (such as the ``.part-*`` files of an interrupted write) and without changed-voxel
        masks (``*_changed.nii.gz``).

    Returns
    -------
    list of pathlib.Path
        In the order of ``inputs``; every base name occurs once.

    Raises
    ------
    FileNotFoundError
        If an input does not exist, or a folder holds no NIfTI file; the message names it.
    ValueError
        If a file input is not named ``.nii`` / ``.nii.gz``, or two inputs have the same base
        name (their outputs in one folder would overwrite each other).
    """
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir()
                           if p.is_file() and _is_nifti(p) and not p.name.startswith(".")
                           and not p.name.endswith("_changed.nii.gz"))
            if not found:
                raise FileNotFoundError(f"{item}: no .nii or .nii.gz files in this folder")
            files += found
        elif item.is_file():
            if not _is_nifti(item):
                raise ValueError(f"{item}: not a NIfTI file name (expected .nii or .nii.gz)")
            files.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    first: dict[str, Path] = {}
    for path in files:
        if path.name in first:
            raise ValueError(f"{first[path.name]} and {path} have the same name; their outputs "
                             "would overwrite each other")
        first[path.name] = path
    return files


def _is_nifti(path: Path) -> bool:
    return path.name.endswith((".nii", ".nii.gz"))


@dataclass
class BatchReport:
    """What :func:`run_batch` did with each source file.

    Attributes
    ----------
    done : list of pathlib.Path
        Sources whose output was written in this run.
    skipped : list of pathlib.Path
        Sources whose output was already finished; they were left untouched.
    failed : dict of pathlib.Path -> str
        Sources whose function call raised, with the reason in one line
        (``"ExceptionType: message"``).
    """

    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True if no file failed."""
        return not self.failed

    def summary(self) -> str:
        """The counts in one line, then one line per failed source with its reason."""
        lines = [f"{len(self.done)} written, {len(self.skipped)} already done (skipped), "
                 f"{len(self.failed)} failed"]
        lines += [f"  failed: {source}: {reason}" for source, reason in self.failed.items()]
        return "\n".join(lines)


def run_batch(
    func: Callable[[Path, Path], object],
    jobs: Iterable[tuple[str | Path, str | Path]],
    *,
    workers: int = 1,
    is_done: Callable[[Path], bool] | None = None,
    progress: bool = True,
    desc: str = "",
) -> BatchReport:
    """Call ``func(source, output)`` for every pair whose output is not finished yet.

    Parameters
    ----------
    func : callable
        Writes ``output`` from ``source`` atomically (:func:`written`); its return value is
        ignored. With ``workers > 1``: a module-level function or a :func:`functools.partial`
        of one (it must pickle).
    jobs : iterable of (source, output) pairs of str or Path
        Sources are the keys of the report, so each should occur once.
    workers : int
        Processes; 1 runs everything in this process, more are spawned (``func`` is imported
        afresh in each).
    is_done : callable, optional
        ``is_done(output)`` is True if the output is finished and the pair is skipped.
        Default: the output exists.
    progress : bool
        Show a tqdm progress bar (files) on stderr.
    desc : str
        Label of the progress bar.

    Returns
    -------
    BatchReport
        Sources in the order of ``jobs``; an exception of ``func`` is recorded in ``failed``.

    Raises
    ------
    ValueError
        If ``workers`` is below 1.
    TypeError
        If ``workers > 1`` and ``func`` cannot be pickled.
    KeyboardInterrupt
        Passed on once the calls already handed to worker processes have ended (at most one
        file more than ``workers``); the other files are not started. Finished outputs stay
        and are skipped by the next run.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers > 1:
        try:
            pickle.dumps(func)
        except Exception as exc:
            raise TypeError("run_batch with workers > 1 needs a picklable func (a module-level "
                            f"function or a functools.partial of one): {exc}") from exc
    is_done = is_done or Path.exists
    report = BatchReport()
    todo = []
    for source, output in jobs:
        source, output = Path(source), Path(output)
        if is_done(output):
            report.skipped.append(source)
        else:
            todo.append((source, output))

    from tqdm.auto import tqdm

    with tqdm(total=len(todo), desc=desc, unit="file", disable=not progress) as bar:
        if workers == 1 or len(todo) < 2:
            reasons = {}
            for source, output in todo:
                reasons[source] = _call(func, source, output)
                bar.update()
        else:
            reasons = _in_processes(func, todo, min(workers, len(todo)), bar)
    for source, _ in todo:
        if reasons[source] is None:
            report.done.append(source)
        else:
            report.failed[source] = reasons[source]
    return report


def _in_processes(func, todo: list[tuple[Path, Path]], workers: int, bar) -> dict:
    """:func:`_call` of every pair of ``todo`` in ``workers`` spawned processes, ticking
    ``bar``; source -> reason of failure or None. An interrupt cancels the calls not started."""
    reasons = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = {pool.submit(_call, func, source, output): source for source, output in todo}
        try:
            for future in as_completed(futures):
                try:
                    reasons[futures[future]] = future.result()
                except Exception as exc:  # the worker died or the call could not be sent
                    reasons[futures[future]] = _reason(exc)
                bar.update()
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
    return reasons


def _call(func: Callable[[Path, Path], object], source: Path, output: Path) -> str | None:
    """Run one job; the reason it failed, or None if it did not."""
    try:
        func(source, output)
    except Exception as exc:
        return _reason(exc)
    return None


def _reason(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())
