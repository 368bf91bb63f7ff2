"""Benchmark of the CycleGAN: milliseconds per training step and per inference, by image size.

For each size it times, side by side in one process on random images (batch 1 unless
``--batch``):

* ``plain``: the same four networks and three Adam optimizers updated in one plain fused
  ``tf.function`` (no pool, no strategy, no learning-rate schedule): the floor;
* ``course``: :meth:`refacing_lib.training.CycleGAN.train_step` as :func:`train` calls it
  (pools, strategy, learning-rate assignment, losses fetched as floats);
* ``inference``: one generator on one image.

The course's step should stay within 1.2x of the plain one.

    python benchmarks/bench_training.py                 # 64, 128 and 256 pixels
    python benchmarks/bench_training.py --sizes 128 --steps 30
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import tensorflow as tf

from refacing_lib.training import (CycleGAN, TrainConfig, lsgan_discriminator_loss,
                                   lsgan_generator_loss, mean_absolute_error)


def plain_step(gan: CycleGAN):
    """The fused step without the course's extras, on the networks of ``gan``."""

    @tf.function
    def step(a, b):
        with tf.GradientTape(persistent=True) as tape:
            fake_b, fake_a = gan.g_ab(a, training=True), gan.g_ba(b, training=True)
            cycle = (mean_absolute_error(a, gan.g_ba(fake_b, training=True))
                     + mean_absolute_error(b, gan.g_ab(fake_a, training=True)))
            g = (lsgan_generator_loss(gan.d_b(fake_b, training=True))
                 + lsgan_generator_loss(gan.d_a(fake_a, training=True)) + 10 * cycle)
            d_b = lsgan_discriminator_loss(gan.d_b(b, training=True),
                                           gan.d_b(tf.stop_gradient(fake_b), training=True))
            d_a = lsgan_discriminator_loss(gan.d_a(a, training=True),
                                           gan.d_a(tf.stop_gradient(fake_a), training=True))
        g_vars = gan.g_ab.trainable_variables + gan.g_ba.trainable_variables
        for loss, opt, variables in ((g, gan.opt_g, g_vars),
                                     (d_a, gan.opt_d_a, gan.d_a.trainable_variables),
                                     (d_b, gan.opt_d_b, gan.d_b.trainable_variables)):
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return g, d_a, d_b

    return step


def _time(fn, steps: int) -> float:
    """Median milliseconds of ``fn()`` over ``steps`` calls, after two warm-up calls."""
    fn(), fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--steps", type=int, default=15, help="timed steps per case")
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, {len(tf.config.list_physical_devices('GPU'))} GPU(s), "
          f"batch {args.batch}, median of {args.steps} steps\n")
    print("| pixels | plain step ms | course step ms | ratio | inference ms |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for size in args.sizes:
        gan = CycleGAN(TrainConfig(image_size=size, batch_size=args.batch))
        a, b = (tf.constant(rng.uniform(-1, 1, (args.batch, size, size, 1)), tf.float32)
                for _ in range(2))
        plain = plain_step(gan)
        counter = iter(range(10**9))
        course_ms = _time(lambda: (gan.set_learning_rate(2e-4),
                                   gan.train_step(a, b, next(counter))), args.steps)
        plain_ms = _time(lambda: [float(x) for x in plain(a, b)], args.steps)
        infer = tf.function(lambda x: gan.g_ab(x, training=False))
        infer_ms = _time(lambda: infer(a[:1]).numpy(), args.steps)
        print(f"| {size} | {plain_ms:.0f} | {course_ms:.0f} | {course_ms / plain_ms:.2f} | "
              f"{infer_ms:.0f} |", flush=True)


if __name__ == "__main__":
    main()
