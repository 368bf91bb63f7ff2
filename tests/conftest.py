"""Shared fixtures: small synthetic volumes built in the test, no external data."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest


@pytest.fixture
def ras_volume():
    """A small RAS volume whose halves differ, with its affine and voxel sizes.

    Shape (12, 16, 20), voxels 1.2 x 0.9375 x 0.9375 mm. Every voxel's value encodes its RAS
    indices (``100 * i + 10 * (j % 10) + k % 10 + 1``), so any flip or transpose is visible, and a
    bright marker sits in the right-anterior-superior corner.
    """
    i, j, k = np.indices((12, 16, 20))
    data = (100 * i + 10 * (j % 10) + k % 10 + 1).astype(np.float32)
    data[-2:, -2:, -2:] = 5000
    zooms = (1.2, 0.9375, 0.9375)
    affine = np.diag(zooms + (1.0,))
    affine[:3, 3] = (-7.0, -7.5, -9.0)
    return data, affine, zooms


# ---- synthetic cohort fixtures (refacing_lib.synthetic) -------------------------------------

SYNTH_SMALL_SHAPE = (60, 96, 96)  # RAS shape of the fast, low-resolution synthetic test cohort


@pytest.fixture(scope="session")
def synth_small_cohort(tmp_path_factory):
    """4 synthetic subjects with rescans at low resolution (shape SYNTH_SMALL_SHAPE), seed 0."""
    from refacing_lib.synthetic import make_cohort

    out = tmp_path_factory.mktemp("synth_small")
    paths = make_cohort(out, subjects=4, seed=0, rescans=True, progress=False,
                        shape=SYNTH_SMALL_SHAPE)
    return out, paths


@pytest.fixture(scope="session")
def synth_ixi_cohort(tmp_path_factory):
    """3 full-size (IXI-shaped) synthetic subjects, one per site (Guys, HH, IOP), seed 0."""
    from refacing_lib.synthetic import make_cohort

    out = tmp_path_factory.mktemp("synth_ixi")
    paths = make_cohort(out, subjects=3, seed=0, progress=False)
    return out, paths
