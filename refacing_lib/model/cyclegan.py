"""The CycleGAN being trained: its settings, its four networks, and one training step.

Domain A is the anonymized slices, domain B the original ones (see
:mod:`refacing_lib.slicing.datasets`). Two generators translate between them (``G_AB`` refaces,
``G_BA`` anonymizes) and two discriminators judge each domain. As in GAN-MRI, the paper's
code: LSGAN losses, cycle consistency (weight 10), Adam (learning rate 2e-4, beta1 0.5) for
the two generators together and for each discriminator, and a pool of the last 50 fakes for
each discriminator (:mod:`.losses`, :mod:`.pools`). :meth:`CycleGAN.tensorflow_step` is the
whole step on TensorFlow, Keras's default backend here; :mod:`.backends` runs the same step on
JAX, on several devices and in bfloat16.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from . import backends
from .backends import PRECISIONS
from .losses import (
    DISTANCES,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    mean_absolute_error,
)
from .pools import ImagePool, pool_draws

__all__ = ["LOSSES", "TrainConfig", "CycleGAN"]

LOSSES = ("g_AB", "g_BA", "cycle", "identity", "supervised", "g_total", "d_A", "d_B")
"""Names of the losses reported per step (means over the batch)."""
NETWORKS = ("G_AB", "G_BA", "D_A", "D_B")


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
        Global batch (1 in the paper); split across devices in data parallel training.
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
        mean squared error, whose gradient is proportional to the error, so the many pixels
        a refacer should leave alone do not drown the few it must change
        (``benchmarks/compare_quick_variants.py`` compares them).
    pool_size : int
        Fakes kept per domain for the discriminators (50; 0 disables the pool).
    input_skip : bool
        Generators that add a learned change to their input and start as the identity
        (:func:`refacing_lib.model.networks.build_generator`); False in the paper.
    precision : {"float32", "bfloat16"}
        ``bfloat16``: networks computed in bfloat16 (mixed precision, for GPUs); weights,
        optimizer moments and losses stay float32.
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
    precision: str = "float32"
    seed: int = 0
    checkpoint_every: int = 1
    samples: int = 4

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
        if self.supervised_loss not in DISTANCES:
            raise ValueError("supervised_loss must be 'mae' or 'mse', "
                             f"got {self.supervised_loss!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, "
                             f"got {self.precision!r}")
        if self.pool_size < 0 or self.steps_per_epoch < 0 or self.samples < 0:
            raise ValueError("pool_size, steps_per_epoch and samples must not be negative")


class CycleGAN:
    """Two generators, two discriminators, their optimizers and pools, and the training step.

    Every variable is named by its Keras path, unique in the CycleGAN (``G_AB/c7s1_conv/
    kernel``, ``adam_G/G_AB_c7s1_conv_kernel_momentum``, ``pool_A/images``, ...):
    :attr:`variables` is what a checkpoint holds (:mod:`refacing_lib.model.checkpoints`).

    Parameters
    ----------
    config : TrainConfig
    strategy : tf.distribute.Strategy, optional
        TensorFlow only: e.g. ``tf.distribute.MirroredStrategy()`` for several GPUs, each
        device with its own pools. On JAX, set ``keras.distribution.DataParallel`` with
        ``keras.distribution.set_distribution`` before building the CycleGAN instead. The
        global batch ``config.batch_size`` is split across the devices.

    Attributes
    ----------
    g_ab, g_ba : keras.Model
        Generators A -> B (refacing) and B -> A.
    d_a, d_b : keras.Model
        Discriminators of domains A and B.
    opt_g, opt_d_a, opt_d_b : keras.optimizers.Adam
    pool_a, pool_b : ImagePool
    backend : str
        ``"tensorflow"`` or ``"jax"``.
    trace_count : int
        How many times the step was traced (1 in a healthy run).
    """

    def __init__(self, config: TrainConfig, strategy=None, total_steps: int | None = None):
        import keras

        from .networks import build_discriminator, generator_from_config
        from .schedule import LinearDecay

        self.backend = keras.backend.backend()
        if self.backend not in ("tensorflow", "jax"):
            raise RuntimeError(f"CycleGAN training runs on the TensorFlow or JAX backend of "
                               f"Keras; KERAS_BACKEND is {self.backend!r}")
        if strategy is not None and self.backend != "tensorflow":
            raise ValueError("a tf.distribute strategy needs the TensorFlow backend; on JAX use "
                             "keras.distribution.set_distribution(DataParallel(...))")
        config.check()
        self.config = config
        self.strategy = strategy
        if self.backend == "tensorflow" and strategy is None:
            import tensorflow as tf

            self.strategy = tf.distribute.get_strategy()
        devices = self._devices()
        if config.batch_size % devices:
            raise ValueError(f"batch_size {config.batch_size} must be a multiple of the "
                             f"{devices} devices it is split across")
        size = config.image_size
        with backends.precision(config.precision), \
                self.strategy.scope() if self.strategy else nullcontext():
            if self.backend == "tensorflow":
                keras.utils.set_random_seed(config.seed)
            nets = {}
            for name in NETWORKS:
                with keras.name_scope(name):
                    nets[name] = (generator_from_config(config, name) if name[0] == "G" else
                                  build_discriminator(size, 1, config.disc_filters, name=name))
            self.g_ab, self.g_ba, self.d_a, self.d_b = (nets[n] for n in NETWORKS)
            self.schedule = LinearDecay(config.learning_rate, total_steps, config.decay_from)
            adam = dict(learning_rate=self.schedule, beta_1=config.beta_1, beta_2=0.999)
            self.opt_g = keras.optimizers.Adam(**adam, name="adam_G")
            self.opt_d_a = keras.optimizers.Adam(**adam, name="adam_D_A")
            self.opt_d_b = keras.optimizers.Adam(**adam, name="adam_D_B")
            self.opt_g.build(self.g_ab.trainable_variables + self.g_ba.trainable_variables)
            self.opt_d_a.build(self.d_a.trainable_variables)
            self.opt_d_b.build(self.d_b.trainable_variables)
            self.pool_a = ImagePool(config.pool_size, (size, size, 1), "pool_A")
            self.pool_b = ImagePool(config.pool_size, (size, size, 1), "pool_B")
            if self.backend != "tensorflow":
                backends.seed_weights(nets.values(), config.seed)
        self.networks = nets
        self.trace_count = 0
        step = backends.TensorFlowStep if self.backend == "tensorflow" else backends.JaxStep
        self._step = step(self)

    def _devices(self) -> int:
        if self.strategy is not None:
            return self.strategy.num_replicas_in_sync
        import keras

        distribution = keras.distribution.distribution()
        return 1 if distribution is None else len(distribution.device_mesh.devices.ravel())

    @property
    def variables(self) -> dict:
        """Every variable of the training state by its unique path: the networks' weights,
        the optimizers' variables and the pools."""
        found = [v for model in self.networks.values() for v in model.weights]
        found += [v for opt in (self.opt_g, self.opt_d_a, self.opt_d_b) for v in opt.variables]
        found += [self.pool_a.images, self.pool_a.count, self.pool_b.images, self.pool_b.count]
        named = {v.path: v for v in found}
        if len(named) != len(found):
            raise RuntimeError("two variables of the CycleGAN share a path")
        return named

    def train_step(self, a, b, step: int) -> dict[str, float]:
        """One update of all four networks on a batch; returns the losses as floats.

        Parameters
        ----------
        a, b : numpy arrays (batch, size, size, 1)
            Batches of domain A and B in [-1, 1] (the global batch; split across devices).
        step : int
            The step's number from 0: seeds the pools' draws (:func:`pool_draws`). The
            learning rate follows the optimizers' own step counters (:attr:`schedule`).
        """
        draws = pool_draws(self.config.seed, int(step), self.config.batch_size)
        losses = self._step(np.asarray(a, np.float32), np.asarray(b, np.float32), draws)
        return {k: float(losses[k]) for k in LOSSES}

    def tensorflow_step(self, a, b, draws):
        """One update of the four networks, on TensorFlow: the whole training step.

        Traced once into a graph by :class:`~refacing_lib.model.backends.TensorFlowStep`
        (through :meth:`train_step`). Each optimizer takes its learning rate from
        :attr:`schedule` at its own step counter.

        Parameters
        ----------
        a, b : float32 tensors (batch, size, size, 1)
            Anonymized (A) and original (B) slices in [-1, 1]; from the same slices
            (paired) when ``supervised_weight`` is above 0, else drawn independently.
        draws : float32 tensor (2, batch, 2)
            The pools' random numbers (:func:`~refacing_lib.model.pools.pool_draws`).

        Returns
        -------
        dict
            Scalar tensors named as :data:`LOSSES`.
        """
        import tensorflow as tf
        from keras import ops

        c = self.config
        # a batch split across devices: each device's mean counts for its share
        share = 1.0 / tf.distribute.get_replica_context().num_replicas_in_sync

        def run(network, images):       # in float32, even for networks computed in bfloat16
            return ops.cast(network(images, training=True), "float32")

        with tf.GradientTape(persistent=True) as tape:
            # the generators: translate, translate back, and fool the discriminators
            fake_b, fake_a = run(self.g_ab, a), run(self.g_ba, b)
            cycle = (mean_absolute_error(a, run(self.g_ba, fake_b))
                     + mean_absolute_error(b, run(self.g_ab, fake_a)))
            g_ab = lsgan_generator_loss(run(self.d_b, fake_b))
            g_ba = lsgan_generator_loss(run(self.d_a, fake_a))
            identity = supervised = ops.zeros((), "float32")
            if c.identity_weight:       # an image of the target domain should pass unchanged
                identity = (mean_absolute_error(b, run(self.g_ab, b))
                            + mean_absolute_error(a, run(self.g_ba, a)))
            if c.supervised_weight:     # paired batches: each fake against its own original
                distance = DISTANCES[c.supervised_loss]
                supervised = distance(fake_b, b) + distance(fake_a, a)
            g_total = (g_ab + g_ba + c.cycle_weight * cycle + c.identity_weight * identity
                       + c.supervised_weight * supervised)
            # the discriminators: real images against fakes, some from the pools of past fakes
            pooled_a = self.pool_a.query(ops.stop_gradient(fake_a), draws[0])
            pooled_b = self.pool_b.query(ops.stop_gradient(fake_b), draws[1])
            d_a = lsgan_discriminator_loss(run(self.d_a, a), run(self.d_a, pooled_a))
            d_b = lsgan_discriminator_loss(run(self.d_b, b), run(self.d_b, pooled_b))
            values = (g_ab, g_ba, cycle, identity, supervised, g_total, d_a, d_b)
            losses = {name: share * value for name, value in zip(LOSSES, values)}
        # the gradients: both generators on their objective, each discriminator on its loss
        generators = self.g_ab.trainable_variables + self.g_ba.trainable_variables
        for loss, optimizer, weights in (
                (losses["g_total"], self.opt_g, generators),
                (losses["d_A"], self.opt_d_a, self.d_a.trainable_variables),
                (losses["d_B"], self.opt_d_b, self.d_b.trainable_variables)):
            optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return losses
