"""How far JAX's data-parallel step (two devices, each half of a batch of 4) drifts from the
one-device step on the whole batch, and how far a data-parallel step that does not average
its devices would: the figures behind the tolerance of
``tests/test_jax.py::test_jax_data_parallel_gives_the_one_device_losses``.

For each seed, the test's tiny networks (every loss term on) start from the seed's weights and
take 3 steps on random batches of 4 on one device, then the same on two host devices
(``keras.distribution.DataParallel``); the losses are compared step by step. The defect: the
one-device step on the first half of each batch alone, what a device that ignores the other
would compute.

    python benchmarks/bench_data_parallel_spread.py --seeds 0 1 2 3 4 5 6 7
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np

TINY = dict(image_size=32, filters=4, residual_blocks=1, disc_filters=8, samples=2)
STEP = dict(**TINY, batch_size=4, pool_size=2, identity_weight=0.5, supervised_weight=1.0,
            decay_from=0.25)


def _relative(a, b) -> float:
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1e-5)))


def _seed(seed: int) -> dict[str, float]:
    """The drifts of one seed (run on JAX with two host devices)."""
    import jax
    import keras

    from refacing_lib.model.cyclegan import CycleGAN, TrainConfig

    config = TrainConfig(**STEP, seed=seed)
    rng = np.random.default_rng(seed)
    batches = rng.uniform(-1, 1, (3, 2, 4, 32, 32, 1)).astype(np.float32)

    def losses(gan, half=False):
        return np.array([list(gan.train_step(a[:2] if half else a, b[:2] if half else b,
                                             k).values())
                         for k, (a, b) in enumerate(batches)])

    keras.distribution.set_distribution(None)
    one = losses(CycleGAN(config))
    halves = losses(CycleGAN(TrainConfig(**{**STEP, "batch_size": 2}, seed=seed)), half=True)
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
    two = losses(CycleGAN(config))
    keras.distribution.set_distribution(None)
    return {"two devices": _relative(two, one), "one device, half batch": _relative(halves, one)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.inside:                       # JAX with two host devices, in a subprocess
        env = {**os.environ, "KERAS_BACKEND": "jax", "CUDA_VISIBLE_DEVICES": "",
               "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
        seeds = [str(s) for s in args.seeds]
        subprocess.run([sys.executable, __file__, "--inside", "--seeds", *seeds], env=env,
                       check=True)
        return
    print("| seed | two devices vs one: largest relative loss difference | "
          "one device on half the batch |")
    print("|---|---|---|")
    worst = {}
    for seed in args.seeds:
        drift = _seed(seed)
        print(f"| {seed} | {drift['two devices']:.2e} | {drift['one device, half batch']:.2e} |",
              flush=True)
        worst = {k: max(v, worst.get(k, 0.0)) for k, v in drift.items()}
    print(f"\nlargest over {len(args.seeds)} seeds: two devices {worst['two devices']:.2e}, "
          f"half batch {worst['one device, half batch']:.2e}")


if __name__ == "__main__":
    main()
