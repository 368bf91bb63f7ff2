"""Training the paper's CycleGAN: losses, image pools, one compiled step, checkpoints, resume.

Domain A is the anonymized slices, domain B the original ones (see
:mod:`refacing_lib.datasets`). Two generators translate between them (``G_AB`` refaces,
``G_BA`` anonymizes) and two discriminators judge each domain. As in GAN-MRI, the paper's code:

* LSGAN losses: a generator wants its fakes scored 1, a discriminator wants real images
  scored 1 and fakes 0 (mean squared error; the discriminator loss is halved);
* cycle consistency: ``G_BA(G_AB(a))`` must give back ``a`` and ``G_AB(G_BA(b))`` give back
  ``b`` (mean absolute error, weight 10 each); optionally an identity loss and, for paired
  data, a supervised L1 (or L2) loss between ``G_AB(a)`` and its own original ``b``;
* Adam (learning rate 2e-4, beta1 0.5) for the two generators together and for each
  discriminator; both learning rates decay linearly to 0 over the second half of training;
* each discriminator learns from a pool of the last 50 fakes, not only the newest one.

The models and losses use backend-neutral Keras 3 (``keras.ops``); only the gradient step
(:meth:`CycleGAN.train_step`, ``tf.GradientTape`` in one ``tf.function``), the image pools and
the distribution strategy are TensorFlow. Randomness comes from the seed and the step number
alone, and a checkpoint holds every weight, optimizer moment, pool image and counter, so a
resumed run continues exactly where it stopped.

Files of a run folder (``runs/{source}-{experiment}-{method}`` by default)::

    config.json         the TrainConfig
    checkpoints/        step_NNNNNNN.npz (the last three kept)
    history.csv         losses and learning rate of every step
    logs/               TensorBoard scalars
    samples/            epoch_NNN.png: test slices, refaced, original
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

__all__ = ["TrainConfig", "TrainingDiverged", "ImagePool", "CycleGAN", "TrainResult",
           "learning_rate_at", "lsgan_generator_loss", "lsgan_discriminator_loss",
           "mean_absolute_error", "mean_squared_error", "train", "load_generator", "run_config",
           "latest_checkpoint"]

LOSSES = ("g_AB", "g_BA", "cycle", "identity", "supervised", "g_total", "d_A", "d_B")
"""Names of the losses reported per step (means over the batch)."""
_KEEP_CHECKPOINTS = 3


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a CycleGAN training; profiles set them by the same names.

    Attributes
    ----------
    image_size : int
        Image side in pixels (the dataset's 256, or 128 / 64 down-scaled).
    filters, residual_blocks : int
        Generator width and depth (32 and 9 in the paper).
    disc_filters : int
        Discriminator width (64 in the paper).
    batch_size : int
        Global batch (1 in the paper); split across devices under a strategy.
    epochs : int
        Passes over the training split (200 in the paper).
    steps_per_epoch : int
        0: one pass over the training split; otherwise at most this many steps per epoch.
    decay_from : float
        Fraction of the steps after which both learning rates decay linearly to 0 (0.5).
    learning_rate, beta_1 : float
        Adam settings (2e-4, 0.5).
    cycle_weight, identity_weight, supervised_weight : float
        Loss weights (10, 0, 0). A supervised weight above 0 trains on paired batches.
    supervised_loss : {"mae", "mse"}
        The supervised term's distance: mean absolute error (GAN-MRI's and Pix2Pix's), or
        mean squared error, which learns a local change such as deblurring much faster: its
        gradient is proportional to the error, so the many pixels a refacer should leave
        alone do not drown the few it must change (measured in
        ``benchmarks/compare_quick_variants.py``).
    pool_size : int
        Fakes kept per domain for the discriminators (50; 0 disables the pool).
    input_skip : bool
        Generators that add a learned change to their input and start as the identity
        (:func:`refacing_lib.models.build_generator`); False in the paper.
    seed : int
        Seeds the weights, the data order and the pools.
    checkpoint_every : int
        Save a checkpoint every this many epochs (and at the end, and when interrupted).
    samples : int
        Test slices in the sample grid saved after each epoch.
    """

    image_size: int = 256
    filters: int = 32
    residual_blocks: int = 9
    disc_filters: int = 64
    batch_size: int = 1
    epochs: int = 200
    steps_per_epoch: int = 0
    decay_from: float = 0.5
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    cycle_weight: float = 10.0
    identity_weight: float = 0.0
    supervised_weight: float = 0.0
    supervised_loss: str = "mae"
    pool_size: int = 50
    input_skip: bool = False
    seed: int = 0
    checkpoint_every: int = 1
    samples: int = 4

    @classmethod
    def from_profile(cls, profile: dict, **overrides) -> "TrainConfig":
        """The config whose fields a profile (see :mod:`refacing_lib.profiles`) names; other
        profile entries are ignored, ``overrides`` win."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in {**profile, **overrides}.items() if k in names}
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        """Raise ValueError naming the first setting out of range."""
        for name in ("image_size", "filters", "residual_blocks", "disc_filters", "batch_size",
                     "epochs", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {self.image_size}")
        if not 0 <= self.decay_from <= 1:
            raise ValueError(f"decay_from must be between 0 and 1, got {self.decay_from}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.supervised_loss not in ("mae", "mse"):
            raise ValueError(f"supervised_loss must be 'mae' or 'mse', got {self.supervised_loss!r}")
        if self.pool_size < 0 or self.steps_per_epoch < 0 or self.samples < 0:
            raise ValueError("pool_size, steps_per_epoch and samples must not be negative")


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names it, the step and the last checkpoint."""


