"""Benchmark of the CycleGAN training step on TensorFlow or JAX: milliseconds per step, images
per second, and what that means for the paper's trainings.

It times :meth:`refacing_lib.model.cyclegan.CycleGAN.train_step`, the step :func:`train` runs
(pools, learning rate, losses fetched as floats), on random images, for each image size, batch and
precision asked, and projects the wall time of the paper's trainings (200 epochs of 6,300
images for Guy's, 10,500 for all sites, batch 1 in the paper; with batch B, 1/B the steps)
from the measured step. The first step (compilation) is timed apart. On TensorFlow it also
times a plain fused reference step of the same networks (one ``tf.function``: the LSGAN and
cycle losses, three Adam updates, no pools, schedule or strategy), so the course step's own
cost shows.

    python benchmarks/bench_training.py                                  # TensorFlow, CPU
    python benchmarks/bench_training.py --backend jax --sizes 256 --batches 1 8 \\
        --precisions float32 bfloat16                                    # a GPU machine
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

PAPER_IMAGES = {"guys": 300 * 21, "all": 500 * 21}   # training images of the two experiments
PAPER_EPOCHS = 200


def _parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--backend", choices=("tensorflow", "jax"),
                        default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"],
                        choices=("float32", "bfloat16"))
    parser.add_argument("--steps", type=int, default=10, help="timed steps per case")
    return parser.parse_args(argv)


def _hours(ms_per_step: float, batch: int, experiment: str) -> float:
    """Projected hours of the paper's training of ``experiment`` at this step time."""
    steps = PAPER_EPOCHS * PAPER_IMAGES[experiment] / batch
    return steps * ms_per_step / 3.6e6


def plain_step(gan):
    """A plain fused CycleGAN step of ``gan``'s networks on TensorFlow: ``step(a, b)`` returns
    the generators' loss; its own Adam optimizers; no pools, schedule or strategy."""
    import keras
    import tensorflow as tf

    g_ab, g_ba, d_a, d_b = gan.g_ab, gan.g_ba, gan.d_a, gan.d_b
    opt_g, opt_da, opt_db = (keras.optimizers.Adam(2e-4, beta_1=0.5) for _ in range(3))
    generators = g_ab.trainable_variables + g_ba.trainable_variables

    def mse(x, target):
        return tf.reduce_mean(tf.square(x - target))

    @tf.function
    def step(a, b):
        with tf.GradientTape(persistent=True) as tape:
            fake_b, fake_a = g_ab(a, training=True), g_ba(b, training=True)
            cycle = (tf.reduce_mean(tf.abs(g_ba(fake_b, training=True) - a))
                     + tf.reduce_mean(tf.abs(g_ab(fake_a, training=True) - b)))
            g_loss = (mse(d_b(fake_b, training=True), 1.0) + mse(d_a(fake_a, training=True), 1.0)
                      + 10.0 * cycle)
            da_loss = 0.5 * (mse(d_a(a, training=True), 1.0)
                             + mse(d_a(tf.stop_gradient(fake_a), training=True), 0.0))
            db_loss = 0.5 * (mse(d_b(b, training=True), 1.0)
                             + mse(d_b(tf.stop_gradient(fake_b), training=True), 0.0))
        opt_g.apply_gradients(zip(tape.gradient(g_loss, generators), generators))
        opt_da.apply_gradients(zip(tape.gradient(da_loss, d_a.trainable_variables),
                                   d_a.trainable_variables))
        opt_db.apply_gradients(zip(tape.gradient(db_loss, d_b.trainable_variables),
                                   d_b.trainable_variables))
        return g_loss

    return step


def _time(step, a, b, steps: int) -> tuple[float, float]:
    """Seconds of the first call of ``step(a, b, i)`` and median ms of the next ``steps``."""
    start = time.perf_counter()
    step(a, b, 0)
    first = time.perf_counter() - start
    times = []
    for i in range(1, steps + 1):
        start = time.perf_counter()
        step(a, b, i)
        times.append(time.perf_counter() - start)
    return first, 1000 * float(np.median(times))


def main(argv=None) -> None:
    args = _parse(argv)
    os.environ["KERAS_BACKEND"] = args.backend        # before Keras is imported
    import keras

    from refacing_lib.model.cyclegan import CycleGAN
    from refacing_lib.model.training import TrainConfig

    if args.backend == "jax":
        import jax

        devices = (f"JAX {jax.__version__} on "
                   f"{', '.join(sorted({d.device_kind for d in jax.devices()}))}")
    else:
        import tensorflow as tf

        devices = (f"TensorFlow {tf.__version__}, "
                   f"{len(tf.config.list_physical_devices('GPU'))} GPU(s)")
    print(f"Keras {keras.__version__} on {devices}; median of {args.steps} steps "
          f"after the first (compilation)\n")
    plain = args.backend == "tensorflow"
    print("| pixels | batch | precision | first step s | ms / step | images / s | "
          "Guy's, 200 epochs | all sites, 200 epochs |" + (" plain step ms |" if plain else ""))
    print("|---|---|---|---|---|---|---|---|" + ("---|" if plain else ""))
    rng = np.random.default_rng(0)
    for size in args.sizes:
        for batch in args.batches:
            for precision in args.precisions:
                config = TrainConfig(image_size=size, batch_size=batch, precision=precision)
                gan = CycleGAN(config)
                a, b = (rng.uniform(-1, 1, (batch, size, size, 1)).astype(np.float32)
                        for _ in range(2))
                first, ms = _time(gan.train_step, a, b, args.steps)
                row = (f"| {size} | {batch} | {precision} | {first:.1f} | {ms:.1f} | "
                       f"{1000 * batch / ms:.1f} | {_hours(ms, batch, 'guys'):.0f} h | "
                       f"{_hours(ms, batch, 'all'):.0f} h |")
                if plain and precision == "float32":
                    reference = plain_step(gan)
                    _, plain_ms = _time(lambda a, b, i: float(reference(a, b)), a, b, args.steps)
                    row += f" {plain_ms:.1f} |"
                elif plain:
                    row += " - |"
                print(row, flush=True)
                del gan
    print(f"\nThe paper: about 48 h (Guy's) and 96 h (all sites) per training on a Titan X "
          f"Pascal, batch 1, i.e. about {48 * 3.6e6 / (PAPER_EPOCHS * PAPER_IMAGES['guys']):.0f}"
          f" ms per step.", file=sys.stdout)


if __name__ == "__main__":
    main()
