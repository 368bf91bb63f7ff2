"""The synthetic IXI-like cohort: determinism, IXI storage, orientation, anatomy, identity, resume."""

import json
import re

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from refacing_lib import synthetic as S
from refacing_lib.io import load_volume

IXI_NAME = re.compile(r"IXI(\d{3})-(Guys|HH|IOP)-(\d{4})-T1\.nii\.gz")
SMALL = (60, 96, 96)


def _json(folder, path):
    stem = path.name[: -len(".nii.gz")]
    return json.loads((folder / "truth" / f"{stem}.json").read_text())


# ---- parameters, names, determinism --------------------------------------------------------

def test_sample_subject_is_deterministic_with_independent_face_params():
    a, b, c = S.sample_subject(7, "HH"), S.sample_subject(7, "HH"), S.sample_subject(8, "HH")
    assert a == b and a != c
    face = a.face_params()
    assert len(face) >= 8 and set(face) == set(S.FACE_FIELDS)
    for name, (_, _, lo, hi) in {**S._FACE_SPEC, **S._HEAD_SPEC}.items():
        assert lo <= getattr(a, name) <= hi, name
    # each face parameter varies across subjects on its own
    draws = np.array([list(S.sample_subject(i, "Guys").face_params().values()) for i in range(60)])
    assert (draws.std(axis=0) > 0).all()
    corr = np.corrcoef(draws.T) - np.eye(draws.shape[1])
    assert np.abs(corr).max() < 0.6
    with pytest.raises(ValueError):
        S.sample_subject(0, "Mars")


def test_cohort_names_ids_and_sites():
    entries = S.cohort_entries(581, seed=3)
    names = [e["name"] for e in entries]
    assert all(IXI_NAME.fullmatch(n) for n in names)
    ids = [e["id"] for e in entries]
    assert ids[0] == 2 and all(b > a for a, b in zip(ids, ids[1:])) and ids[-1] <= 999
    assert max(np.diff(ids)) <= 4
    # the first entries do not depend on the cohort size
    assert S.cohort_entries(5, seed=3) == entries[:5]
    six = [e["site"] for e in entries[:6]]
    assert all(six.count(s) >= 2 for s in S.SITES)
    counts = {s: sum(e["site"] == s for e in entries) for s in S.SITES}
    for site, expected in S.SITE_PROPORTIONS.items():
        assert abs(counts[site] - expected) <= 3, counts


def test_synthesize_is_deterministic_and_small_shapes_work():
    p = S.sample_subject(1, "IOP")
    pose = S.Pose(4.0, (1.0, -2.0, 0.5))
    img1, t1, aff1 = S.synthesize(p, 123, pose, shape=SMALL)
    img2, t2, aff2 = S.synthesize(p, 123, pose, shape=SMALL)
    img3, _, _ = S.synthesize(p, 124, pose, shape=SMALL)
    assert img1.shape == SMALL and img1.dtype == np.float32
    assert np.array_equal(img1, img2) and np.array_equal(aff1, aff2)
    assert all(np.array_equal(t1[k], t2[k]) for k in ("brain", "face", "head"))
    assert not np.array_equal(img1, img3)          # new noise
    assert np.array_equal(t1["brain"], S.synthesize(p, 124, pose, shape=SMALL)[1]["brain"])
    # voxel size follows the field of view (175.2 x 240 x 240 mm for IOP)
    assert np.allclose(np.diag(aff1)[:3] * SMALL, (175.2, 240, 240))
    assert img1.min() >= 0


def test_subject_is_independent_of_cohort_size(tmp_path):
    a = S.make_cohort(tmp_path / "a", subjects=1, seed=5, progress=False, shape=(24, 40, 40))
    b = S.make_cohort(tmp_path / "b", subjects=2, seed=5, progress=False, shape=(24, 40, 40))
    assert a[0].name == b[0].name
    assert np.array_equal(nib.load(a[0]).get_fdata(), nib.load(b[0]).get_fdata())
    ta, tb = (p.parent / "truth" / p.name.replace("-T1.nii.gz", "-T1_face.nii.gz") for p in (a[0], b[0]))
    assert np.array_equal(nib.load(ta).get_fdata(), nib.load(tb).get_fdata())


def test_make_cohort_writes_only_the_named_subjects_as_in_the_whole_cohort(tmp_path):
    from refacing_lib.course import cohort_names

    shape = (24, 40, 40)
    names = [e["name"] for e in S.cohort_entries(4, seed=3)]
    whole = S.make_cohort(tmp_path / "whole", subjects=4, seed=3, progress=False, shape=shape)
    some = S.make_cohort(tmp_path / "some", subjects=4, seed=3, progress=False, shape=shape,
                         only=[names[3], names[1]])
    assert [p.name for p in some] == [names[1], names[3]]
    assert sorted(p.name for p in (tmp_path / "some").glob("IXI*")) == sorted([names[1], names[3]])
    assert np.array_equal(nib.load(some[1]).get_fdata(), nib.load(whole[3]).get_fdata())
    with pytest.raises(ValueError, match="not in the first 4 subjects.*IXI999"):
        S.make_cohort(tmp_path, subjects=4, seed=3, only=["IXI999-HH-0001-T1.nii.gz"])
    profile = {"synthetic_subjects": 4, "seed": 3, "exclude_subjects": [names[2]]}
    assert cohort_names(profile) == [names[0], names[1], names[3]]
    with pytest.raises(ValueError, match="exclude_subjects.*IXI999"):
        cohort_names({**profile, "exclude_subjects": ["IXI999-HH-0001-T1.nii.gz"]})