# ---- losses (keras.ops: any backend) -----------------------------------------------------------

def lsgan_generator_loss(fake_scores):
    """Mean of ``(D(fake) - 1)^2``: the generator wants its fakes judged real."""
    from keras import ops

    return ops.mean(ops.square(fake_scores - 1.0))


def lsgan_discriminator_loss(real_scores, fake_scores):
    """``0.5 * (mean((D(real) - 1)^2) + mean(D(fake)^2))``."""
    from keras import ops

    return 0.5 * (ops.mean(ops.square(real_scores - 1.0)) + ops.mean(ops.square(fake_scores)))


def mean_absolute_error(x, y):
    """Mean of ``|x - y|`` over all elements (the cycle, identity and supervised losses)."""
    from keras import ops

    return ops.mean(ops.abs(x - y))


def mean_squared_error(x, y):
    """Mean of ``(x - y)^2`` over all elements (the supervised loss's other choice)."""
    from keras import ops

    return ops.mean(ops.square(x - y))


def learning_rate_at(step: int, total_steps: int, base: float, decay_from: float = 0.5) -> float:
    """The learning rate of step ``step`` (0-based): ``base`` until ``decay_from * total_steps``,
    then falling linearly to 0 at ``total_steps``."""
    start = decay_from * total_steps
    if step < start or total_steps <= start:
        return base
    return base * max(0.0, (total_steps - step) / (total_steps - start))


# ---- image pool ---------------------------------------------------------------------------------

