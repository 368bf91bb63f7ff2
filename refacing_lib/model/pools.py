"""The image pools of the CycleGAN's discriminators (Shrivastava et al., 2017; GAN-MRI): each
discriminator learns from a pool of past fakes, not only the newest ones. Written in
backend-neutral ``keras.ops``; the random draws are numpy numbers drawn from ``(seed, step)``,
the same on every backend, so a run can go on on the other backend with the same losses.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pool_draws", "pool_query", "ImagePool"]


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