def test_make_cohort_resumes_and_skips_existing_files(tmp_path, capsys):
    shape = (24, 40, 40)
    paths = S.make_cohort(tmp_path, subjects=2, seed=1, progress=True, shape=shape)
    assert "generated" in capsys.readouterr().out
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert S.make_cohort(tmp_path, subjects=2, seed=1, progress=True, shape=shape) == paths
    assert capsys.readouterr().out.count("skipped") == 2
    assert stamps == {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    # a subject with a missing truth file is made again, the other one is kept
    stem = paths[1].name[: -len(".nii.gz")]
    (tmp_path / "truth" / f"{stem}_face.nii.gz").unlink()
    S.make_cohort(tmp_path, subjects=3, seed=1, progress=False, shape=shape)
    assert paths[0].stat().st_mtime_ns == stamps[paths[0]]
    assert paths[1].stat().st_mtime_ns != stamps[paths[1]]
    assert (tmp_path / "truth" / f"{stem}_face.nii.gz").is_file()
    assert len(list(tmp_path.glob("IXI*-T1.nii.gz"))) == 3
    assert not list(tmp_path.rglob(".tmp-*"))


# ---- IXI storage and orientation (full size) ---------------------------------------------

def test_full_size_files_are_stored_like_ixi(synth_ixi_cohort):
    folder, paths = synth_ixi_cohort
    assert [IXI_NAME.fullmatch(p.name).group(2) for p in paths] == ["Guys", "HH", "IOP"]
    for path in paths:
        site = IXI_NAME.fullmatch(path.name).group(2)
        img = nib.load(path)
        n_lr = 146 if site == "IOP" else 150
        assert img.shape == (256, 256, n_lr)
        assert img.get_data_dtype() == np.int16
        assert np.allclose(img.header.get_zooms(), (0.9375, 0.9375, 1.2))
        assert nib.aff2axcodes(img.affine) == ("P", "S", "R")
        stem = path.name[: -len(".nii.gz")]
        for kind in ("brain", "face", "head"):
            m = nib.load(folder / "truth" / f"{stem}_{kind}.nii.gz")
            assert m.shape == img.shape and m.get_data_dtype() == np.uint8
            assert np.allclose(m.affine, img.affine)
        meta = _json(folder, path)
        assert meta["site"] == site and meta["name"] == path.name
        assert len(meta["face_params"]) >= 8
        assert set(meta["pose"]) == {"pitch_deg", "shift_mm"}


def test_loaded_volume_is_ras_with_anatomy_in_place(synth_ixi_cohort):
    folder, paths = synth_ixi_cohort
    for path in paths:
        vol = load_volume(path)
        stem = path.name[: -len(".nii.gz")]
        brain = load_volume(folder / "truth" / f"{stem}_brain.nii.gz").data > 0
        face = load_volume(folder / "truth" / f"{stem}_face.nii.gz").data > 0
        head = load_volume(folder / "truth" / f"{stem}_head.nii.gz").data > 0
        assert vol.data.shape[1:] == (256, 256) and vol.data.shape[0] in (146, 150)
        assert np.allclose(vol.zooms, (1.2, 0.9375, 0.9375))
        cb, cf = ndimage.center_of_mass(brain), ndimage.center_of_mass(face)
        assert cb[1] < cf[1] - 20 and cb[2] > cf[2] + 20  # brain posterior-superior of face
        assert abs(cb[0] - (vol.data.shape[0] - 1) / 2) < 8   # head roughly centred left-right
        # nose tip (anterior-most head voxel) inside the field of view, below the brain
        j, k = np.nonzero(head.any(axis=0))
        tip = np.argmax(j)
        assert j[tip] < 255 and k[tip] < cb[2]
        # skull top inside the field of view and above the brain, neck leaving at the bottom
        assert brain.nonzero()[2].max() < k.max() < 255
        assert head[:, :, 0].sum() > 1000
        # image is bright where the head is, dark outside
        assert np.median(vol.data[head]) > 5 * np.median(vol.data[~head])


# ---- anatomy -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def full_subjects():
    """One full-size subject per site with its labels (pose and noise like a cohort member)."""
    out = {}
    for i, site in enumerate(S.SITES):
        p = S.sample_subject(100 + i, site)
        pose = S.sample_pose(200 + i)
        img, truth, aff = S.synthesize(p, 300 + i, pose)
        labels, _ = S.label_map(p, pose)
        out[site] = (p, img, truth, labels)
    return out


def test_tissue_intensities_are_ordered_like_t1(full_subjects):
    L = S.LABELS
    for site, (_, img, truth, lab) in full_subjects.items():
        core = ndimage.binary_erosion(truth["brain"], iterations=1)
        mean = {k: float(img[(lab == L[k]) & (core if k in ("wm", "gm") else True)].mean())
                for k in ("wm", "gm", "csf", "fat", "muscle", "marrow", "bone", "ventricle")}
        assert mean["wm"] > mean["gm"] > mean["csf"], (site, mean)
        assert mean["ventricle"] < 0.45 * mean["wm"], (site, mean)
        assert mean["fat"] > 1.4 * mean["muscle"], (site, mean)
        assert mean["marrow"] > 2 * mean["bone"], (site, mean)


def test_brain_and_face_volumes_and_separation(full_subjects):
    for site, (_, img, truth, lab) in full_subjects.items():
        voxel_ml = 1.2 * 0.9375**2 / 1000
        brain_ml = truth["brain"].sum() * voxel_ml
        face_ml = truth["face"].sum() * voxel_ml
        head_ml = truth["head"].sum() * voxel_ml
        assert 1000 < brain_ml < 1600, (site, brain_ml)
        assert 250 < face_ml < 1500, (site, face_ml)
        assert 3000 < head_ml < 6500, (site, head_ml)
        assert not (truth["brain"] & truth["face"]).any()
        assert not (truth["face"] & ~truth["head"]).any()
        # every face voxel is at least 3 mm from the brain
        sl = tuple(slice(max(s.start - 10, 0), s.stop + 10)
                   for s in ndimage.find_objects(truth["face"].astype(np.uint8))[0])
        dist = ndimage.distance_transform_edt(~truth["brain"][sl], sampling=(1.2, 0.9375, 0.9375))
        assert dist[truth["face"][sl]].min() >= 3.0, site


def test_sites_differ_in_scale_contrast_and_noise(full_subjects):
    L = S.LABELS
    stats = {}
    for site, (_, img, truth, lab) in full_subjects.items():
        wm = float(np.median(img[lab == L["wm"]]))
        gm = float(np.median(img[lab == L["gm"]]))
        bg = img[:, :, -12:][~truth["head"][:, :, -12:]]       # air above the head
        stats[site] = dict(wm=wm, contrast=wm / gm, snr=wm / float(bg.mean()))
    assert stats["HH"]["wm"] > stats["Guys"]["wm"] > stats["IOP"]["wm"], stats
    assert stats["HH"]["contrast"] > max(stats["Guys"]["contrast"], stats["IOP"]["contrast"])
    assert stats["HH"]["snr"] > stats["Guys"]["snr"] > stats["IOP"]["snr"], stats


# ---- identity: a rescan is closer to its own first scan than to other subjects -------------

def _profile(path, meta):
    """Mid-sagittal facial skin profile y(z) in the head frame (mm), pose undone from the JSON."""
    vol = load_volume(path)
    h2s = np.asarray(meta["head_to_scanner"])
    z = np.arange(-140.0, -20.0, 1.0)
    y = np.arange(40.0, 140.0, 0.5)
    yy, zz = np.meshgrid(y, z, indexing="ij")
    pts = np.stack([np.zeros_like(yy), yy, zz, np.ones_like(yy)]).reshape(4, -1)
    ijk = np.linalg.inv(vol.affine) @ h2s @ pts
    sl = ndimage.map_coordinates(vol.data, ijk[:3], order=1).reshape(yy.shape)
    inside = sl > 0.25 * np.percentile(vol.data, 99)
    front = np.where(inside.any(axis=0), y[::-1][np.argmax(inside[::-1], axis=0)], np.nan)
    return front


def test_rescan_is_reidentified_by_its_facial_profile(synth_small_cohort):
    folder, paths = synth_small_cohort
    first = [_profile(p, _json(folder, p)) for p in paths]
    again = [_profile(folder / "rescans" / p.name, _json(folder / "rescans", p)) for p in paths]
    for p in paths:
        a, b = _json(folder, p), _json(folder / "rescans", p)
        assert a["params"] == b["params"] and a["scan_seed"] != b["scan_seed"]
        assert 0 < abs(a["pose"]["pitch_deg"] - b["pose"]["pitch_deg"]) <= 3.0
    d = np.array([[np.sqrt(np.nanmean((r - f) ** 2)) for f in first] for r in again])
    own, others = np.diag(d), d[~np.eye(len(paths), dtype=bool)].reshape(len(paths), -1)
    assert (own < 2.5).all(), d                      # mm, at 1.9-2.4 mm voxels
    assert (own < 0.5 * others.min(axis=1)).all(), d
    assert np.argmin(d, axis=1).tolist() == list(range(len(paths)))
