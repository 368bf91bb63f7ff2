"""Checkpoint files: named by Keras path, checked by name and shape."""

import json
from dataclasses import asdict

import numpy as np
import pytest

from refacing_lib.model import checkpoints
from refacing_lib.model.cyclegan import CycleGAN
from refacing_lib.model.training import TrainConfig

TINY = TrainConfig(image_size=32, filters=4, residual_blocks=1, disc_filters=8, pool_size=2)


@pytest.fixture(scope="module")
def gan():
    """A tiny CycleGAN after two steps (moments and pools no longer at their start)."""
    gan = CycleGAN(TINY)
    rng = np.random.default_rng(0)
    for step in range(2):
        a, b = (rng.uniform(-1, 1, (1, 32, 32, 1)).astype(np.float32) for _ in range(2))
        gan.train_step(a, b, step)
    return gan


def _values(gan):
    return {k: np.array(v.numpy()) for k, v in gan.variables.items()}


def test_every_variable_is_saved_under_its_unique_path(gan, tmp_path):
    path = checkpoints.save(tmp_path / "step_0000002.npz", gan.variables, {"step": 2}, TINY)
    arrays, progress, settings = checkpoints.read(path)
    assert progress == {"step": 2} and settings == asdict(TINY)
    assert "G_AB/c7s1_conv/kernel" in arrays and "G_BA/c7s1_conv/kernel" in arrays
    assert "adam_G/G_BA_c7s1_conv_kernel_momentum" in arrays
    assert int(arrays["pool_A/count"]) == 2
    assert not list(tmp_path.glob(".part-*"))
    other = CycleGAN(TINY)
    assert checkpoints.restore(path, other.variables, TINY) == progress
    for key, value in _values(gan).items():
        np.testing.assert_array_equal(other.variables[key].numpy(), value, err_msg=key)


def test_a_checkpoint_with_the_optimizers_old_learning_rates_still_loads(gan, tmp_path):
    """Before the learning rate became a schedule of the step counter, each optimizer's rate
    was a variable of its own in every checkpoint: such a run resumes, the rates ignored."""
    path = checkpoints.save(tmp_path / "c.npz", gan.variables, {"step": 2}, TINY)
    arrays, progress, settings = checkpoints.read(path)
    rates = {f"{opt}/learning_rate": np.float32(1e-4) for opt in ("adam_G", "adam_D_A",
                                                                    "adam_D_B")}
    np.savez(tmp_path / "old.npz", __progress__=np.array(json.dumps(progress)),
             __config__=np.array(json.dumps(settings)), **arrays, **rates)
    other = CycleGAN(TINY)
    assert checkpoints.restore(tmp_path / "old.npz", other.variables, TINY) == progress
    for key, value in _values(gan).items():
        np.testing.assert_array_equal(other.variables[key].numpy(), value, err_msg=key)
    np.savez(tmp_path / "odd.npz", __progress__=np.array(json.dumps(progress)),  # not a rate
             __config__=np.array(json.dumps(settings)), **arrays, **{"pool_C/images": np.zeros(1)})
    with pytest.raises(ValueError, match=r"no variable for: \['pool_C/images'\]"):
        checkpoints.restore(tmp_path / "odd.npz", other.variables, TINY)


def test_a_checkpoint_of_the_first_week_is_refused_by_name(gan, tmp_path):
    """Checkpoints keyed by position (``G_AB/0``, the format of the project's first week) are
    no longer read: the message names the file and the first weight it lacks."""
    arrays = {f"{name}/{i}": v.numpy() for name, model in gan.networks.items()
              for i, v in enumerate(model.weights)}
    np.savez(tmp_path / "old.npz", __progress__=np.array(json.dumps({"step": 2})),
             __config__=np.array(json.dumps(asdict(TINY))), **arrays)
    with pytest.raises(ValueError, match=r"old\.npz: no array for 'G_AB/c7s1_conv/kernel'"):
        checkpoints.restore(tmp_path / "old.npz", CycleGAN(TINY).variables, TINY)


def test_a_wrong_shape_or_missing_weight_is_named_and_nothing_is_loaded(gan, tmp_path):
    path = checkpoints.save(tmp_path / "c.npz", gan.variables, {"step": 2}, TINY)
    arrays, progress, settings = checkpoints.read(path)
    arrays["G_AB/d1_conv/kernel"] = arrays["G_AB/d1_conv/kernel"][..., :1]
    np.savez(tmp_path / "bad.npz", __progress__=np.array(json.dumps(progress)),
             __config__=np.array(json.dumps(settings)), **arrays)
    fresh = CycleGAN(TINY)
    before = _values(fresh)
    with pytest.raises(ValueError, match=r"bad\.npz: G_AB/d1_conv/kernel has shape "
                                         r"\(3, 3, 4, 1\), the model expects \(3, 3, 4, 8\)"):
        checkpoints.restore(tmp_path / "bad.npz", fresh.variables, TINY)
    del arrays["G_AB/d1_conv/kernel"]
    np.savez(tmp_path / "bad.npz", __progress__=np.array(json.dumps(progress)),
             __config__=np.array(json.dumps(settings)), **arrays)
    with pytest.raises(ValueError, match="no array for 'G_AB/d1_conv/kernel'"):
        checkpoints.restore(tmp_path / "bad.npz", fresh.variables, TINY)
    for key, value in before.items():
        np.testing.assert_array_equal(fresh.variables[key].numpy(), value, err_msg=key)
    (tmp_path / "cut.npz").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="cut.npz: unreadable checkpoint"):
        checkpoints.restore(tmp_path / "cut.npz", fresh.variables, TINY)


def test_bfloat16_networks_keep_float32_weights():
    half = CycleGAN(TrainConfig(**{**asdict(TINY), "precision": "bfloat16"}))
    assert half.g_ab.get_layer("c7s1_conv").compute_dtype == "bfloat16"
    assert half.d_a.get_layer("score_conv").compute_dtype == "bfloat16"
    assert {str(v.dtype) for m in half.networks.values() for v in m.weights} == {"float32"}
    rng = np.random.default_rng(1)
    a, b = (rng.uniform(-1, 1, (1, 32, 32, 1)).astype(np.float32) for _ in range(2))
    losses = half.train_step(a, b, 0)
    assert all(np.isfinite(v) for v in losses.values())
    assert losses["cycle"] > 0
