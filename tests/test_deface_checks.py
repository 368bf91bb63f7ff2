"""Defacing measured against ground-truth masks (refacing_lib.anonymize.deface_checks), on
hand-made heads."""

import numpy as np
import pytest

from refacing_lib.anonymize.deface_checks import deface_quality, profile_detail


def _box_head():
    """A box head of 2 mm voxels (RAS, shape (40, 60, 40)) whose front (axis 1) steps 4 mm
    forward and back every 8 mm up (axis 2), a face mask in its front 14-18 mm, and a ball of
    brain 16 mm in radius, 34 mm behind the face. Intensities: 100 head, 200 brain."""
    zooms = (2.0, 2.0, 2.0)
    x, y, z = np.indices((40, 60, 40))
    front = 52 + 2 * ((z // 4) % 2)
    head = (x >= 5) & (x < 35) & (z >= 5) & (z < 35) & (y >= 5) & (y < front)
    face = head & (y >= 45) & (x >= 10) & (x < 30) & (z >= 8) & (z < 32)
    brain = (x - 20) ** 2 + (y - 25) ** 2 + (z - 22) ** 2 <= 8 ** 2
    volume = np.where(brain, 200.0, np.where(head, 100.0, 0.0)).astype(np.float32)
    return volume, {"head": head, "face": face, "brain": brain}, zooms


def test_removed_face_is_counted_as_zeroed_and_nothing_else_changed():
    volume, truth, zooms = _box_head()
    q = deface_quality(volume, np.where(truth["face"], 0.0, volume), truth, zooms)
    assert q["face_zeroed"] == 1.0 and q["face_change"] == pytest.approx(1.0)
    assert q["skin_face_change"] == pytest.approx(1.0)
    assert q["brain_changed"] == 0 and q["other_changed"] == 0.0 and q["deep_changed"] == 0
    assert q["profile_detail_kept"] < 0.1        # the flat cut leaves no relief


def test_dimmed_face_keeps_its_relief_and_touched_brain_voxels_are_counted():
    volume, truth, zooms = _box_head()
    defaced = np.where(truth["face"], 0.5 * volume, volume)
    defaced[20, 25, 20:23] = 0.0                 # three brain voxels, 30 mm inside the skin
    q = deface_quality(volume, defaced, truth, zooms)
    assert q["face_zeroed"] == 0.0
    assert q["face_change"] == pytest.approx(0.5) and q["skin_face_change"] == pytest.approx(0.5)
    assert q["profile_detail_kept"] == pytest.approx(1.0)
    assert q["brain_changed"] == 3 and q["deep_changed"] == 3
    other = truth["head"].sum() - truth["face"].sum()
    assert 3 / other < q["other_changed"] < 3 / (other * 0.8)   # the 5 mm band off the rest


def test_profile_detail_measures_relief_not_the_outline():
    """A face of 80 mm radius left-right and 120 mm up-down, 38 x 39 mm, with or without a
    relief of 1 mm amplitude and 4 mm period (RMS 0.71 mm), and with or without an outline that
    turns away in its outer 4 mm (by 12 mm up-down, 6.75 mm at the last 2 mm voxel left-right).
    Measured over the whole outline, the turn alone gave 2.8 mm of 'detail', more than the
    relief (0.79 mm)."""
    zooms = (2.0, 0.25, 1.0)
    x = np.arange(30)[:, None, None] * zooms[0]
    y = np.arange(320)[None, :, None] * zooms[1]
    z = np.arange(60)[None, None, :] * zooms[2]
    curved = 60.0 - (x - 30) ** 2 / 160 - (z - 30) ** 2 / 240
    outline = np.clip(np.maximum(abs(x - 30), abs(z - 30)) - 15, 0, None)   # outer 4 mm
    inside = (abs(x - 30) < 20) & (abs(z - 30) < 20)
    detail = {}
    for relief in (0.0, 1.0):
        for turn in (0.0, 12.0):
            height = curved + relief * np.sin(2 * np.pi * z / 4.0) - turn * (outline / 4) ** 2
            face = (y < height) & (y > height - 10) & inside
            detail[relief, turn] = profile_detail((y < height) * 100.0, face, zooms)
    # the curvature a 5 mm Gaussian leaves: 25 / 160 + 25 / 240 = 0.26 mm
    assert 0.2 < detail[0, 0] < 0.3
    assert 0.7 < detail[1, 0] < 0.85
    assert abs(detail[0, 12] - detail[0, 0]) < 0.25
    assert abs(detail[1, 12] - detail[1, 0]) < 0.25
    narrow = (y < curved) & (y > curved - 10) & (abs(x - 30) < 8) & inside
    assert np.isnan(profile_detail((y < curved) * 100.0, narrow, zooms))
