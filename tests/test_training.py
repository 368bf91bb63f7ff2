"""CycleGAN training: schedule, pool, one trace, exact resume, interrupts, NaN, devices."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from refacing_lib.course.profiles import load_profile, train_config
from refacing_lib.model import training
from refacing_lib.model.pools import ImagePool, pool_draws
from refacing_lib.model.schedule import LinearDecay
from refacing_lib.model.training import (
    TrainConfig,
    TrainingDiverged,
    load_generator,
    run_config,
    train,
)

# tiny networks: the behaviour under test does not depend on their size
TINY = dict(image_size=32, filters=4, residual_blocks=1, disc_filters=8, samples=2)


def _weights(gan):
    return [np.asarray(v.numpy()) for v in gan.variables.values()]


def test_learning_rate_is_constant_then_falls_linearly_to_zero():
    rates = np.asarray(LinearDecay(2e-4, 10)(np.arange(12)))
    np.testing.assert_allclose(rates[:6], [2e-4] * 6, rtol=1e-7)
    np.testing.assert_allclose(rates[6:], [1.6e-4, 1.2e-4, 0.8e-4, 0.4e-4, 0, 0], rtol=1e-6)
    assert float(LinearDecay(1.0, 10, decay_from=0.0)(3)) == pytest.approx(0.7)
    assert float(LinearDecay(2e-4)(10**6)) == pytest.approx(2e-4)     # no total: constant


def test_train_config_from_a_profile_checks_its_values():
    config = train_config({"image_size": 64, "epochs": 3, "data_source": "x"})
    assert (config.image_size, config.epochs, config.filters) == (64, 3, 32)
    with pytest.raises(ValueError, match="image_size must be a multiple of 8, got 60"):
        train_config({"image_size": 60})
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        train_config({}, batch_size=0)
    with pytest.raises(ValueError, match="precision must be one of .*got 'float16'"):
        train_config({}, precision="float16")
    assert train_config({"epochs": 3}, epochs=None).epochs == 3   # not given


def test_image_pool_keeps_and_swaps_past_fakes():
    pool = ImagePool(3, (1, 1, 1))
    seen, outputs = [], []
    for step in range(200):
        fake = np.full((1, 1, 1, 1), float(step), np.float32)
        out = float(pool.query(fake, pool_draws(0, step, 1)[0])[0, 0, 0, 0])
        stored = sorted(pool.images.numpy().ravel().tolist())
        if step < 3:
            assert out == step                       # filling: returned as it is
        else:
            assert out == step or out in seen        # the new one, or a past one
            assert len(stored) == 3 and set(stored) <= set(seen + [step])
        seen.append(step)
        outputs.append(out)
    swapped = np.mean([o != s for s, o in enumerate(outputs)][3:])
    assert 0.4 < swapped < 0.6                       # half of the queries return a past fake
    again = ImagePool(3, (1, 1, 1))
    replay = [float(again.query(np.full((1, 1, 1, 1), float(s), np.float32),
                                pool_draws(0, s, 1)[0])[0, 0, 0, 0]) for s in range(200)]
    assert replay == outputs                         # (seed, step) decide every draw


@pytest.mark.slow
def test_training_traces_once_logs_and_saves(slice_dataset, tmp_path):
    config = TrainConfig(**TINY, epochs=2, steps_per_epoch=4)
    lines, seen = [], []
    result = train(slice_dataset, tmp_path / "run", config, progress=False, log=lines.append,
                   on_step=lambda step, losses: seen.append((step, losses["cycle"])))
    assert (result.step, result.epoch, result.total_steps) == (8, 2, 8)
    assert result.gan.trace_count == 1
    history = result.history()
    assert history["step"].tolist() == list(range(1, 9))
    assert set(training.LOSSES) <= set(history.columns)
    np.testing.assert_allclose(history["learning_rate"], [2e-4] * 5 + [1.5e-4, 1e-4, 0.5e-4],
                               rtol=1e-5)
    # the optimizers count their steps and take the rate of the next one from the schedule
    for optimizer in (result.gan.opt_g, result.gan.opt_d_a, result.gan.opt_d_b):
        assert int(optimizer.iterations) == 8 and float(optimizer.learning_rate) == 0
    assert np.isfinite(history["cycle"]).all() and (history["cycle"] > 0).all()
    assert [s for s, _ in seen] == list(range(1, 9))
    np.testing.assert_allclose([c for _, c in seen], history["cycle"], rtol=1e-5)
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == \
        ["epoch_001.png", "epoch_002.png"]
    assert list((tmp_path / "run" / "logs").glob("events.out.tfevents.*"))
    assert result.checkpoint.name == "step_0000008.npz"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["image_size"] == 32
    generator = load_generator(tmp_path / "run")
    x = slice_dataset.images("test", "A", slice(0, 1))[..., None][:, ::8, ::8]
    np.testing.assert_allclose(np.asarray(generator(x)), np.asarray(result.gan.g_ab(x)), atol=1e-6)
    with pytest.raises(ValueError, match="already holds a training"):
        train(slice_dataset, tmp_path / "run", config, resume=False, progress=False)


@pytest.mark.slow
def test_resume_continues_exactly(slice_dataset, tmp_path):
    """6 steps in one go == 4 steps (mid-epoch, pool full and swapping) + resume + 2 steps."""
    config = TrainConfig(**TINY, epochs=2, steps_per_epoch=3, pool_size=2)
    whole = train(slice_dataset, tmp_path / "whole", config, progress=False, log=lambda line: None)
    first = train(slice_dataset, tmp_path / "split", config, until_step=4, progress=False,
                  log=lambda line: None)
    assert first.step == 4 and first.checkpoint.name == "step_0000004.npz"
    lines = []
    second = train(slice_dataset, tmp_path / "split", config, progress=False, log=lines.append)
    assert "resumed from" in lines[0] and "step 4 of 6" in lines[0]
    assert second.step == 6
    for a, b in zip(_weights(whole.gan), _weights(second.gan)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(whole.history()[list(training.LOSSES)],
                               second.history()[list(training.LOSSES)], rtol=1e-4, atol=1e-6)
    other = TrainConfig(**{**TINY, "filters": 8}, epochs=2, steps_per_epoch=3)
    with pytest.raises(ValueError, match="other settings.*filters: 4 -> 8"):
        train(slice_dataset, tmp_path / "split", other, progress=False)
    # what notebook 06 does: a run is continued with the settings it was trained with
    assert run_config(tmp_path / "split") == config
    assert run_config(tmp_path / "never trained") is None
    (tmp_path / "split" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json: unreadable run settings"):
        run_config(tmp_path / "split")


@pytest.mark.slow
def test_keyboard_interrupt_from_a_callback_saves_and_a_second_sigint_stops_at_once(
        slice_dataset, tmp_path):
    """A KeyboardInterrupt raised between steps (by ``on_step``) saves the steps done; a
    second Ctrl-C while the first is honoured stops at once and saves nothing."""
    import signal

    config = TrainConfig(**TINY, epochs=1, steps_per_epoch=5)
    before = signal.getsignal(signal.SIGINT)   # Python's default; pytest-xdist workers ignore it

    def interrupt_at_3(step, losses):
        if step == 3:
            raise KeyboardInterrupt

    lines = []
    result = train(slice_dataset, tmp_path / "run", config, progress=False, log=lines.append,
                   on_step=interrupt_at_3)
    assert result.interrupted and result.step == 3
    assert result.checkpoint.name == "step_0000003.npz"
    assert "interrupted at step 3" in lines[-1]

    def ctrl_c_twice(step, losses):
        os.kill(os.getpid(), signal.SIGINT)          # honoured after this step...
        os.kill(os.getpid(), signal.SIGINT)          # ...unless a second one follows

    with pytest.raises(KeyboardInterrupt):
        train(slice_dataset, tmp_path / "run", config, progress=False, log=lines.append,
              on_step=ctrl_c_twice)
    assert "stopped at once at step 4, not saved" in lines[-1]
    assert training.latest_checkpoint(tmp_path / "run").name == "step_0000003.npz"
    assert signal.getsignal(signal.SIGINT) is before   # the handler is restored
    result = train(slice_dataset, tmp_path / "run", config, progress=False, log=lambda line: None)
    assert not result.interrupted and result.step == 5
    assert result.history()["step"].tolist() == [1, 2, 3, 4, 5]


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(slice_dataset, tmp_path, monkeypatch):
    from refacing_lib.slicing import pipelines

    config = TrainConfig(**TINY, epochs=2, steps_per_epoch=2)
    train(slice_dataset, tmp_path / "run", config, until_step=2, progress=False,
          log=lambda line: None)
    good = tmp_path / "run" / "checkpoints" / "step_0000002.npz"
    stamp = good.stat().st_mtime_ns
    real = pipelines._read_batch
    monkeypatch.setattr(pipelines, "_read_batch",          # a corrupt image: NaN pixels
                        lambda *args: [x * np.nan for x in real(*args)])
    with pytest.raises(TrainingDiverged, match=r"loss \w+ became nan at step 3 \(epoch 2\).*"
                                               r"step_0000002.npz"):
        train(slice_dataset, tmp_path / "run", config, progress=False, log=lambda line: None)
    assert sorted(p.name for p in good.parent.iterdir()) == ["step_0000002.npz"]
    assert good.stat().st_mtime_ns == stamp
    with np.load(good) as data:
        assert all(np.isfinite(data[k]).all() for k in data.files if "/" in k)


@pytest.mark.slow
def test_two_devices_give_the_losses_of_one(slice_dataset, tmp_path):
    """MirroredStrategy over two logical CPUs, global batch 4: same losses as one device."""
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from refacing_lib.slicing.datasets import open_dataset
        from refacing_lib.slicing.pipelines import numpy_batches
        from refacing_lib.model.training import CycleGAN, TrainConfig
        ds = open_dataset({str(slice_dataset.folder)!r})
        config = TrainConfig(**{TINY!r}, batch_size=4)
        losses = {{}}
        for name, strategy in (("one", None),
                               ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
            gan = CycleGAN(config, strategy)
            batches = zip(range(3), numpy_batches(ds, batch_size=4, image_size=32))
            losses[name] = [list(gan.train_step(a, b, step).values()) for step, (a, b) in batches]
            assert gan.strategy.num_replicas_in_sync == (1 if name == "one" else 2)
        np.save({str(tmp_path / "losses.npy")!r}, np.array([losses["one"], losses["two"]]))
    """)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).parent)
    assert run.returncode == 0, run.stderr[-3000:]
    one, two = np.load(tmp_path / "losses.npy")
    assert one.shape == (3, len(training.LOSSES)) and np.isfinite(one).all()
    np.testing.assert_allclose(two, one, rtol=2e-4, atol=1e-6)


@pytest.mark.slow
def test_full_profile_builds_and_runs_one_step_on_cpu(slice_dataset, tmp_path):
    config = train_config(load_profile("full"))
    assert (config.image_size, config.batch_size, config.epochs) == (256, 1, 200)
    assert (config.filters, config.residual_blocks, config.pool_size) == (32, 9, 50)
    result = train(slice_dataset, tmp_path / "run", config, until_step=1, progress=False,
                   log=lambda line: None)
    assert result.step == 1 and result.total_steps == 200 * 105
    assert result.gan.g_ab.count_params() == 2_849_537
    row = result.history().iloc[0]
    assert np.isfinite(row[list(training.LOSSES)].astype(float)).all()
    assert row["learning_rate"] == pytest.approx(2e-4)
