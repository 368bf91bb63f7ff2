"""Training the paper's CycleGAN: the loop, checkpoints, resume.

The CycleGAN and its step are in :mod:`refacing_lib.model.cyclegan` (its losses, pools and
other backends in :mod:`.losses`, :mod:`.pools` and :mod:`.backends`); the checkpoint files in
:mod:`refacing_lib.model.checkpoints`. :func:`train` runs on the Keras backend
selected by ``KERAS_BACKEND``: TensorFlow (the default, fastest on CPUs) or JAX (for GPU
machines without TensorFlow; nothing imports TensorFlow then). The learning rates decay
linearly to 0 over the second half of training, as in GAN-MRI (:mod:`.schedule`).

Randomness comes from the seed and the step number alone, a checkpoint holds every weight,
optimizer moment, pool image and counter, and an interrupt (Ctrl-C, a notebook's stop
button, a cluster scheduler's SIGTERM) takes effect between two steps, so a resumed run
continues exactly as if it had never stopped: the step under way completes, is counted and
saved in a checkpoint (before a call's first step: nothing to save). A second SIGINT stops at
once without saving; the last checkpoint stays. Signals are handled so in the main thread only.

Files of a run folder (``runs/{source}-{experiment}-{method}`` by default)::

    config.json         the TrainConfig
    checkpoints/        step_NNNNNNN.npz (the last three kept)
    jax_cache/          compiled steps, on JAX
    history.csv         losses and learning rate of every step
    logs/               TensorBoard scalars (written with tensorboardX, or TensorFlow)
    samples/            epoch_NNN.png: test slices, refaced, original
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from . import checkpoints
from .cyclegan import LOSSES, CycleGAN, TrainConfig
from .run_log import RunLog

__all__ = ["TrainConfig", "CycleGAN", "LOSSES", "TrainingDiverged", "TrainResult",
           "train", "load_generator", "run_config", "latest_checkpoint"]

_KEEP_CHECKPOINTS = 3
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names it, the step and the last checkpoint."""


# ---- the training loop --------------------------------------------------------------------------

@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes
    ----------
    run_dir : pathlib.Path
    gan : CycleGAN
        The trained networks (the state of the last step).
    step, epoch : int
        Steps done in all, epochs completed.
    total_steps : int
        Steps of the whole training.
    checkpoint : pathlib.Path or None
        The last checkpoint written.
    interrupted : bool
        True if it stopped on Ctrl-C / a kernel interrupt (a checkpoint was saved first).
    seconds : float
        Time spent training in this call.
    """

    run_dir: Path
    gan: CycleGAN
    step: int
    epoch: int
    total_steps: int
    checkpoint: Path | None
    interrupted: bool
    seconds: float

    def history(self):
        """The per-step log (``history.csv``) as a pandas DataFrame."""
        import pandas as pd

        return pd.read_csv(self.run_dir / "history.csv")


def run_config(run_dir: str | Path) -> TrainConfig | None:
    """The settings a run folder was trained with (its ``config.json``), or None if it has
    no checkpoint yet. Settings that a newer version added take their defaults.

    Raises
    ------
    ValueError
        If ``config.json`` is missing or unreadable although the run has a checkpoint (named).
    """
    run_dir = Path(run_dir)
    if latest_checkpoint(run_dir) is None:
        return None
    path = run_dir / "config.json"
    try:
        return _config(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: unreadable run settings ({exc}); the checkpoints of "
                         f"{run_dir} hold them too: delete the folder to train it again") from exc


def _config(values: dict) -> TrainConfig:
    """A TrainConfig from saved settings; settings a newer version added take their defaults,
    settings it dropped are ignored."""
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in values.items() if k in names})


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint of ``run_dir`` with the highest step, or None."""
    found = sorted(Path(run_dir, "checkpoints").glob("step_*.npz"))
    return found[-1] if found else None


