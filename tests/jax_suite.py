"""The JAX side of tests/test_jax.py, run in a subprocess with KERAS_BACKEND=jax and two host
devices (XLA_FLAGS=--xla_force_host_platform_device_count=2); writes its results to an npz.

    python tests/jax_suite.py DATASET WORK

WORK holds what the TensorFlow side prepared: ``start.npz`` (a checkpoint at step 0),
``batches.npz`` (a, b) and ``crossed/`` (a run TensorFlow trained to step 2;
its checkpoint also as ``tf_step2.npz``).
"""

import json
import sys
from pathlib import Path

import numpy as np


def main(dataset: str, work: str) -> None:
    import keras

    from refacing_lib.model import checkpoints
    from refacing_lib.model.cyclegan import CycleGAN
    from refacing_lib.model.training import TrainConfig, train

    assert keras.backend.backend() == "jax", keras.backend.backend()
    work = Path(work)
    spec = json.loads((work / "spec.json").read_text())
    quiet = dict(progress=False, log=lambda line: None)
    out = {}

    # 1. the same weights and batches as the TensorFlow step
    config = TrainConfig(**spec["step_config"])
    gan = CycleGAN(config, total_steps=spec["step_total"])
    checkpoints.restore(work / "start.npz", gan.variables, config)
    batches = np.load(work / "batches.npz")
    out["step_losses"] = []
    for k, (a, b) in enumerate(zip(batches["a"], batches["b"])):
        out["step_losses"].append(list(gan.train_step(a, b, k).values()))
        if k == 0:
            np.savez(work / "jax_step.npz", **{k: v.numpy() for k, v in gan.variables.items()})
    out["trace_count"] = gan.trace_count

    # 2. a run TensorFlow trained to step 2 goes on to step 4 here
    run = TrainConfig(**spec["run_config"])
    gan = train(dataset, work / "crossed", run, until_step=4, **quiet).gan
    optimizers = (gan.opt_g, gan.opt_d_a, gan.opt_d_b)
    out["crossed_iterations"] = [int(opt.iterations) for opt in optimizers]
    out["crossed_next_rates"] = [float(np.asarray(opt.learning_rate)) for opt in optimizers]
    crossing = CycleGAN(run)            # and TensorFlow's checkpoint, loaded here, written again
    progress = checkpoints.restore(work / "tf_step2.npz", crossing.variables, run)
    checkpoints.save(work / "tf_step2_on_jax.npz", crossing.variables, progress, run)

    # 3. what the JAX session wrote beside TensorFlow's (exact resume on JAX, through real
    # processes: tests/test_interrupts.py)
    out["event_files"] = len(list((work / "crossed" / "logs").glob("events.out.tfevents.*")))

    # 4. mixed precision: bfloat16 networks, float32 weights and losses
    half = CycleGAN(TrainConfig(**{**spec["step_config"], "precision": "bfloat16"}))
    checkpoints.assign(half.variables, checkpoints.read(work / "start.npz")[0], "start.npz")
    out["bf16_losses"] = np.array(list(half.train_step(batches["a"][0], batches["b"][0],
                                                       0).values()))
    out["bf16_weight_dtypes"] = sorted({str(v.dtype) for v in half.variables.values()})
    out["bf16_compute_dtype"] = half.g_ab.get_layer("c7s1_conv").compute_dtype

    # 5. data parallel over the two host devices: the one-device losses for the global batch
    import jax

    out["devices"] = len(jax.devices())
    wide = TrainConfig(**{**spec["step_config"], "batch_size": 4})
    a4 = np.concatenate([batches["a"][0], batches["a"][1]])
    b4 = np.concatenate([batches["b"][0], batches["b"][1]])
    one = CycleGAN(wide)
    out["one_device"] = np.array([list(one.train_step(a4, b4, k).values())
                                  for k in range(3)])
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
    two = CycleGAN(wide)
    out["two_devices"] = np.array([list(two.train_step(a4, b4, k).values())
                                   for k in range(3)])
    out["sharded_devices"] = len(two.g_ab.weights[0].value.sharding.device_set)

    out["tensorflow_imported"] = "tensorflow" in sys.modules
    np.savez(work / "jax_results.npz", **out)


if __name__ == "__main__":
    main(*sys.argv[1:])
