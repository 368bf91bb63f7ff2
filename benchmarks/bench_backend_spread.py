"""How far a run that crosses backends drifts from one that stays on TensorFlow, and how far a
crossing that loses part of the training state drifts: the figures behind the tolerance of
``tests/test_jax.py::test_a_run_crosses_backends_and_goes_on_with_the_same_losses``.

For each seed, the test's tiny run (6 steps) is trained on TensorFlow to step 2, goes on on JAX
(a subprocess) to step 4 and back on TensorFlow to step 6; its losses are compared with an
uninterrupted TensorFlow run. The two backends round differently and Adam amplifies it, so the
crossed losses drift a little; that drift is the spread the test's tolerance must cover. Then,
on TensorFlow alone, the run is resumed at step 2 from a checkpoint whose Adam moments, image
pools or optimizer step counters were zeroed: the drift a broken crossing causes, which the
tolerance must still catch.

    python benchmarks/bench_backend_spread.py --seeds 0 1 2 3 4 5 6 7
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

TINY = dict(image_size=32, filters=4, residual_blocks=1, disc_filters=8, samples=2)
RUN = dict(**TINY, epochs=2, steps_per_epoch=3, pool_size=2)   # the test's run
QUIET = dict(progress=False, log=lambda line: None)
#: What a broken crossing loses: variables whose path matches, zeroed at step 2.
DEFECTS = {"Adam moments": lambda k: k.startswith("adam_") and not k.endswith("iteration"),
           "image pools": lambda k: k.startswith("pool_"),
           "step counters": lambda k: k.endswith("iteration")}


def _dataset(folder: Path):
    """The test suite's small slice dataset (tests/conftest.py: slice_cohort, slice_dataset)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import SLICE_COHORT_NAMES, small_head

    from refacing_lib.data.io import save_volume
    from refacing_lib.slicing.datasets import build_dataset, open_dataset

    affine = np.diag([1.2, 0.9375, 0.9375, 1.0])
    for n, name in enumerate(SLICE_COHORT_NAMES):
        data = small_head(n, shift_x=(n % 3) - 1)
        save_volume(folder / "original" / name, data, affine, orientation="PSR", dtype=np.int16)
        data[:, -12:, :] = 0
        save_volume(folder / "anonymized" / name, data, affine, orientation="PSR",
                    dtype=np.int16)
    return open_dataset(build_dataset(folder / "original", folder / "anonymized",
                                      folder / "synthetic-all-remove", **QUIET))


def _drift(run, whole) -> float:
    """The largest relative difference of any loss at any step."""
    from refacing_lib.model.training import LOSSES

    a, b = run.history()[list(LOSSES)].to_numpy(), whole.history()[list(LOSSES)].to_numpy()
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1e-5)))


def _on_jax(dataset: Path, run_dir: Path, config: dict, until_step: int) -> None:
    """Go on with the run in a subprocess on JAX (the test's settings)."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "CUDA_VISIBLE_DEVICES": "",
           "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    job = [sys.executable, __file__, "--jax", str(dataset), str(run_dir), json.dumps(config),
           str(until_step)]
    subprocess.run(job, env=env, check=True, capture_output=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    parser.add_argument("--jax", nargs=4, help=argparse.SUPPRESS)   # the JAX subprocess
    args = parser.parse_args(argv)
    from refacing_lib.model import checkpoints
    from refacing_lib.model.cyclegan import CycleGAN
    from refacing_lib.model.training import TrainConfig, train

    if args.jax:
        from refacing_lib.slicing.datasets import open_dataset

        dataset, run_dir, config, until = args.jax
        train(open_dataset(dataset), run_dir, TrainConfig(**json.loads(config)),
              until_step=int(until), **QUIET)
        return
    work = Path(tempfile.mkdtemp(prefix="backend_spread_"))
    dataset = _dataset(work)
    print("| seed | crossed TensorFlow -> JAX -> TensorFlow: largest relative loss drift |")
    print("|---|---|")
    drifts = []
    for seed in args.seeds:
        config = TrainConfig(**RUN, seed=seed)
        train(dataset, work / f"crossed{seed}", config, until_step=2, **QUIET)
        _on_jax(dataset.folder, work / f"crossed{seed}", RUN | {"seed": seed}, 4)
        crossed = train(dataset, work / f"crossed{seed}", config, **QUIET)
        drifts.append(_drift(crossed, train(dataset, work / f"whole{seed}", config, **QUIET)))
        print(f"| {seed} | {drifts[-1]:.2e} |", flush=True)
    print(f"\nlargest over {len(drifts)} seeds: {max(drifts):.2e}\n")
    print("| state lost at the crossing (seed 0, TensorFlow only) | largest relative drift |")
    print("|---|---|")
    config = TrainConfig(**RUN)
    whole = train(dataset, work / "whole0", config, **QUIET)
    for name, lost in DEFECTS.items():
        run_dir = work / f"lost-{name.replace(' ', '-')}"
        train(dataset, run_dir, config, until_step=2, **QUIET)
        (path,) = sorted((run_dir / "checkpoints").glob("step_*.npz"))
        gan = CycleGAN(config)
        progress = checkpoints.restore(path, gan.variables, config)
        for key, variable in gan.variables.items():
            if lost(key):
                variable.assign(np.zeros(variable.shape, variable.dtype))
        checkpoints.save(path, gan.variables, progress, config)
        print(f"| {name} | {_drift(train(dataset, run_dir, config, **QUIET), whole):.2e} |")


if __name__ == "__main__":
    main()
