"""What the CycleGAN step needs beyond :meth:`CycleGAN.tensorflow_step
<refacing_lib.model.cyclegan.CycleGAN.tensorflow_step>`: the same step on JAX, the step under a
``tf.distribute`` strategy (several devices), mixed precision, and weights drawn without
TensorFlow.

On JAX the step is one ``jax.jit``-compiled pure function of the whole training state
(``stateless_call``, ``jax.grad``, ``optimizer.stateless_apply``; data parallel with
``keras.distribution.DataParallel``), and nothing here imports TensorFlow.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from .losses import (
    DISTANCES,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    mean_absolute_error,
)
from .pools import pool_query

__all__ = ["PRECISIONS", "precision", "seed_weights", "TensorFlowStep", "JaxStep"]

PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
"""Training precisions and the Keras dtype policy of each: ``bfloat16`` computes the networks
in bfloat16 and keeps float32 weights, optimizer moments and losses."""


@contextmanager
def precision(name: str):
    """Build networks under the Keras dtype policy of ``name`` (a key of :data:`PRECISIONS`);
    the previous policy is restored afterwards."""
    import keras

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(PRECISIONS[name])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def seed_weights(models, seed: int) -> None:
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


class TensorFlowStep:
    """:meth:`CycleGAN.tensorflow_step` compiled with ``tf.function`` and run on every replica
    of the CycleGAN's ``tf.distribute`` strategy (the default strategy: one device). Each
    replica gets its share of the global batch; its losses are scaled by its share, so their
    sum over the replicas is the global batch's mean."""

    def __init__(self, gan):
        import tensorflow as tf

        self.gan = gan
        self.function = tf.function(self._distributed)

    def __call__(self, a, b, draws):
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
        return self.function(a, b, draws)

    def _distributed(self, a, b, draws):
        import tensorflow as tf

        gan = self.gan
        gan.trace_count += 1
        per_replica = gan.strategy.run(gan.tensorflow_step, args=(a, b, draws))
        return {k: gan.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for k, v in per_replica.items()}


def pure_losses(config, call, a, b, pools, draws):
    """The losses of :meth:`CycleGAN.tensorflow_step` as a pure function of the network calls,
    for ``jax.grad``; ``tests/test_jax.py`` checks that both give the same losses and updates.

    Parameters
    ----------
    config : refacing_lib.model.cyclegan.TrainConfig
    call : callable
        ``call(name, images, frozen=False)``: the output of network ``name`` (``G_AB``,
        ``G_BA``, ``D_A``, ``D_B``) on ``images``, as float32; ``frozen=True`` marks the
        discriminator passes of the generator loss, whose weights get no gradient from it.
    a, b : tensors (batch, s, s, 1)
        Anonymized and original images in [-1, 1].
    pools : ((images_A, count_A), (images_B, count_B))
        The two pools' state (see :func:`refacing_lib.model.pools.pool_query`).
    draws : tensor (2, batch, 2)
        From :func:`refacing_lib.model.pools.pool_draws`.

    Returns
    -------
    losses : dict
        Scalar tensors named as :data:`refacing_lib.model.cyclegan.LOSSES`.
    pools : tuple
        The pools after this step, as ``pools``.
    """
    from keras import ops

    from .cyclegan import LOSSES

    c = config
    fake_b, fake_a = call("G_AB", a), call("G_BA", b)
    cycle = (mean_absolute_error(a, call("G_BA", fake_b))
             + mean_absolute_error(b, call("G_AB", fake_a)))
    g_ab = lsgan_generator_loss(call("D_B", fake_b, frozen=True))
    g_ba = lsgan_generator_loss(call("D_A", fake_a, frozen=True))
    identity = supervised = ops.zeros((), "float32")
    if c.identity_weight:
        identity = (mean_absolute_error(b, call("G_AB", b))
                    + mean_absolute_error(a, call("G_BA", a)))
    if c.supervised_weight:
        distance = DISTANCES[c.supervised_loss]
        supervised = distance(fake_b, b) + distance(fake_a, a)
    g_total = (g_ab + g_ba + c.cycle_weight * cycle + c.identity_weight * identity
               + c.supervised_weight * supervised)
    (images_a, count_a), (images_b, count_b) = pools
    pooled_a, images_a, count_a = pool_query(images_a, count_a, ops.stop_gradient(fake_a),
                                             draws[0], c.pool_size)
    pooled_b, images_b, count_b = pool_query(images_b, count_b, ops.stop_gradient(fake_b),
                                             draws[1], c.pool_size)
    d_b = lsgan_discriminator_loss(call("D_B", b), call("D_B", pooled_b))
    d_a = lsgan_discriminator_loss(call("D_A", a), call("D_A", pooled_a))
    values = (g_ab, g_ba, cycle, identity, supervised, g_total, d_a, d_b)
    return dict(zip(LOSSES, values)), ((images_a, count_a), (images_b, count_b))


class JaxStep:
    """The step on JAX: one ``jax.jit``-compiled pure function of the whole training state.

    The gradient of ``g_total + d_A + d_B`` is taken once: the generators' weights get the
    generator objective's gradient (the discriminator losses see their fakes through a
    stopped gradient), each discriminator's weights its own loss's (the generator loss uses
    the discriminators with stopped weights), as the TensorFlow step's three separate
    gradients. Under ``keras.distribution.DataParallel`` the batch is sharded across the
    devices and XLA partitions the step; the losses are those of the global batch.
    """

    def __init__(self, gan):
        import jax
        import keras

        self.gan = gan
        self.opts = (gan.opt_g, gan.opt_d_a, gan.opt_d_b)
        self.distribution = keras.distribution.distribution()
        self.function = jax.jit(self._step)

    def _state(self):
        gan = self.gan
        weights = {n: [v.value for v in m.trainable_variables] for n, m in gan.networks.items()}
        opts = [[v.value for v in opt.variables] for opt in self.opts]
        pools = [(p.images.value, p.count.value) for p in (gan.pool_a, gan.pool_b)]
        return weights, opts, pools

    def __call__(self, a, b, draws):
        import jax

        if self.distribution is not None:
            layout = self.distribution.get_data_layout(a.shape).backend_layout
            a, b = jax.device_put(a, layout), jax.device_put(b, layout)
        (weights, opts, pools), losses = self.function(self._state(), a, b, draws)
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

    def _step(self, state, a, b, draws):
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

            losses, new_pools = pure_losses(gan.config, call, a, b, pools, draws)
            return losses["g_total"] + losses["d_A"] + losses["d_B"], (losses, new_pools)

        grads, (losses, pools) = jax.grad(objective, has_aux=True)(weights)
        groups = ((("G_AB", "G_BA"), gan.opt_g), (("D_A",), gan.opt_d_a),
                  (("D_B",), gan.opt_d_b))
        new_weights, new_opts = {}, []
        for (names, opt), values in zip(groups, opts):
            params = [w for n in names for w in weights[n]]
            updated, values = opt.stateless_apply(values, [g for n in names for g in grads[n]],
                                                  params)
            start = 0
            for n in names:
                new_weights[n] = updated[start:start + len(weights[n])]
                start += len(weights[n])
            new_opts.append(values)
        return (new_weights, new_opts, pools), losses
