"""The paper's networks in Keras 3: sizes, layer counts, building blocks."""

import keras
import numpy as np
import pytest

from refacing_lib.model.networks import (
    ReflectionPadding2D,
    build_discriminator,
    build_generator,
    count_convolutions,
    instance_norm,
    receptive_field,
)


def test_paper_networks_have_the_paper_sizes():
    g, d = build_generator(), build_discriminator()
    assert (g.count_params(), count_convolutions(g)) == (2_849_537, 24)
    assert (d.count_params(), count_convolutions(d)) == (2_764_481, 5)
    assert g.output_shape == (None, 256, 256, 1)
    assert d.output_shape == (None, 32, 32, 1)
    assert receptive_field(d) == 70


def test_quick_networks_are_smaller_and_keep_their_shapes():
    g = build_generator(64, filters=16, residual_blocks=3)
    d = build_discriminator(64, filters=32)
    assert count_convolutions(g) == 1 + 2 + 2 * 3 + 2 + 1
    assert g.count_params() < 2_849_537 / 10
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 1)).astype("float32")
    y = np.asarray(g(x))
    assert y.shape == (2, 64, 64, 1) and np.abs(y).max() <= 1.0       # tanh
    assert np.asarray(d(x)).shape == (2, 8, 8, 1)
    with pytest.raises(ValueError, match="multiple of 4"):
        build_generator(66)
    with pytest.raises(ValueError, match="transposed"):
        receptive_field(g)


def test_reflection_padding_mirrors_the_border():
    x = np.arange(2 * 4 * 5 * 3, dtype="float32").reshape(2, 4, 5, 3)
    y = np.asarray(ReflectionPadding2D(2)(x))
    np.testing.assert_array_equal(y, np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="reflect"))
    assert ReflectionPadding2D(3).compute_output_shape((None, 10, 12, 1)) == (None, 16, 18, 1)


def test_instance_norm_normalises_each_image_and_channel():
    rng = np.random.default_rng(1)
    x = (rng.normal(5, 3, (3, 8, 8, 4)) * np.arange(1, 5)).astype("float32")
    y = np.asarray(instance_norm()(x))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), atol=1e-4)


def test_generator_survives_saving(tmp_path):
    g = build_generator(32, filters=4, residual_blocks=1)
    path = tmp_path / "g.keras"
    g.save(path)
    x = np.zeros((1, 32, 32, 1), "float32") + 0.3
    np.testing.assert_allclose(np.asarray(keras.models.load_model(path)(x)), np.asarray(g(x)),
                               atol=1e-6)


def test_input_skip_generator_starts_as_the_identity_and_survives_saving(tmp_path):
    g = build_generator(32, filters=4, residual_blocks=1, input_skip=True)
    assert g.count_params() == build_generator(32, filters=4, residual_blocks=1).count_params()
    x = np.random.default_rng(2).uniform(-1, 1, (2, 32, 32, 1)).astype("float32")
    np.testing.assert_array_equal(np.asarray(g(x)), x)        # untrained: the input unchanged
    out_conv = g.get_layer("out_conv")
    out_conv.bias.assign(np.full(out_conv.bias.shape, 10.0, "float32"))
    # now a change of tanh(10) (about 1) everywhere: x + 1, clipped to the image range
    np.testing.assert_allclose(np.asarray(g(x)), np.clip(x + np.tanh(10.0), -1, 1), atol=1e-6)
    path = tmp_path / "g.keras"
    g.save(path)
    np.testing.assert_allclose(np.asarray(keras.models.load_model(path)(x)), np.asarray(g(x)))
