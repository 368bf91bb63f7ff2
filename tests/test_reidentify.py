"""The re-identification attack: facial profiles, distances and top-k rates on known cases."""

import numpy as np
import pytest

from refacing_lib.evaluate.reidentify import (
    TISSUE_LEVEL,
    face_profile,
    identification_rates,
    profile_distances,
    rate_interval,
    with_average_face,
)


def _image(edges, size=64):
    """-1 background, tissue (0.5) from column 0 up to column ``edges[row]`` (face right)."""
    image = np.full((size, size), -1.0, np.float32)
    for row, edge in enumerate(edges):
        if edge is not None:
            image[row, : edge + 1] = 0.5
    return image


def test_profile_is_the_distance_from_the_front_to_the_skin():
    size = 64
    pixel_mm = 240 / size
    image = _image([60, 50, None] + [40] * (size - 3), size)
    profile = face_profile(image, smooth_mm=0)
    # column c is the last tissue pixel: c + 1 .. 63 are air, so the edge lies
    # (63 - c) pixels from the front, less the part of the step above the level
    fraction = (0.5 - TISSUE_LEVEL) / (0.5 - (-1.0))
    assert profile[0] == pytest.approx((63 - 60 - fraction) * pixel_mm)
    assert profile[1] == pytest.approx((63 - 50 - fraction) * pixel_mm)
    assert np.isnan(profile[2])                    # no tissue in the row
    assert profile[3] == pytest.approx((63 - 40 - fraction) * pixel_mm)
    forward = face_profile(_image([61] * size, size), smooth_mm=0)
    assert forward[0] == pytest.approx(profile[0] - pixel_mm)
    # tissue only in the back half of a row does not count as a face
    assert np.isnan(face_profile(_image([20] * size, size))).all()


def test_an_isolated_noisy_pixel_in_the_air_is_not_skin():
    image = _image([160] * 256, 256)                         # 0.9375 mm pixels
    clean = face_profile(image)
    image[100, 220] = 0.5                                    # one speck 56 mm in front
    assert face_profile(image, smooth_mm=0)[100] < clean[100] - 50
    np.testing.assert_allclose(face_profile(image)[95:106], clean[95:106], atol=0.5)


def _smooth_profiles(n, rng, rows=64, slices=3):
    base = np.cumsum(rng.normal(0, 1.5, (n, slices, rows)), axis=-1)
    return 30 + base - base.mean(axis=-1, keepdims=True)


def test_distance_ignores_small_shifts_and_tilts_of_the_head_but_not_other_faces():
    rng = np.random.default_rng(0)
    gallery = _smooth_profiles(2, rng)
    rows = np.zeros((1, 3, 64), bool)
    rows[..., 10:50] = True
    forward = gallery[:1] + 3.0                                   # 3 mm further forward
    lower = np.roll(gallery[:1], 2, axis=-1)                      # 7.5 mm lower (2 rows)
    nodding = gallery[:1] + 0.05 * np.arange(64)                  # tilted by about 0.8 degrees
    d_forward = profile_distances(forward, gallery, rows)
    assert d_forward[0, 0] == pytest.approx(0.0, abs=1e-9)
    assert d_forward[0, 1] > 1.0
    assert profile_distances(nodding, gallery, rows)[0, 0] == pytest.approx(0.0, abs=1e-9)
    assert profile_distances(lower, gallery, rows, max_shift_mm=8.0)[0, 0] == pytest.approx(0.0)
    assert profile_distances(lower, gallery, rows, max_shift_mm=3.0)[0, 0] > 0.5


def test_probe_without_a_face_is_infinitely_far():
    rng = np.random.default_rng(1)
    gallery = _smooth_profiles(3, rng)
    probe = np.full((1, 3, 64), np.nan)
    rows = np.ones((1, 3, 64), bool)
    distances = profile_distances(probe, gallery, rows)
    assert np.isinf(distances).all()
    # everyone equally far: the rate of guessing
    assert identification_rates(distances, np.array([2]), (1, 2)) == {1: pytest.approx(1 / 3),
                                                                      2: pytest.approx(2 / 3)}


def test_rates_count_ties_as_a_fair_lottery():
    distances = np.array([[0.5, 2.0, 3.0],
                          [1.0, 1.0, 0.2]])
    rates = identification_rates(distances, np.array([0, 0]), (1, 2, 3))
    assert rates == {1: 0.5, 2: 0.75, 3: 1.0}


def test_noisy_probes_of_a_shuffled_gallery_are_all_found():
    rng = np.random.default_rng(2)
    gallery = _smooth_profiles(10, rng)
    owners = rng.permutation(10)
    probes = gallery[owners] + rng.normal(0, 0.2, gallery.shape) + rng.normal(0, 4, (10, 1, 1))
    rows = np.ones(probes.shape, bool)
    distances = profile_distances(probes, gallery, rows)
    assert identification_rates(distances, owners, (1,)) == {1: 1.0}
    # the same probes with their owners wrong by one: never the first
    assert identification_rates(distances, (owners + 1) % 10, (1,)) == {1: 0.0}


def test_rate_interval_is_the_exact_binomial_one():
    # textbook Clopper-Pearson bounds (e.g. 1 of 3: 0.0084 to 0.9057; 5 of 10: 0.187 to 0.813)
    assert rate_interval(1 / 3, 3) == pytest.approx((0.00840, 0.90570), abs=1e-4)
    assert rate_interval(2 / 3, 3) == pytest.approx((0.09430, 0.99160), abs=1e-4)
    assert rate_interval(0.5, 10) == pytest.approx((0.18709, 0.81291), abs=1e-4)
    assert rate_interval(0.0, 3) == pytest.approx((0.0, 1 - 0.025 ** (1 / 3)))
    assert rate_interval(1.0, 17) == pytest.approx((0.025 ** (1 / 17), 1.0))
    # a fractional count from a tie lies between its neighbours
    low, high = rate_interval(1.5 / 3, 3)
    assert rate_interval(1 / 3, 3)[0] < low < rate_interval(2 / 3, 3)[0]
    assert rate_interval(1 / 3, 3)[1] < high < rate_interval(2 / 3, 3)[1]
    with pytest.raises(ValueError, match="probes must be at least 1"):
        rate_interval(0.5, 0)


def test_profiles_must_line_up():
    with pytest.raises(ValueError, match="do not line up"):
        profile_distances(np.zeros((2, 3, 64)), np.zeros((4, 2, 64)), np.ones((2, 3, 64), bool))


def test_average_face_fills_only_the_changed_pixels():
    anonymized = np.zeros((2, 4, 4), np.float32)
    changed = np.zeros((2, 4, 4), bool)
    changed[0, 1, 2] = changed[1, 3, 3] = True
    average = np.stack([np.full((4, 4), k, np.float32) for k in range(21)])
    out = with_average_face(anonymized, changed, np.array([5, 20]), average)
    assert out[0, 1, 2] == 5 and out[1, 3, 3] == 20
    assert out[~changed].sum() == 0
