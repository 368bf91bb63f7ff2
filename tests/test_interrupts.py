"""Ctrl-C and SIGTERM as a user causes them: a real ``refacing train`` process is stopped at
different moments and resumed by the same command, and the run must equal an uninterrupted
one step for step (losses of every step, final weights)."""

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from refacing_lib.course.profiles import train_config
from refacing_lib.model import checkpoints, training
from refacing_lib.model.training import latest_checkpoint, train

SETTINGS = dict(image_size=32, filters=4, residual_blocks=1, disc_filters=8, samples=2,
                pool_size=2, epochs=6, steps_per_epoch=3, checkpoint_every=1, seed=3)
TOTAL = 18
REFACING = str(Path(sys.executable).with_name("refacing"))


def _rows(run: Path) -> int:
    try:
        return max(0, len((run / "history.csv").read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0


# moments of a session that resumed at step s0 (0 for the first): when to send the signal
def at_compilation(run, out, s0):
    """The step is being compiled (traced): the loop announced itself 0.3 s ago, no step is
    done (compiling takes seconds)."""
    return any("training on " in line for line in out)


at_compilation.delay = 0.3


def mid_epoch(run, out, s0):
    """One step after the resume is done and logged; the next is under way."""
    return _rows(run) >= s0 + 1


def near_epoch_end(run, out, s0):
    """The second-last step of an epoch is done: the epoch's last one is under way."""
    end = (s0 // SETTINGS["steps_per_epoch"] + 1) * SETTINGS["steps_per_epoch"]
    return _rows(run) >= end - 1 and _rows(run) > s0


def during_checkpoint(run, out, s0):
    """An epoch has ended after the resume: its sample grid is written, its checkpoint is being
    written (or has just been)."""
    epoch = s0 // SETTINGS["steps_per_epoch"] + 1
    return (run / "samples" / f"epoch_{epoch:03d}.png").exists()


def _session(run, dataset, profile, env, moment=None, sig=None):
    """Run ``refacing train`` once; send ``sig`` when ``moment`` becomes true. Returns the exit
    status, the output lines and the step the session started from."""
    s0 = int(latest_checkpoint(run).stem.split("_")[1]) if latest_checkpoint(run) else 0
    command = [REFACING, "train", "--profile", str(profile), "--dataset", str(dataset),
               "--run", str(run)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env)
    out = []
    reader = threading.Thread(target=lambda: out.extend(process.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 600
    if moment is not None:
        while not moment(run, out, s0) and process.poll() is None:
            assert time.monotonic() < deadline, "the moment never came:\n" + "".join(out)
            time.sleep(0.002)
        time.sleep(getattr(moment, "delay", 0))
        process.send_signal(sig)
    process.wait(timeout=600)
    reader.join(timeout=10)
    return process.returncode, out, s0


def _chain(tmp_path, dataset, env, moments):
    """Train to the end through interrupted sessions; return the run folder."""
    profile = tmp_path / "tiny.yaml"
    profile.write_text(yaml.safe_dump(SETTINGS))
    run = tmp_path / "run"
    stops = []
    for moment, sig in moments:
        status, out, s0 = _session(run, dataset.folder, profile, env, moment, sig)
        text = "".join(out)
        assert status == 130, f"{moment.__name__}, {sig!r}: exit {status}\n{text[-3000:]}"
        step = int(latest_checkpoint(run).stem.split("_")[1])
        assert f"interrupted at step {step} by {sig.name}" in text, text[-3000:]
        assert s0 < step < TOTAL            # the step under way was completed and counted
        stops.append(step)
    status, out, _ = _session(run, dataset.folder, profile, env)
    assert status == 0, "".join(out)[-3000:]
    assert "resumed from" in "".join(out)
    return run, stops


def _assert_same_run(run, reference_history, reference_arrays):
    history = pd.read_csv(run / "history.csv")
    assert history["step"].tolist() == list(range(1, TOTAL + 1))
    columns = list(training.LOSSES) + ["learning_rate"]
    np.testing.assert_allclose(history[columns], reference_history[columns], rtol=1e-4,
                               atol=1e-6)
    arrays = checkpoints.read(latest_checkpoint(run))[0]
    assert latest_checkpoint(run).name == f"step_{TOTAL:07d}.npz"
    assert set(arrays) == set(reference_arrays)
    for key, value in reference_arrays.items():
        np.testing.assert_allclose(arrays[key], value, rtol=1e-4, atol=1e-6, err_msg=key)


MOMENTS = (at_compilation, mid_epoch, near_epoch_end, during_checkpoint)


@pytest.mark.slow
def test_sigint_and_sigterm_at_any_moment_then_resume_is_exact(slice_dataset, tmp_path):
    """Four interrupts of one 18-step training, SIGINT and SIGTERM in turn: during the first
    compilation, mid-epoch, near an epoch's end and while a checkpoint is written; every
    session is resumed by the same command. (Each session starts a process that imports
    TensorFlow, 8-10 s here: one signal per moment keeps the test at 5 sessions.)"""
    reference = train(slice_dataset, tmp_path / "reference",
                      train_config(SETTINGS), progress=False, log=lambda line: None)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CUDA_VISIBLE_DEVICES": ""}
    # each session stops at a later step than the one before (checked in _chain)
    run, _ = _chain(tmp_path, slice_dataset, env,
                    list(zip(MOMENTS, itertools.cycle((signal.SIGINT, signal.SIGTERM)))))
    reference_arrays = {k: v.numpy() for k, v in reference.gan.variables.items()}
    _assert_same_run(run, reference.history(), reference_arrays)


@pytest.mark.slow
def test_interrupted_jax_training_resumes_exactly(slice_dataset, tmp_path):
    pytest.importorskip("jax", reason="JAX is not installed: pip install -r requirements.txt")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "KERAS_BACKEND": "jax",
           "JAX_PLATFORMS": "cpu", "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax_cache")}
    profile = tmp_path / "tiny.yaml"
    profile.write_text(yaml.safe_dump(SETTINGS))
    status, out, _ = _session(tmp_path / "reference", slice_dataset.folder, profile, env)
    assert status == 0, "".join(out)[-3000:]
    # the moments where JAX differs from TensorFlow: its step being traced and compiled, and
    # the state of a compiled step stopped between two steps (the checkpoint is numpy's)
    run, _ = _chain(tmp_path, slice_dataset, env,
                    [(at_compilation, signal.SIGINT), (mid_epoch, signal.SIGTERM)])
    reference = tmp_path / "reference"
    _assert_same_run(run, pd.read_csv(reference / "history.csv"),
                     checkpoints.read(latest_checkpoint(reference))[0])

