"""What a training call records in its run folder, step by step: ``history.csv``, the
TensorBoard scalars in ``logs/``, a sample grid per epoch in ``samples/``, and the progress
bar. The loop itself is :func:`refacing_lib.model.training.train`."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .cyclegan import LOSSES, CycleGAN


class RunLog:
    """The records of one :func:`~refacing_lib.model.training.train` call.

    Parameters
    ----------
    run_dir : Path
        The run folder.
    gan : CycleGAN
    dataset : SliceDataset
        Its first ``config.samples`` test pairs are drawn in every epoch's sample grid.
    step, until : int
        The step the call starts from (rows of ``history.csv`` beyond it are dropped) and the
        step it stops at (the progress bar's length).
    progress : bool
        Show the progress bar.
    on_step : callable, optional
        Called as ``on_step(step, losses)`` after every step.
    """

    def __init__(self, run_dir: Path, gan: CycleGAN, dataset, step: int, until: int,
                 progress: bool = True, on_step=None):
        from tqdm.auto import tqdm

        self.run_dir, self.gan, self.on_step = run_dir, gan, on_step
        self.history = _History(run_dir / "history.csv", step)
        self.scalars = _ScalarWriter(run_dir / "logs", gan.backend)
        self.samples = _sample_batch(dataset, gan.config)
        self.bar = tqdm(total=until, initial=step, desc="training", unit="step",
                        disable=not progress)

    def step(self, step: int, epoch: int, losses: dict, lr: float, seconds: float) -> None:
        """Record step ``step`` (1-based) of epoch ``epoch`` (1-based): its losses (name ->
        float), its learning rate, and the seconds since the call started."""
        self.history.add(step, epoch, losses, lr, seconds)
        self.scalars.add(step, losses, lr)
        if self.on_step is not None:
            self.on_step(step, losses)
        self.bar.update()
        self.bar.set_postfix(cycle=f"{losses['cycle']:.3f}", g=f"{losses['g_total']:.2f}",
                             d=f"{(losses['d_A'] + losses['d_B']) / 2:.3f}")

    def epoch_done(self, epoch: int, step: int) -> None:
        """Draw ``samples/epoch_NNN.png`` after epoch ``epoch`` (1-based), at step ``step``."""
        _save_samples(self.gan, self.samples, self.run_dir / "samples" / f"epoch_{epoch:03d}.png",
                      f"epoch {epoch}, step {step}")

    def close(self) -> None:
        """Close the progress bar and the files."""
        self.bar.close()
        self.history.close()
        self.scalars.close()


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