def train(dataset, run_dir: str | Path, config: TrainConfig, *, resume: bool = True,
          until_step: int | None = None, strategy=None, progress: bool = True,
          log=print, on_step=None) -> TrainResult:
    """Train (or go on training) a CycleGAN on a slice dataset.

    SIGINT and SIGTERM end it between two steps with a checkpoint (module docstring); the same
    call then resumes exactly.

    Parameters
    ----------
    dataset : SliceDataset or str or Path
        From :func:`refacing_lib.slicing.datasets.open_dataset`, or its folder.
    run_dir : str or Path
        Folder of this run (layout in the module docstring).
    config : TrainConfig
    resume : bool
        Go on from the latest checkpoint of ``run_dir`` if there is one (same config; it may
        come from the other backend). False with an existing checkpoint is an error.
    until_step : int, optional
        Stop (with a checkpoint) after this many steps in all; default the end of training.
    strategy : tf.distribute.Strategy, optional
        TensorFlow's multi-device training, see :class:`~refacing_lib.model.cyclegan.CycleGAN`.
    progress : bool
        Show a progress bar with the losses.
    log : callable
        Receives one line per event (start, resume, checkpoint, end).
    on_step : callable, optional
        Called as ``on_step(step, losses)`` after every step (``losses``: name -> float).

    Raises
    ------
    TrainingDiverged
        When a loss becomes NaN or infinite; the last checkpoint (named) is kept.
    ValueError
        Bad settings, a checkpoint written with other settings, or a dataset too small.
    """
    from refacing_lib.slicing.datasets import open_dataset

    if isinstance(dataset, (str, Path)):
        dataset = open_dataset(dataset)
    run_dir = Path(run_dir)
    steps_per_epoch, total = _length(dataset, config)
    until = total if until_step is None else min(int(until_step), total)
    with _stop_between_steps() as stop:
        _compilation_cache(run_dir)
        gan = CycleGAN(config, strategy, total_steps=total)
        state, checkpoint = _start(gan, run_dir, resume, total, log)
        log(f"training on {gan.backend} ({config.precision}) from step {state['step']} to {until}")
        records = RunLog(run_dir, gan, dataset, state["step"], until, progress, on_step)
        start, interrupted = time.perf_counter(), False
        try:
            while state["step"] < until and not stop.requested:
                _epoch(gan, dataset, state, steps_per_epoch, until, stop, records, start)
                if state["step_in_epoch"] >= steps_per_epoch:     # the epoch is complete
                    state.update(epoch=state["epoch"] + 1, step_in_epoch=0)
                    records.epoch_done(state["epoch"], state["step"])
                    if state["epoch"] % config.checkpoint_every == 0 or state["step"] >= total:
                        checkpoint = _checkpoint(gan, run_dir, state, log)
            interrupted = stop.requested and state["step"] < until
        except KeyboardInterrupt:
            if stop.forced:         # a second Ctrl-C: the state may be inside a step
                records.bar.close()
                log(f"stopped at once at step {state['step']}, not saved; the last checkpoint "
                    f"is {latest_checkpoint(run_dir)}: train again to go on from there")
                raise
            interrupted = True      # raised by on_step, between two steps: the state is whole
        finally:
            records.close()
        step = state["step"]
        if step > 0 and (checkpoint is None or checkpoint.name != f"step_{step:07d}.npz"):
            checkpoint = _checkpoint(gan, run_dir, state, log)
    seconds = time.perf_counter() - start
    if interrupted:
        log(f"interrupted at step {step} by {stop.signal_name}: "
            + (f"saved {checkpoint}; train again to go on" if checkpoint else "no step to save"))
    else:
        log(f"trained to step {step} of {total} in {seconds:.0f} s; last checkpoint {checkpoint}")
    return TrainResult(run_dir, gan, step, state["epoch"], total, checkpoint, interrupted, seconds)


def _length(dataset, config: TrainConfig) -> tuple[int, int]:
    """Steps per epoch and steps of the whole training, for a checked ``config``."""
    config.check()
    n_train = len(dataset.arrays["train", "A"])
    steps_per_epoch = n_train // config.batch_size
    if config.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, config.steps_per_epoch)
    if steps_per_epoch < 1:
        raise ValueError(f"{dataset.folder}: {n_train} training images, fewer than one batch "
                         f"of {config.batch_size}")
    return steps_per_epoch, config.epochs * steps_per_epoch


def _start(gan: CycleGAN, run_dir: Path, resume: bool, total: int, log) -> tuple[dict, Path]:
    """The state to start from (``step``, ``epoch``, ``step_in_epoch``), restored into ``gan``
    from the latest checkpoint of ``run_dir`` if there is one, and that checkpoint (or None).
    Writes the run's ``config.json``."""
    state, checkpoint = {"step": 0, "epoch": 0, "step_in_epoch": 0}, latest_checkpoint(run_dir)
    if checkpoint is not None:
        if not resume:
            raise ValueError(f"{run_dir} already holds a training (up to {checkpoint.name}); "
                             "resume it, or choose another run folder")
        state = checkpoints.restore(checkpoint, gan.variables, gan.config)
        log(f"resumed from {checkpoint} (step {state['step']} of {total}, "
            f"{state['epoch']} of {gan.config.epochs} epochs done)")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(gan.config), indent=1))
    return dict(state), checkpoint