class ImagePool:
    """The last ``size`` fakes of one domain, as in GAN-MRI (Shrivastava et al., 2017).

    For each new fake: while the pool is not full it is stored and returned; afterwards, with
    probability 0.5 it is returned as it is, otherwise a random stored fake is returned and the
    new one takes its place. The pool is a fixed-shape variable (no retracing), and its random
    draws are seeded by ``(seed, step, replica, image)``, so a resumed run draws the same.
    Under a multi-device strategy each device keeps its own pool.

    Parameters
    ----------
    size : int
        Images kept; 0 returns every fake unchanged.
    image_shape : tuple of int
        (height, width, channels).
    """

    def __init__(self, size: int, image_shape: tuple[int, int, int], name: str = "pool"):
        import tensorflow as tf

        local = dict(trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
                     aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.size = int(size)
        self.images = tf.Variable(tf.zeros((max(self.size, 1), *image_shape)),
                                  name=f"{name}_images", **local)
        self.count = tf.Variable(0, dtype=tf.int32, name=f"{name}_count", **local)

    def query(self, fakes, seed):
        """Images for the discriminator, shape of ``fakes`` (batch, h, w, c).

        ``seed`` is an int32 tensor of shape (2,), different at every step.
        """
        import tensorflow as tf

        if self.size == 0:
            return fakes
        out = []
        for k in range(fakes.shape[0]):
            image = fakes[k]
            u = tf.random.stateless_uniform([2], seed=seed + tf.constant([0, 7919]) * k)
            full = self.count >= self.size
            swap = tf.logical_and(full, u[0] >= 0.5)
            slot = tf.where(full, tf.minimum(tf.cast(u[1] * self.size, tf.int32), self.size - 1),
                            self.count)
            stored = tf.gather(self.images, slot)
            out.append(tf.where(swap, stored, image))
            keep = tf.where(tf.logical_or(tf.logical_not(full), swap), image, stored)
            # a whole-variable assign: per-device (sync-on-read) variables have no scatter
            self.images.assign(tf.tensor_scatter_nd_update(self.images, [[slot]], keep[None]))
            self.count.assign(tf.minimum(self.count + 1, self.size))
        return tf.stack(out)


# ---- the model ----------------------------------------------------------------------------------

class CycleGAN:
    """Two generators, two discriminators, their optimizers and pools, and the training step.

    Parameters
    ----------
    config : TrainConfig
    strategy : tf.distribute.Strategy, optional
        E.g. ``tf.distribute.MirroredStrategy()`` for several GPUs; the global batch
        ``config.batch_size`` is split across its devices. Default: the current strategy
        (one device).

    Attributes
    ----------
    g_ab, g_ba : keras.Model
        Generators A -> B (refacing) and B -> A.
    d_a, d_b : keras.Model
        Discriminators of domains A and B.
    opt_g, opt_d_a, opt_d_b : keras.optimizers.Adam
    pool_a, pool_b : ImagePool
    trace_count : int
        How many times the step was traced (1 in a healthy run).
    """

    def __init__(self, config: TrainConfig, strategy=None):
        import keras
        import tensorflow as tf

        from .models import build_discriminator, build_generator

        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(f"CycleGAN training runs on the TensorFlow backend of Keras; "
                               f"KERAS_BACKEND is {keras.backend.backend()!r}")
        config.check()
        self.config = config
        self.strategy = strategy or tf.distribute.get_strategy()
        replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise ValueError(f"batch_size {config.batch_size} must be a multiple of the "
                             f"{replicas} devices of the strategy")
        size, c = config.image_size, 1
        with self.strategy.scope():
            keras.utils.set_random_seed(config.seed)
            gen = dict(image_size=size, channels=c, filters=config.filters,
                       residual_blocks=config.residual_blocks, input_skip=config.input_skip)
            self.g_ab = build_generator(**gen, name="G_AB")
            self.g_ba = build_generator(**gen, name="G_BA")
            self.d_a = build_discriminator(size, c, config.disc_filters, name="D_A")
            self.d_b = build_discriminator(size, c, config.disc_filters, name="D_B")
            adam = dict(learning_rate=config.learning_rate, beta_1=config.beta_1, beta_2=0.999)
            self.opt_g = keras.optimizers.Adam(**adam, name="adam_G")
            self.opt_d_a = keras.optimizers.Adam(**adam, name="adam_D_A")
            self.opt_d_b = keras.optimizers.Adam(**adam, name="adam_D_B")
            self.opt_g.build(self.g_ab.trainable_variables + self.g_ba.trainable_variables)
            self.opt_d_a.build(self.d_a.trainable_variables)
            self.opt_d_b.build(self.d_b.trainable_variables)
            local = config.batch_size // replicas
            self.pool_a = ImagePool(config.pool_size, (size, size, c), "pool_A")
            self.pool_b = ImagePool(config.pool_size, (size, size, c), "pool_B")
        self._local_batch = local
        self.trace_count = 0
        self._step_fn = tf.function(self._distributed_step)

    # the state a checkpoint holds, in a fixed order
    def _state(self) -> dict:
        state = {}
        for name, model in (("G_AB", self.g_ab), ("G_BA", self.g_ba), ("D_A", self.d_a),
                            ("D_B", self.d_b)):
            for i, v in enumerate(model.weights):
                state[f"{name}/{i}"] = v
        for name, opt in (("adam_G", self.opt_g), ("adam_D_A", self.opt_d_a),
                          ("adam_D_B", self.opt_d_b)):
            for i, v in enumerate(opt.variables):
                state[f"{name}/{i}"] = v
        for name, pool in (("pool_A", self.pool_a), ("pool_B", self.pool_b)):
            state[f"{name}/images"], state[f"{name}/count"] = pool.images, pool.count
        return state

    def set_learning_rate(self, value: float) -> None:
        """Set the learning rate of all three optimizers (a variable: no retracing)."""
        for opt in (self.opt_g, self.opt_d_a, self.opt_d_b):
            opt.learning_rate.assign(value)

    def train_step(self, a, b, step: int) -> dict[str, float]:
        """One update of all four networks on a batch; returns the losses as floats.

        ``a`` and ``b`` are (batch, size, size, 1) batches of domain A and B (distributed
        values under a multi-device strategy); ``step`` seeds the pools.
        """
        import tensorflow as tf

        losses = self._step_fn(a, b, tf.constant(step, tf.int64))
        return {k: float(v) for k, v in losses.items()}

    def _distributed_step(self, a, b, step):
        import tensorflow as tf

        self.trace_count += 1
        per_replica = self.strategy.run(self._replica_step, args=(a, b, step))
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for k, v in per_replica.items()}

    def _replica_step(self, a, b, step):
        import tensorflow as tf

        cfg = self.config
        context = tf.distribute.get_replica_context()
        replica = tf.cast(context.replica_id_in_sync_group, tf.int64)
        share = 1.0 / self.strategy.num_replicas_in_sync      # per-device mean -> global mean
        seed = tf.cast(tf.stack([cfg.seed + replica, step]), tf.int32)
        with tf.GradientTape(persistent=True) as tape:
            fake_b, fake_a = self.g_ab(a, training=True), self.g_ba(b, training=True)
            cycle = (mean_absolute_error(a, self.g_ba(fake_b, training=True))
                     + mean_absolute_error(b, self.g_ab(fake_a, training=True)))
            g_ab = lsgan_generator_loss(self.d_b(fake_b, training=True))
            g_ba = lsgan_generator_loss(self.d_a(fake_a, training=True))
            identity = supervised = tf.constant(0.0)
            if cfg.identity_weight:
                identity = (mean_absolute_error(b, self.g_ab(b, training=True))
                            + mean_absolute_error(a, self.g_ba(a, training=True)))
            if cfg.supervised_weight:
                distance = mean_squared_error if cfg.supervised_loss == "mse" else mean_absolute_error
                supervised = distance(fake_b, b) + distance(fake_a, a)
            g_total = (g_ab + g_ba + cfg.cycle_weight * cycle + cfg.identity_weight * identity
                       + cfg.supervised_weight * supervised)
            pooled_b = self.pool_b.query(tf.stop_gradient(fake_b), seed)
            pooled_a = self.pool_a.query(tf.stop_gradient(fake_a), seed + [0, 1 << 20])
            d_b = lsgan_discriminator_loss(self.d_b(b, training=True), self.d_b(pooled_b, training=True))
            d_a = lsgan_discriminator_loss(self.d_a(a, training=True), self.d_a(pooled_a, training=True))
            scaled = [share * g_total, share * d_a, share * d_b]
        g_vars = self.g_ab.trainable_variables + self.g_ba.trainable_variables
        for loss, opt, variables in zip(scaled, (self.opt_g, self.opt_d_a, self.opt_d_b),
                                        (g_vars, self.d_a.trainable_variables,
                                         self.d_b.trainable_variables)):
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        del tape
        values = (g_ab, g_ba, cycle, identity, supervised, g_total, d_a, d_b)
        return {name: share * value for name, value in zip(LOSSES, values)}

    def save(self, path: str | Path, progress: dict) -> Path:
        """Write a checkpoint: every weight, optimizer variable and pool, plus ``progress``
        (step, epoch, step in epoch) and the config. Written to a temporary name, then renamed.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {k: np.asarray(v.numpy()) for k, v in self._state().items()}
        arrays["__progress__"] = np.array(json.dumps(progress))
        arrays["__config__"] = np.array(json.dumps(asdict(self.config)))
        tmp = path.with_name(f".part-{path.name}")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
        return path

    def restore(self, path: str | Path) -> dict:
        """Load a checkpoint written by :meth:`save` with the same config; returns its progress.

        Raises
        ------
        ValueError
            If the checkpoint is unreadable or was written with other settings (named).
        """
        path = Path(path)
        try:
            with np.load(path) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError) as exc:
            raise ValueError(f"{path}: unreadable checkpoint ({exc})") from exc
        saved = {**asdict(TrainConfig()), **json.loads(str(arrays.pop("__config__")))}
        mine = asdict(self.config)
        changed = {k: (saved.get(k), v) for k, v in mine.items()
                   if saved.get(k) != v and k not in ("checkpoint_every", "samples")}
        if changed:
            raise ValueError(f"{path} was written with other settings "
                             f"({', '.join(f'{k}: {o!r} -> {n!r}' for k, (o, n) in changed.items())});"
                             " resume with the same settings or start a new run folder")
        progress = json.loads(str(arrays.pop("__progress__")))
        state = self._state()
        if set(arrays) != set(state):
            raise ValueError(f"{path}: the checkpoint does not match the model")
        for key, variable in state.items():
            variable.assign(arrays[key])
        return progress


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
        values = json.loads(path.read_text())
        names = {f.name for f in fields(TrainConfig)}
        return TrainConfig(**{k: v for k, v in values.items() if k in names})
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: unreadable run settings ({exc}); the checkpoints of "
                         f"{run_dir} hold them too: delete the folder to train it again") from exc


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
        From :func:`refacing_lib.datasets.open_dataset`, or its folder.
    run_dir : str or Path
        Folder of this run (layout in the module docstring).
    config : TrainConfig
    resume : bool
        Go on from the latest checkpoint of ``run_dir`` if there is one (it must have the same
        config). False with an existing checkpoint is an error: choose another folder.
    until_step : int, optional
        Stop (with a checkpoint) after this many steps in all; default the end of training.
    strategy : tf.distribute.Strategy, optional
        See :class:`CycleGAN`.
    progress : bool
        Show a progress bar with the losses.
    log : callable
        Receives one line per event (resume, checkpoint, end).
    on_step : callable, optional
        Called as ``on_step(step, losses)`` after every step (``losses``: name -> float), e.g.
        to draw a live loss plot in a notebook.

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingDiverged
        When a loss becomes NaN or infinite. Nothing is saved after that step; the last
        checkpoint (named in the message) is kept.
    ValueError
        Bad settings, a checkpoint written with other settings, or a dataset too small.
    """
    import tensorflow as tf
    from tqdm.auto import tqdm

    from .datasets import cyclegan_pipeline, open_dataset, paired_pipeline

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

    gan = CycleGAN(config, strategy)
    state = {"step": 0, "epoch": 0, "step_in_epoch": 0}
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is not None:
        if not resume:
            raise ValueError(f"{run_dir} already holds a training (up to {checkpoint.name}); "
                             "resume it, or choose another run folder")
        state = gan.restore(checkpoint)
        log(f"resumed from {checkpoint} (step {state['step']} of {total}, "
            f"{state['epoch']} of {config.epochs} epochs done)")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=1))
    history = _History(run_dir / "history.csv", state["step"])
    writer = tf.summary.create_file_writer(str(run_dir / "logs"))
    pipeline = paired_pipeline if config.supervised_weight else cyclegan_pipeline
    samples = _sample_batch(dataset, config)

    step, start = state["step"], time.perf_counter()
    interrupted = False
    bar = tqdm(total=until, initial=step, desc="training", unit="step", disable=not progress)
    try:
        while step < until:
            epoch, skip = state["epoch"], state["step_in_epoch"]
            batches = pipeline(dataset, batch_size=config.batch_size,
                               image_size=config.image_size, seed=config.seed,
                               epoch=epoch).skip(skip).take(steps_per_epoch - skip)
            for a, b in gan.strategy.experimental_distribute_dataset(batches):
                gan.set_learning_rate(learning_rate_at(step, total, config.learning_rate,
                                                       config.decay_from))
                losses = gan.train_step(a, b, step)
                bad = [k for k, v in losses.items() if not math.isfinite(v)]
                if bad:
                    raise TrainingDiverged(
                        f"loss {bad[0]} became {losses[bad[0]]} at step {step + 1} (epoch "
                        f"{epoch + 1}); training stopped. The last good checkpoint is "
                        f"{latest_checkpoint(run_dir) or 'none (no checkpoint yet)'}; lower "
                        "learning_rate or check the dataset for broken images")
                step += 1
                state = {"step": step, "epoch": epoch, "step_in_epoch": state["step_in_epoch"] + 1}
                lr = float(gan.opt_g.learning_rate.numpy())
                history.add(step, epoch + 1, losses, lr, time.perf_counter() - start)
                with writer.as_default(step=step):
                    for name, value in losses.items():
                        tf.summary.scalar(f"loss/{name}", value)
                    tf.summary.scalar("learning_rate", lr)
                if on_step is not None:
                    on_step(step, losses)
                bar.update()
                bar.set_postfix(cycle=f"{losses['cycle']:.3f}", g=f"{losses['g_total']:.2f}",
                                d=f"{(losses['d_A'] + losses['d_B']) / 2:.3f}")
                if step >= until:
                    break
            if state["step_in_epoch"] >= steps_per_epoch:     # the epoch is complete
                state = {"step": step, "epoch": epoch + 1, "step_in_epoch": 0}
                _save_samples(gan, samples, run_dir / "samples" / f"epoch_{epoch + 1:03d}.png",
                              f"epoch {epoch + 1}, step {step}")
                if (epoch + 1) % config.checkpoint_every == 0 or step >= total:
                    checkpoint = _checkpoint(gan, run_dir, state, log)
        if step >= until and (checkpoint is None or not checkpoint.name.endswith(f"{step:07d}.npz")):
            checkpoint = _checkpoint(gan, run_dir, state, log)
    except KeyboardInterrupt:
        interrupted = True
        bar.close()
        if step > 0:
            checkpoint = _checkpoint(gan, run_dir, state, log)
        log(f"interrupted at step {step}: saved {checkpoint}; train again with resume to go on")
    finally:
        bar.close()
        history.close()
        writer.close()
    seconds = time.perf_counter() - start
    if not interrupted:
        log(f"trained to step {step} of {total} in {seconds:.0f} s; last checkpoint {checkpoint}")
    return TrainResult(run_dir, gan, step, state["epoch"], total, checkpoint, interrupted, seconds)


