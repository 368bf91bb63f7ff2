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
continues exactly as if it had never stopped.

Files of a run folder (``runs/{source}-{experiment}-{method}`` by default)::

    config.json         the TrainConfig
    checkpoints/        step_NNNNNNN.npz (the last three kept)
    jax_cache/          compiled steps, on JAX
    history.csv         losses and learning rate of every step
    logs/               TensorBoard scalars (written with tensorboardX, or TensorFlow)
    samples/            epoch_NNN.png: test slices, refaced, original
"""

from __future__ import annotations

import csv
import json
import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from . import checkpoints
from .cyclegan import LOSSES, CycleGAN, TrainConfig

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

    Parameters
    ----------
    dataset : SliceDataset or str or Path
        From :func:`refacing_lib.slicing.datasets.open_dataset`, or its folder.
    run_dir : str or Path
        Folder of this run (layout in the module docstring).
    config : TrainConfig
    resume : bool
        Go on from the latest checkpoint of ``run_dir`` if there is one (it must have the same
        config; it may come from the other backend). False with an existing checkpoint is an
        error: choose another folder.
    until_step : int, optional
        Stop (with a checkpoint) after this many steps in all; default the end of training.
    strategy : tf.distribute.Strategy, optional
        TensorFlow's multi-device training, see :class:`~refacing_lib.model.cyclegan.CycleGAN`.
    progress : bool
        Show a progress bar with the losses.
    log : callable
        Receives one line per event (start, resume, checkpoint, end).
    on_step : callable, optional
        Called as ``on_step(step, losses)`` after every step (``losses``: name -> float), e.g.
        to draw a live loss plot in a notebook.

    Returns
    -------
    TrainResult

    Notes
    -----
    SIGINT (Ctrl-C, a notebook's interrupt) and SIGTERM (a scheduler's stop) end the training
    after the step under way, which is completed and counted, with a checkpoint (before the
    first step of a call: at once, nothing to save); a second SIGINT stops at once without
    saving (the last checkpoint stays). Either way the same call resumes exactly. The signals
    are handled so only in the main thread.

    Raises
    ------
    TrainingDiverged
        When a loss becomes NaN or infinite. Nothing is saved after that step; the last
        checkpoint (named in the message) is kept.
    ValueError
        Bad settings, a checkpoint written with other settings, or a dataset too small.
    """
    from tqdm.auto import tqdm

    from refacing_lib.slicing.datasets import open_dataset
    from refacing_lib.slicing.pipelines import numpy_batches

    if isinstance(dataset, (str, Path)):
        dataset = open_dataset(dataset)
    run_dir = Path(run_dir)
    config.check()
    n_train = len(dataset.arrays["train", "A"])
    steps_per_epoch = n_train // config.batch_size
    if config.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, config.steps_per_epoch)
    if steps_per_epoch < 1:
        raise ValueError(f"{dataset.folder}: {n_train} training images, fewer than one batch "
                         f"of {config.batch_size}")
    total = config.epochs * steps_per_epoch
    until = total if until_step is None else min(int(until_step), total)

    with _stop_between_steps() as stop:
        _compilation_cache(run_dir)
        gan = CycleGAN(config, strategy, total_steps=total)
        state = {"step": 0, "epoch": 0, "step_in_epoch": 0}
        checkpoint = latest_checkpoint(run_dir)
        if checkpoint is not None:
            if not resume:
                raise ValueError(f"{run_dir} already holds a training (up to {checkpoint.name}); "
                                 "resume it, or choose another run folder")
            state = checkpoints.restore(checkpoint, gan.variables, config)
            log(f"resumed from {checkpoint} (step {state['step']} of {total}, "
                f"{state['epoch']} of {config.epochs} epochs done)")
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=1))
        history = _History(run_dir / "history.csv", state["step"])
        scalars = _ScalarWriter(run_dir / "logs", gan.backend)
        samples = _sample_batch(dataset, config)
        log(f"training on {gan.backend} ({config.precision}) from step {state['step']} to {until}")

        step, start = state["step"], time.perf_counter()
        interrupted = False
        bar = tqdm(total=until, initial=step, desc="training", unit="step", disable=not progress)
        try:
            while step < until and not stop.requested:
                epoch, skip = state["epoch"], state["step_in_epoch"]
                batches = numpy_batches(dataset, batch_size=config.batch_size,
                                        image_size=config.image_size, seed=config.seed,
                                        epoch=epoch, paired=bool(config.supervised_weight),
                                        start=skip)
                for _, (a, b) in zip(range(steps_per_epoch - skip), batches):
                    lr = float(gan.schedule(step))        # the rate this step uses
                    losses = gan.train_step(a, b, step)
                    bad = [k for k, v in losses.items() if not math.isfinite(v)]
                    if bad:
                        raise TrainingDiverged(
                            f"loss {bad[0]} became {losses[bad[0]]} at step {step + 1} (epoch "
                            f"{epoch + 1}); training stopped. The last good checkpoint is "
                            f"{latest_checkpoint(run_dir) or 'none (no checkpoint yet)'}; lower "
                            "learning_rate or check the dataset for broken images")
                    step += 1
                    state = {"step": step, "epoch": epoch,
                             "step_in_epoch": state["step_in_epoch"] + 1}
                    history.add(step, epoch + 1, losses, lr, time.perf_counter() - start)
                    scalars.add(step, losses, lr)
                    if on_step is not None:
                        on_step(step, losses)
                    bar.update()
                    bar.set_postfix(cycle=f"{losses['cycle']:.3f}", g=f"{losses['g_total']:.2f}",
                                    d=f"{(losses['d_A'] + losses['d_B']) / 2:.3f}")
                    if step >= until or stop.requested:
                        break
                if state["step_in_epoch"] >= steps_per_epoch:     # the epoch is complete
                    state = {"step": step, "epoch": epoch + 1, "step_in_epoch": 0}
                    _save_samples(gan, samples, run_dir / "samples" / f"epoch_{epoch + 1:03d}.png",
                                  f"epoch {epoch + 1}, step {step}")
                    if (epoch + 1) % config.checkpoint_every == 0 or step >= total:
                        checkpoint = _checkpoint(gan, run_dir, state, log)
            interrupted = stop.requested and step < until
        except KeyboardInterrupt:
            if stop.forced:         # a second Ctrl-C: the state may be inside a step
                bar.close()
                log(f"stopped at once at step {step}, not saved; the last checkpoint is "
                    f"{latest_checkpoint(run_dir)}: train again to go on from there")
                raise
            interrupted = True      # raised by on_step, between two steps: the state is whole
        finally:
            bar.close()
            history.close()
            scalars.close()
        if step > 0 and (checkpoint is None or checkpoint.name != f"step_{step:07d}.npz"):
            checkpoint = _checkpoint(gan, run_dir, state, log)
    seconds = time.perf_counter() - start
    if interrupted:
        log(f"interrupted at step {step} by {stop.signal_name}: "
            + (f"saved {checkpoint}; train again to go on" if checkpoint else "no step to save"))
    else:
        log(f"trained to step {step} of {total} in {seconds:.0f} s; last checkpoint {checkpoint}")
    return TrainResult(run_dir, gan, step, state["epoch"], total, checkpoint, interrupted, seconds)


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


