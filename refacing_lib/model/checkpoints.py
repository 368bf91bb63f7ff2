"""Checkpoints of a CycleGAN training: every variable by its Keras path, on any backend.

A checkpoint ``step_NNNNNNN.npz`` holds one array per variable of
:attr:`refacing_lib.model.cyclegan.CycleGAN.variables`, keyed by the variable's path
(``G_AB/c7s1_conv/kernel``, ``adam_G/iteration``, ``pool_A/images``, ...), plus
``__progress__`` (step, epoch, step in epoch, as JSON) and ``__config__`` (the
:class:`~refacing_lib.model.cyclegan.TrainConfig`, as JSON). Arrays are plain numpy, so a run
trained on TensorFlow goes on on JAX and the other way round. Loading checks every name and
shape, so a weight never lands in the wrong variable.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from refacing_lib.batch import written

__all__ = ["save", "read", "restore", "assign", "network_arrays"]

#: Each optimizer's learning rate, which checkpoints held before the rate became a schedule of
#: the step counter (:mod:`refacing_lib.model.schedule`); ignored when restoring.
_OLD_RATE = re.compile(r"^adam_\w+/learning_rate$")

_IGNORED_SETTINGS = ("checkpoint_every", "samples")     # may change between sessions of a run


def save(path: str | Path, variables: dict, progress: dict, config) -> Path:
    """Write ``variables`` (path -> Keras variable), ``progress`` and ``config`` (a
    TrainConfig) to ``path``.

    Written to a temporary name in the same folder, then renamed: an interrupted write never
    leaves a partial checkpoint under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v.numpy()) for k, v in variables.items()}
    arrays["__progress__"] = np.array(json.dumps(progress))
    arrays["__config__"] = np.array(json.dumps(asdict(config)))
    with written(path) as part, open(part, "wb") as f:
        np.savez(f, **arrays)
    return path


def read(path: str | Path) -> tuple[dict, dict, dict]:
    """The arrays (by key), the progress and the settings (TrainConfig fields) of a checkpoint.

    Raises
    ------
    ValueError
        If the file is unreadable (named).
    """
    path = Path(path)
    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        progress = json.loads(str(arrays.pop("__progress__")))
        saved = json.loads(str(arrays.pop("__config__")))
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: unreadable checkpoint ({exc})") from exc
    return arrays, progress, saved


def restore(path: str | Path, variables: dict, config) -> dict:
    """Load a checkpoint into ``variables`` (path -> Keras variable); returns its progress.

    ``config`` (a TrainConfig) must equal the checkpoint's settings, except those that may
    change between sessions; settings a newer version added take their defaults.

    Raises
    ------
    ValueError
        If the checkpoint is unreadable, was written with other settings than ``config``, or
        lacks a variable or has it in another shape (each named).
    """
    arrays, progress, saved = read(path)
    mine, theirs = asdict(config), {**asdict(type(config)()), **saved}
    changed = {k: (theirs.get(k), v) for k, v in mine.items()
               if theirs[k] != v and k not in _IGNORED_SETTINGS}
    if changed:
        raise ValueError(f"{path} was written with other settings "
                         f"({', '.join(f'{k}: {o!r} -> {n!r}' for k, (o, n) in changed.items())});"
                         " resume with the same settings or start a new run folder")
    arrays = {k: v for k, v in arrays.items() if k in variables or not _OLD_RATE.match(k)}
    assign(variables, arrays, path)
    return progress


def assign(variables: dict, arrays: dict, source) -> None:
    """Assign ``arrays[key]`` to ``variables[key]`` for every key of ``variables``.

    Raises
    ------
    ValueError
        Naming ``source`` and the first missing key or wrong shape; nothing is assigned then.
    """
    for key, variable in variables.items():
        if key not in arrays:
            raise ValueError(f"{source}: no array for {key!r}; the checkpoint does not match "
                             "this model")
        if tuple(arrays[key].shape) != tuple(variable.shape):
            raise ValueError(f"{source}: {key} has shape {tuple(arrays[key].shape)}, the model "
                             f"expects {tuple(variable.shape)}")
    extra = sorted(set(arrays) - set(variables))
    if extra:
        raise ValueError(f"{source}: arrays this model has no variable for: {extra[:3]}")
    for key, variable in variables.items():
        variable.assign(arrays[key].astype(variable.dtype))


def network_arrays(arrays: dict, network: str, model) -> dict:
    """The arrays of one network (``G_AB``, ``G_BA``, ``D_A`` or ``D_B``) among a
    checkpoint's ``arrays`` (from :func:`read`), keyed by the paths of ``model``'s weights
    (a network built outside a CycleGAN, whose paths lack the network's name), for
    :func:`assign`."""
    prefix = f"{network}/"
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