def _checkpoint(gan: CycleGAN, run_dir: Path, state: dict, log) -> Path:
    path = gan.save(run_dir / "checkpoints" / f"step_{state['step']:07d}.npz", state)
    for old in sorted((run_dir / "checkpoints").glob("step_*.npz"))[:-_KEEP_CHECKPOINTS]:
        old.unlink()
    return path


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
        self.writer.writerow({"step": step, "epoch": epoch, **{k: f"{v:.6g}" for k, v in losses.items()},
                              "learning_rate": f"{lr:.6g}",
                              "seconds": f"{self.offset + seconds:.2f}"})
        self.file.flush()

    def close(self):
        self.file.close()


def _sample_batch(dataset, config):
    """The first ``config.samples`` test pairs at the training size (fixed across epochs)."""
    from .datasets import paired_pipeline

    n = min(config.samples, len(dataset.arrays["test", "A"]))
    if n == 0:
        return None
    a, b = next(iter(paired_pipeline(dataset, "test", batch_size=n, image_size=config.image_size,
                                     shuffle=False)))
    return a.numpy(), b.numpy()


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
    from .models import build_generator

    if direction not in ("AB", "BA"):
        raise ValueError(f"direction must be 'AB' or 'BA', got {direction!r}")
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise FileNotFoundError(f"{run_dir}: no checkpoint; train first (`refacing train`)")
    with np.load(checkpoint) as data:
        config = TrainConfig(**json.loads(str(data["__config__"])))
        generator = build_generator(config.image_size, 1, config.filters, config.residual_blocks,
                                    config.input_skip, name=f"G_{direction}")
        n = len(generator.weights)
        generator.set_weights([data[f"G_{direction}/{i}"] for i in range(n)])
    return generator