def _epoch(gan: CycleGAN, dataset, state: dict, steps_per_epoch: int, until: int, stop,
           records: RunLog, start: float) -> None:
    """Train the epoch ``state`` is in, from where it stands, until the epoch ends, step
    ``until`` or a stop request; ``state`` is updated (in place) after every step."""
    from refacing_lib.slicing.pipelines import numpy_batches

    config, epoch, skip = gan.config, state["epoch"], state["step_in_epoch"]
    batches = numpy_batches(dataset, batch_size=config.batch_size, image_size=config.image_size,
                            seed=config.seed, epoch=epoch, paired=bool(config.supervised_weight),
                            start=skip)
    for _, (a, b) in zip(range(steps_per_epoch - skip), batches):
        step = state["step"]
        lr = float(gan.schedule(step))        # the rate this step uses
        losses = gan.train_step(a, b, step)
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        if bad:
            raise TrainingDiverged(
                f"loss {bad[0]} became {losses[bad[0]]} at step {step + 1} (epoch {epoch + 1}); "
                f"training stopped. The last good checkpoint is "
                f"{latest_checkpoint(records.run_dir) or 'none (no checkpoint yet)'}; lower "
                "learning_rate or check the dataset for broken images")
        state.update(step=step + 1, step_in_epoch=state["step_in_epoch"] + 1)
        records.step(step + 1, epoch + 1, losses, lr, time.perf_counter() - start)
        if step + 1 >= until or stop.requested:
            return


def _compilation_cache(run_dir: Path) -> None:
    """On JAX, keep compiled steps in ``run_dir/jax_cache`` (unless ``JAX_COMPILATION_CACHE_DIR``
    or JAX's config names another folder), so a resumed run does not compile its step again
    (a minute or more for the paper's networks)."""
    import keras

    if keras.backend.backend() != "jax":
        return
    import jax

    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", str(run_dir / "jax_cache"))


class _StopRequest:
    """Set by SIGINT or SIGTERM while :func:`_stop_between_steps` is active: ``requested`` by
    the first, ``forced`` by a second SIGINT."""

    requested = forced = False
    signal_name = "KeyboardInterrupt"


@contextmanager
def _stop_between_steps():
    """Turn SIGINT and SIGTERM into a request that the loop reads between steps.

    The first signal only sets ``requested``: the step under way completes, is counted and
    saved. A second SIGINT raises KeyboardInterrupt at once (the caller saves nothing then).
    Outside the main thread (where Python cannot handle signals) it does nothing.
    """
    stop = _StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum, frame):
        if stop.requested and signum == signal.SIGINT:
            stop.forced = True
            raise KeyboardInterrupt
        stop.requested, stop.signal_name = True, signal.Signals(signum).name

    previous = {s: signal.signal(s, handle) for s in _STOP_SIGNALS}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _checkpoint(gan: CycleGAN, run_dir: Path, state: dict, log) -> Path:
    path = checkpoints.save(run_dir / "checkpoints" / f"step_{state['step']:07d}.npz",
                            gan.variables, state, gan.config)
    for old in sorted((run_dir / "checkpoints").glob("step_*.npz"))[:-_KEEP_CHECKPOINTS]:
        old.unlink()
    return path


def load_generator(run_dir: str | Path, direction: str = "AB"):
    """The generator of a run's latest checkpoint, for inference.

    Parameters
    ----------
    run_dir : str or Path
        A run folder written by :func:`train`.
    direction : {"AB", "BA"}
        ``"AB"`` refaces (anonymized -> original), ``"BA"`` anonymizes.

    Returns
    -------
    keras.Model
        Input and output (batch, size, size, 1) in [-1, 1].
    """
    from .networks import generator_from_config

    if direction not in ("AB", "BA"):
        raise ValueError(f"direction must be 'AB' or 'BA', got {direction!r}")
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise FileNotFoundError(f"{run_dir}: no checkpoint; train first (`refacing train`)")
    arrays, _, settings = checkpoints.read(checkpoint)
    config = _config(settings)
    generator = generator_from_config(config, name=f"G_{direction}")
    arrays = checkpoints.network_arrays(arrays, f"G_{direction}", generator)
    checkpoints.assign({v.path: v for v in generator.weights}, arrays, checkpoint)
    return generator
