"""The CycleGAN being trained: its losses, image pools and one training step on TensorFlow or
JAX (its settings: :class:`refacing_lib.model.training.TrainConfig`).

Domain A is the anonymized slices, domain B the original ones (see
:mod:`refacing_lib.slicing.datasets`). Two generators translate between them (``G_AB`` refaces,
``G_BA`` anonymizes) and two discriminators judge each domain. As in GAN-MRI, the paper's code:

* LSGAN losses: a generator wants its fakes scored 1, a discriminator wants real images
  scored 1 and fakes 0 (mean squared error; the discriminator loss is halved);
* cycle consistency: ``G_BA(G_AB(a))`` must give back ``a`` and ``G_AB(G_BA(b))`` give back
  ``b`` (mean absolute error, weight 10 each); optionally an identity loss and, for paired
  data, a supervised L1 (or L2) loss between ``G_AB(a)`` and its own original ``b``;
* Adam (learning rate 2e-4, beta1 0.5) for the two generators together and for each
  discriminator;
* each discriminator learns from a pool of the last 50 fakes, not only the newest one.

The losses and the pools are written once, in backend-neutral ``keras.ops``
(:func:`cyclegan_losses`, :func:`pool_query`); only the gradient step differs by backend:
``tf.GradientTape`` in one ``tf.function`` on TensorFlow (optionally under a
``tf.distribute`` strategy), one ``jax.jit``-compiled pure function on JAX
(``stateless_call``, ``jax.grad``, ``optimizer.stateless_apply``; data parallel with
``keras.distribution.DataParallel``). With JAX selected nothing here imports TensorFlow.
The pools' random draws are numpy numbers drawn from ``(seed, step)``, the same on both
backends, so a run can go on on the other backend with the same losses.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

__all__ = ["LOSSES", "PRECISIONS", "lsgan_generator_loss",
           "lsgan_discriminator_loss", "mean_absolute_error", "mean_squared_error",
           "pool_draws", "pool_query", "cyclegan_losses", "ImagePool", "CycleGAN"]

LOSSES = ("g_AB", "g_BA", "cycle", "identity", "supervised", "g_total", "d_A", "d_B")
"""Names of the losses reported per step (means over the batch)."""
PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
"""Training precisions and the Keras dtype policy of each: ``bfloat16`` computes the networks
in bfloat16 and keeps float32 weights, optimizer moments and losses."""
NETWORKS = ("G_AB", "G_BA", "D_A", "D_B")


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


# ---- image pools (keras.ops: any backend) ------------------------------------------------------

def pool_draws(seed: int, step: int, batch: int) -> np.ndarray:
    """The random numbers the two pools use at step ``step`` (0-based): float32 array
    (2, batch, 2) of uniforms in [0, 1), pool of domain A first, a function of
    ``(seed, step)`` alone (numpy's PCG64), so that a resumed run, on either backend, draws
    the same."""
    return np.random.default_rng([seed, step]).random((2, batch, 2), dtype=np.float32)


def pool_query(images, count, fakes, draws, size: int):
    """One query of an image pool, as in GAN-MRI (Shrivastava et al., 2017); a pure function.

    For each fake of the batch, in order: while the pool is not full it is stored and
    returned; afterwards, with probability 0.5 (``draws[k, 0] >= 0.5``) a random stored fake
    (slot ``floor(draws[k, 1] * size)``) is returned and the new one takes its place,
    otherwise the new one is returned as it is.

    Parameters
    ----------
    images : tensor (size, h, w, c)
        The stored fakes.
    count : int32 scalar tensor
        How many slots are filled (at most ``size``).
    fakes : tensor (batch, h, w, c)
        The newest fakes (gradients stopped by the caller).
    draws : tensor (batch, 2)
        Uniforms in [0, 1), see :func:`pool_draws`.
    size : int
        Pool size; 0 returns ``fakes`` and leaves the pool as it is.

    Returns
    -------
    out : tensor (batch, h, w, c)
        Images for the discriminator.
    images, count
        The pool after the query.
    """
    from keras import ops

    if size == 0:
        return fakes, images, count
    slots = ops.reshape(ops.arange(size, dtype="int32"), (size, 1, 1, 1))
    out = []
    for k in range(fakes.shape[0]):
        image = fakes[k]
        full = count >= size
        swap = ops.logical_and(full, draws[k, 0] >= 0.5)
        slot = ops.where(full, ops.minimum(ops.cast(draws[k, 1] * size, "int32"), size - 1),
                         count)
        stored = ops.take(images, slot, axis=0)
        out.append(ops.where(swap, stored, image))
        keep = ops.where(ops.logical_or(ops.logical_not(full), swap), image, stored)
        images = ops.where(slots == slot, keep[None], images)
        count = ops.minimum(count + 1, size)
    return ops.stack(out), images, count


class ImagePool:
    """The state of one domain's pool: ``images`` (size, h, w, c) and ``count``, two
    non-trainable Keras variables (per device under a ``tf.distribute`` strategy), named
    ``{name}/images`` and ``{name}/count`` in checkpoints.

    Parameters
    ----------
    size : int
        Images kept; 0 returns every fake unchanged.
    image_shape : tuple of int
        (height, width, channels).
    """

    def __init__(self, size: int, image_shape: tuple[int, int, int], name: str = "pool"):
        import keras

        local = dict(trainable=False, synchronization="on_read",
                     aggregation="only_first_replica")
        self.size = int(size)
        with keras.name_scope(name):
            self.images = keras.Variable(np.zeros((max(self.size, 1), *image_shape), np.float32),
                                         dtype="float32", name="images", **local)
            self.count = keras.Variable(0, dtype="int32", name="count", **local)

    def query(self, fakes, draws):
        """Query the pool and update its variables (see :func:`pool_query`); returns the
        images for the discriminator, shape of ``fakes``."""
        out, images, count = pool_query(self.images.value, self.count.value, fakes, draws,
                                        self.size)
        self.images.assign(images)
        self.count.assign(count)
        return out


# ---- one step, written once -------------------------------------------------------------------

def cyclegan_losses(config: TrainConfig, call, a, b, pools, draws):
    """The losses of one training step, and the pools after it; backend-neutral.

    Parameters
    ----------
    config : refacing_lib.model.training.TrainConfig
    call : callable
        ``call(name, images, frozen=False)``: the output of network ``name`` (one of
        ``G_AB``, ``G_BA``, ``D_A``, ``D_B``) on ``images``, as float32. ``frozen=True`` marks
        the discriminator passes of the generator loss: a backend that differentiates one
        sum of all losses (JAX) stops the gradient of the discriminator's weights there.
    a, b : tensors (batch, s, s, 1)
        Anonymized and original images in [-1, 1].
    pools : ((images_A, count_A), (images_B, count_B))
        The two pools' state (see :func:`pool_query`).
    draws : tensor (2, batch, 2)
        From :func:`pool_draws`.

    Returns
    -------
    losses : dict
        Scalar tensors named as :data:`LOSSES`: ``g_total`` is the generators' objective,
        ``d_A`` and ``d_B`` the discriminators'.
    pools : tuple
        The pools after this step, as ``pools``.
    """
    from keras import ops

    cfg = config
    fake_b, fake_a = call("G_AB", a), call("G_BA", b)
    cycle = (mean_absolute_error(a, call("G_BA", fake_b))
             + mean_absolute_error(b, call("G_AB", fake_a)))
    g_ab = lsgan_generator_loss(call("D_B", fake_b, frozen=True))
    g_ba = lsgan_generator_loss(call("D_A", fake_a, frozen=True))
    identity = supervised = ops.zeros((), "float32")
    if cfg.identity_weight:
        identity = mean_absolute_error(b, call("G_AB", b)) + mean_absolute_error(a, call("G_BA", a))
    if cfg.supervised_weight:
        distance = mean_squared_error if cfg.supervised_loss == "mse" else mean_absolute_error
        supervised = distance(fake_b, b) + distance(fake_a, a)
    g_total = (g_ab + g_ba + cfg.cycle_weight * cycle + cfg.identity_weight * identity
               + cfg.supervised_weight * supervised)
    (images_a, count_a), (images_b, count_b) = pools
    pooled_a, images_a, count_a = pool_query(images_a, count_a, ops.stop_gradient(fake_a),
                                             draws[0], cfg.pool_size)
    pooled_b, images_b, count_b = pool_query(images_b, count_b, ops.stop_gradient(fake_b),
                                             draws[1], cfg.pool_size)
    d_b = lsgan_discriminator_loss(call("D_B", b), call("D_B", pooled_b))
    d_a = lsgan_discriminator_loss(call("D_A", a), call("D_A", pooled_a))
    values = (g_ab, g_ba, cycle, identity, supervised, g_total, d_a, d_b)
    return dict(zip(LOSSES, values)), ((images_a, count_a), (images_b, count_b))


# ---- the model ----------------------------------------------------------------------------------

class CycleGAN:
    """Two generators, two discriminators, their optimizers and pools, and the training step.

    Every variable is named by its Keras path, unique in the CycleGAN (``G_AB/c7s1_conv/
    kernel``, ``adam_G/G_AB_c7s1_conv_kernel_momentum``, ``pool_A/images``, ...):
    :attr:`variables` is what a checkpoint holds (:mod:`refacing_lib.model.checkpoints`).

    Parameters
    ----------
    config : refacing_lib.model.training.TrainConfig
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

    def __init__(self, config: TrainConfig, strategy=None):
        import keras

        from .networks import build_discriminator, build_generator

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
        policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy(PRECISIONS[config.precision])
        try:
            with self.strategy.scope() if self.strategy else nullcontext():
                if self.backend == "tensorflow":
                    keras.utils.set_random_seed(config.seed)
                gen = dict(image_size=size, channels=1, filters=config.filters,
                           residual_blocks=config.residual_blocks, input_skip=config.input_skip)
                nets = {}
                for name in NETWORKS:
                    with keras.name_scope(name):
                        nets[name] = (build_generator(**gen, name=name) if name[0] == "G" else
                                      build_discriminator(size, 1, config.disc_filters, name=name))
                self.g_ab, self.g_ba, self.d_a, self.d_b = (nets[n] for n in NETWORKS)
                adam = dict(learning_rate=config.learning_rate, beta_1=config.beta_1,
                            beta_2=0.999)
                self.opt_g = keras.optimizers.Adam(**adam, name="adam_G")
                self.opt_d_a = keras.optimizers.Adam(**adam, name="adam_D_A")
                self.opt_d_b = keras.optimizers.Adam(**adam, name="adam_D_B")
                self.opt_g.build(self.g_ab.trainable_variables + self.g_ba.trainable_variables)
                self.opt_d_a.build(self.d_a.trainable_variables)
                self.opt_d_b.build(self.d_b.trainable_variables)
                self.pool_a = ImagePool(config.pool_size, (size, size, 1), "pool_A")
                self.pool_b = ImagePool(config.pool_size, (size, size, 1), "pool_B")
                if self.backend != "tensorflow":
                    _seed_weights(nets.values(), config.seed)
        finally:
            keras.config.set_dtype_policy(policy)
        self.networks = nets
        self.trace_count = 0
        self._step = (_TensorFlowStep if self.backend == "tensorflow" else _JaxStep)(self)

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

    def train_step(self, a, b, step: int, learning_rate: float | None = None) -> dict[str, float]:
        """One update of all four networks on a batch; returns the losses as floats.

        Parameters
        ----------
        a, b : numpy arrays (batch, size, size, 1)
            Batches of domain A and B in [-1, 1] (the global batch; split across devices).
        step : int
            The step's number from 0: seeds the pools' draws (:func:`pool_draws`).
        learning_rate : float, optional
            The learning rate of this step for all three optimizers; default: unchanged.
        """
        draws = pool_draws(self.config.seed, int(step), self.config.batch_size)
        if learning_rate is None:
            learning_rate = float(np.asarray(self.opt_g.learning_rate))
        losses = self._step(np.asarray(a, np.float32), np.asarray(b, np.float32), draws,
                            np.float32(learning_rate))
        return {k: float(losses[k]) for k in LOSSES}


def _seed_weights(models, seed: int) -> None:
    """Draw the networks' initial weights with numpy from ``seed``, by each layer's Keras
    initializer (Glorot uniform, zeros, ones): reproducible on any backend without
    ``keras.utils.set_random_seed``, which imports TensorFlow wherever it is installed."""
    rng = np.random.default_rng([seed, 1])
    for model in models:
        for layer in model.layers:
            for variable in layer.weights:
                name = variable.path.rsplit("/", 1)[-1]
                kind = type(getattr(layer, f"{name}_initializer")).__name__
                shape = tuple(variable.shape)
                if kind == "GlorotUniform":
                    field = int(np.prod(shape[:-2]))
                    limit = np.sqrt(6 / (field * (shape[-2] + shape[-1])))
                    value = rng.uniform(-limit, limit, shape)
                elif kind in ("Zeros", "Ones"):
                    value = np.full(shape, float(kind == "Ones"))
                else:
                    raise NotImplementedError(f"{variable.path}: initializer {kind}")
                variable.assign(value.astype(np.float32))


class _TensorFlowStep:
    """The step on TensorFlow: a persistent ``GradientTape`` in one ``tf.function``, run per
    replica of the CycleGAN's strategy (global means: each replica's losses are scaled by its
    share and summed)."""

    def __init__(self, gan: CycleGAN):
        import tensorflow as tf

        self.gan = gan
        self.function = tf.function(self._distributed)

    def __call__(self, a, b, draws, learning_rate):
        import tensorflow as tf

        strategy = self.gan.strategy
        if strategy.num_replicas_in_sync > 1:
            local = len(a) // strategy.num_replicas_in_sync

            def part(context, array, axis):
                start = context.replica_id_in_sync_group * local
                return tf.constant(np.take(array, range(start, start + local), axis=axis))

            a, b, draws = (strategy.experimental_distribute_values_from_function(
                lambda context, x=x, axis=axis: part(context, x, axis))
                for x, axis in ((a, 0), (b, 0), (draws, 1)))
        return self.function(a, b, draws, tf.constant(learning_rate))

    def _distributed(self, a, b, draws, learning_rate):
        import tensorflow as tf

        gan = self.gan
        gan.trace_count += 1
        for opt in (gan.opt_g, gan.opt_d_a, gan.opt_d_b):
            opt.learning_rate.assign(learning_rate)
        per_replica = gan.strategy.run(self._replica, args=(a, b, draws))
        return {k: gan.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for k, v in per_replica.items()}

    def _replica(self, a, b, draws):
        import tensorflow as tf
        from keras import ops

        gan = self.gan
        share = 1.0 / gan.strategy.num_replicas_in_sync      # per-device mean -> global mean
        nets = gan.networks

        def call(name, x, frozen=False):
            return ops.cast(nets[name](x, training=True), "float32")

        pools = [(p.images.value, p.count.value) for p in (gan.pool_a, gan.pool_b)]
        with tf.GradientTape(persistent=True) as tape:
            losses, pools = cyclegan_losses(gan.config, call, a, b, pools, draws)
            losses = {name: share * value for name, value in losses.items()}
        for pool, (images, count) in zip((gan.pool_a, gan.pool_b), pools):
            pool.images.assign(images)
            pool.count.assign(count)
        g_vars = gan.g_ab.trainable_variables + gan.g_ba.trainable_variables
        for name, opt, variables in (("g_total", gan.opt_g, g_vars),
                                     ("d_A", gan.opt_d_a, gan.d_a.trainable_variables),
                                     ("d_B", gan.opt_d_b, gan.d_b.trainable_variables)):
            opt.apply_gradients(zip(tape.gradient(losses[name], variables), variables))
        del tape
        return losses


class _JaxStep:
    """The step on JAX: one ``jax.jit``-compiled pure function of the whole training state.

    The gradient of ``g_total + d_A + d_B`` is taken once: the generators' weights get the
    generator objective's gradient (the discriminator losses see their fakes through a
    stopped gradient), each discriminator's weights its own loss's (the generator loss uses
    the discriminators with stopped weights), as the TensorFlow step's three separate
    gradients. Under ``keras.distribution.DataParallel`` the batch is sharded across the
    devices and XLA partitions the step; the losses are those of the global batch.
    """

    def __init__(self, gan: CycleGAN):
        import jax
        import keras

        self.gan = gan
        self.opts = (gan.opt_g, gan.opt_d_a, gan.opt_d_b)
        self.rate_index = [[v.path for v in opt.variables].index(f"{opt.name}/learning_rate")
                           for opt in self.opts]
        self.distribution = keras.distribution.distribution()
        self.function = jax.jit(self._step)

    def _state(self):
        gan = self.gan
        weights = {n: [v.value for v in m.trainable_variables] for n, m in gan.networks.items()}
        opts = [[v.value for v in opt.variables] for opt in self.opts]
        pools = [(p.images.value, p.count.value) for p in (gan.pool_a, gan.pool_b)]
        return weights, opts, pools

    def __call__(self, a, b, draws, learning_rate):
        import jax

        if self.distribution is not None:
            layout = self.distribution.get_data_layout(a.shape).backend_layout
            a, b = jax.device_put(a, layout), jax.device_put(b, layout)
        (weights, opts, pools), losses = self.function(self._state(), a, b, draws,
                                                       learning_rate)
        gan = self.gan
        for name, model in gan.networks.items():
            for variable, value in zip(model.trainable_variables, weights[name]):
                variable.assign(value)
        for opt, values in zip(self.opts, opts):
            for variable, value in zip(opt.variables, values):
                variable.assign(value)
        for pool, (images, count) in zip((gan.pool_a, gan.pool_b), pools):
            pool.images.assign(images)
            pool.count.assign(count)
        return losses

    def _step(self, state, a, b, draws, learning_rate):
        import jax
        from keras import ops

        gan = self.gan
        gan.trace_count += 1
        weights, opts, pools = state

        def objective(weights):
            def call(name, x, frozen=False):
                values = weights[name]
                if frozen:
                    values = [jax.lax.stop_gradient(v) for v in values]
                out, _ = gan.networks[name].stateless_call(values, [], x, training=True)
                return ops.cast(out, "float32")

            losses, new_pools = cyclegan_losses(gan.config, call, a, b, pools, draws)
            return losses["g_total"] + losses["d_A"] + losses["d_B"], (losses, new_pools)

        grads, (losses, pools) = jax.grad(objective, has_aux=True)(weights)
        groups = ((("G_AB", "G_BA"), gan.opt_g), (("D_A",), gan.opt_d_a),
                  (("D_B",), gan.opt_d_b))
        new_weights, new_opts = {}, []
        for (names, opt), values, index in zip(groups, opts, self.rate_index):
            values = list(values)
            values[index] = ops.cast(learning_rate, values[index].dtype)
            params = [w for n in names for w in weights[n]]
            updated, values = opt.stateless_apply(values, [g for n in names for g in grads[n]],
                                                  params)
            start = 0
            for n in names:
                new_weights[n] = updated[start:start + len(weights[n])]
                start += len(weights[n])
            new_opts.append(values)
        return (new_weights, new_opts, pools), losses
