"""The pipelines that feed a slice dataset (:mod:`.datasets`) to the models: batches of
anonymized (A) and original (B) images in [-1, 1], shrunk to the training size, shuffled per
epoch from the seed alone; tf.data pipelines for TensorFlow, plain numpy batches for any
backend (what :func:`refacing_lib.model.training.train` reads).
"""

from __future__ import annotations

import numpy as np

from .datasets import SPLITS, SliceDataset, decode
from .slices import shrink

__all__ = ["cyclegan_pipeline", "paired_pipeline", "numpy_batches"]


def cyclegan_pipeline(dataset: SliceDataset, split: str = "train", *, batch_size: int = 1,
                      image_size: int | None = None, seed: int = 0, epoch: int = 0,
                      shuffle: bool = True):
    """One epoch of UNPAIRED (A, B) batches for CycleGAN training, as a tf.data.Dataset.

    A and B are shuffled independently (a different permutation each), so a batch pairs
    anonymized and original slices of different subjects, as CycleGAN assumes. The order is
    a function of ``(seed, epoch)`` alone, so a resumed training sees the same batches.
    The same batches, as numpy arrays and without TensorFlow: :func:`numpy_batches`.

    Parameters
    ----------
    dataset : SliceDataset
    split : {"train", "test"}
    batch_size : int
        Images per batch; the last incomplete batch is dropped when shuffling, so every batch
        has the same shape (one traced training step).
    image_size : int, optional
        Down-scale the images to this side by averaging blocks of pixels
        (:func:`refacing_lib.slicing.slices.shrink`; e.g. 128 or 64 for the quick profile); default
        the stored size.
    seed, epoch : int
        Choose the permutations.
    shuffle : bool
        False keeps the stored order (then A and B are paired) and all images.

    Returns
    -------
    tf.data.Dataset
        Elements ``(a, b)``: float32 tensors of shape (batch_size, image_size, image_size, 1)
        in [-1, 1].
    """
    return _pipeline(dataset, split, batch_size, image_size, seed, epoch, False, shuffle)


def paired_pipeline(dataset: SliceDataset, split: str = "train", *, batch_size: int = 1,
                    image_size: int | None = None, seed: int = 0, epoch: int = 0,
                    shuffle: bool = True):
    """One epoch of PAIRED (A, B) batches: ``a[i]`` is the anonymized version of ``b[i]``.

    For supervised models (and the optional supervised term of the CycleGAN). Arguments and
    result as :func:`cyclegan_pipeline`, with one permutation shared by A and B.
    """
    return _pipeline(dataset, split, batch_size, image_size, seed, epoch, True, shuffle)


def numpy_batches(dataset: SliceDataset, split: str = "train", *, batch_size: int = 1,
                  image_size: int | None = None, seed: int = 0, epoch: int = 0,
                  paired: bool = False, shuffle: bool = True, start: int = 0):
    """The batches of :func:`cyclegan_pipeline` (or :func:`paired_pipeline` if ``paired``)
    as numpy arrays, read in the loop that uses them: no TensorFlow, any Keras backend.

    ``start`` skips the first batches of the epoch (a resumed training). Yields ``(a, b)``,
    float32 arrays (batch_size, image_size, image_size, 1) in [-1, 1], the same values as
    the tf.data pipelines give.
    """
    order_a, order_b, size, image_size = _plan(dataset, split, batch_size, image_size, seed,
                                               epoch, paired, shuffle)
    for i in range(start * batch_size, len(order_a) - (batch_size - 1 if shuffle else 0),
                   batch_size):
        yield _read_batch(dataset, split, order_a[i:i + batch_size], order_b[i:i + batch_size],
                          size, image_size)


def _plan(dataset, split, batch_size, image_size, seed, epoch, paired, shuffle):
    """The image orders of A and B for one epoch, the stored size and the output size."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    n = len(dataset.arrays[split, "A"])
    size = dataset.info["settings"]["size"]
    image_size = image_size or size
    if image_size > size or size % image_size:
        raise ValueError(f"image_size must divide the stored size {size}, got {image_size}")
    if shuffle and n < batch_size:
        raise ValueError(f"the {split} split has {n} images, fewer than one batch "
                         f"of {batch_size}")
    if not shuffle:
        order_a = order_b = np.arange(n)
    else:
        order_a = np.random.default_rng([seed, epoch, 0]).permutation(n)
        order_b = order_a if paired else np.random.default_rng([seed, epoch, 1]).permutation(n)
    return order_a, order_b, size, image_size


def _read_batch(dataset, split, index_a, index_b, size, image_size):
    """Images ``index_a`` of A and ``index_b`` of B, decoded and shrunk: two float32 arrays
    (batch, image_size, image_size, 1)."""
    a, b = (shrink(decode(dataset.arrays[split, d][np.asarray(i)]), image_size)[..., None]
            for d, i in (("A", index_a), ("B", index_b)))
    return a, b


def _pipeline(dataset, split, batch_size, image_size, seed, epoch, paired, shuffle):
    import tensorflow as tf

    order_a, order_b, size, image_size = _plan(dataset, split, batch_size, image_size, seed,
                                               epoch, paired, shuffle)

    def load(ia, ib):
        a, b = tf.numpy_function(lambda i, j: _read_batch(dataset, split, i, j, size, image_size),
                                 [ia, ib], [tf.float32, tf.float32], stateful=False)
        shape = [None, image_size, image_size, 1]
        return tf.ensure_shape(a, shape), tf.ensure_shape(b, shape)

    pairs = tf.data.Dataset.from_tensor_slices((order_a.astype(np.int64),
                                                order_b.astype(np.int64)))
    return (pairs.batch(batch_size, drop_remainder=shuffle)
            .map(load, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))
