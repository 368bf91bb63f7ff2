"""Block averaging (refacing_lib.blocks), the one down-sampling of images and volumes."""

import numpy as np
import pytest

from refacing_lib.blocks import block_mean


def test_block_mean_of_a_volume_drops_partial_blocks():
    data = np.random.default_rng(0).normal(size=(7, 9, 5)).astype(np.float32)
    coarse = block_mean(data, (2, 3, 1))
    assert coarse.shape == (3, 3, 5) and coarse.dtype == np.float32
    # block (1, 2, 4): rows 2-3, columns 6-8, plane 4; row 6 (a partial block) is dropped
    assert coarse[1, 2, 4] == pytest.approx(data[2:4, 6:9, 4].mean(), rel=1e-6)
    np.testing.assert_allclose(coarse, [[[data[2 * i:2 * i + 2, 3 * j:3 * j + 3, k].mean()
                                          for k in range(5)] for j in range(3)]
                                        for i in range(3)], rtol=1e-5)


def test_block_mean_keeps_leading_axes():
    images = np.arange(2 * 4 * 6, dtype=np.float64).reshape(2, 4, 6)
    coarse = block_mean(images, (2, 3))
    assert coarse.shape == (2, 2, 2)
    np.testing.assert_array_equal(coarse[1], [[24 + 4.0, 24 + 7.0], [24 + 16.0, 24 + 19.0]])
    np.testing.assert_array_equal(block_mean(images, (1, 1)), images)
    assert block_mean(np.ones((4, 4), bool), (2, 2)).dtype == np.float64


@pytest.mark.parametrize("factors", [(2, 2, 2, 2), (2, 0)])
def test_block_mean_refuses_factors_that_do_not_fit(factors):
    with pytest.raises(ValueError, match="do not fit an array of shape"):
        block_mean(np.zeros((4, 4, 4)), factors)
