"""Averaging arrays over blocks: down-sampling by integer factors.

:func:`block_mean` is the one block average of the library:
:func:`refacing_lib.slicing.slices.shrink` uses it to shrink images for smaller models, and
:mod:`refacing_lib.anonymize.deface` to work on a coarse copy of the head.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["block_mean"]


def block_mean(data: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """Average the last ``len(factors)`` axes of ``data`` over blocks of ``factors`` samples.

    Leading axes (e.g. a batch of images) are kept as they are. Along each averaged axis,
    samples ``f * i`` to ``f * i + f - 1`` become sample ``i`` of the result; a trailing
    partial block (when the length is not a multiple of ``f``) is dropped.

    Parameters
    ----------
    data : numpy.ndarray, shape (..., n_1, ..., n_k)
        The array; the result has its dtype for floating arrays (numpy's mean: float64 for
        integers and booleans).
    factors : sequence of k positive ints
        Block size in samples along each of the last ``k`` axes; ``k <= data.ndim``.

    Returns
    -------
    numpy.ndarray, shape (..., n_1 // f_1, ..., n_k // f_k)
        The block means.

    Raises
    ------
    ValueError
        If there are more factors than axes, or a factor is below 1.

    Examples
    --------
    >>> block_mean(np.arange(16.0).reshape(4, 4), (2, 2))
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    data = np.asarray(data)
    factors = tuple(int(f) for f in factors)
    if len(factors) > data.ndim or min(factors, default=1) < 1:
        raise ValueError(f"block factors {factors} do not fit an array of shape {data.shape}")
    lead = data.ndim - len(factors)
    counts = [n // f for n, f in zip(data.shape[lead:], factors)]
    data = data[(Ellipsis, *(slice(c * f) for c, f in zip(counts, factors)))]
    blocked = data.reshape(*data.shape[:lead], *(x for c, f in zip(counts, factors)
                                                 for x in (c, f)))
    return blocked.mean(axis=tuple(lead + 2 * i + 1 for i in range(len(factors))))