class _ScalarWriter:
    """TensorBoard scalars of every step: through tensorboardX where it is installed (no
    TensorFlow needed), else through TensorFlow's writer on the TensorFlow backend, else none
    (history.csv has the same numbers)."""

    def __init__(self, folder: Path, backend: str):
        self.writer = self.tf = None
        try:
            from tensorboardX import SummaryWriter

            self.writer = SummaryWriter(str(folder))
        except ImportError:
            if backend == "tensorflow":
                import tensorflow as tf

                self.tf, self.writer = tf, tf.summary.create_file_writer(str(folder))

    def add(self, step: int, losses: dict, lr: float) -> None:
        """Log the losses and the learning rate of step ``step`` (1-based)."""
        values = {**{f"loss/{k}": v for k, v in losses.items()}, "learning_rate": lr}
        if self.tf is not None:
            with self.writer.as_default(step=step):
                for name, value in values.items():
                    self.tf.summary.scalar(name, value)
        elif self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()


class _History:
    """history.csv, one row per step; rows after ``step`` (beyond a checkpoint) are dropped."""

    def __init__(self, path: Path, step: int):
        rows = []
        if path.exists() and step > 0:
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        self.columns = ["step", "epoch", *LOSSES, "learning_rate", "seconds"]
        self.file = open(path, "w", newline="")
        self.writer = csv.DictWriter(self.file, self.columns)
        self.writer.writeheader()
        self.writer.writerows(rows)
        self.offset = float(rows[-1]["seconds"]) if rows else 0.0

    def add(self, step, epoch, losses, lr, seconds):
        self.writer.writerow({"step": step, "epoch": epoch,
                              **{k: f"{v:.6g}" for k, v in losses.items()},
                              "learning_rate": f"{lr:.6g}",
                              "seconds": f"{self.offset + seconds:.2f}"})
        self.file.flush()

    def close(self):
        self.file.close()


def _sample_batch(dataset, config):
    """The first ``config.samples`` test pairs at the training size (fixed across epochs)."""
    from refacing_lib.slicing.pipelines import numpy_batches

    n = min(config.samples, len(dataset.arrays["test", "A"]))
    if n == 0:
        return None
    return next(numpy_batches(dataset, "test", batch_size=n, image_size=config.image_size,
                              paired=True, shuffle=False))


def _save_samples(gan: CycleGAN, samples, path: Path, title: str) -> None:
    """A grid: anonymized test slices, their refacing by G_AB, the originals."""
    if samples is None:
        return
    from matplotlib.figure import Figure

    a, b = samples
    refaced = np.asarray(gan.g_ab(a, training=False))
    fig = Figure(figsize=(2.2 * len(a), 6.9), layout="constrained")
    axes = fig.subplots(3, len(a), squeeze=False)
    for row, (label, images) in enumerate((("anonymized (A)", a), ("refaced G_AB(A)", refaced),
                                           ("original (B)", b))):
        for col in range(len(a)):
            ax = axes[row, col]
            ax.imshow(images[col, ..., 0], cmap="gray", vmin=-1, vmax=1)
            ax.set_axis_off()
            if col == 0:
                ax.set_title(label, fontsize=9, loc="left")
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)


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
