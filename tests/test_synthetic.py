"""The synthetic IXI-like cohort: determinism, IXI storage, orientation, anatomy, identity,
resume."""

import hashlib
import json
import re

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from refacing_lib.data import synthetic as S
from refacing_lib.data.io import load_volume

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
    for name, (_, _, lo, hi) in {**S.FACE_SPEC, **S.HEAD_SPEC}.items():
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
    ta, tb = (p.parent / "truth" / p.name.replace("-T1.nii.gz", "-T1_face.nii.gz")
              for p in (a[0], b[0]))
    assert np.array_equal(nib.load(ta).get_fdata(), nib.load(tb).get_fdata())


def test_make_cohort_writes_only_the_named_subjects_as_in_the_whole_cohort(tmp_path):
    from refacing_lib.course.profiles import cohort_names

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


def test_data_plan_of_the_shipped_profiles(tmp_path):
    """What each stage reads of a profile's data, in one place, with the profile's values."""
    from refacing_lib.course.profiles import cohort_names, data_plan, load_profile

    course = load_profile("course")
    plan = data_plan(course)
    assert (plan.source, plan.subjects, plan.seed, plan.experiment, plan.method, plan.jobs) == \
        ("synthetic-course", 120, 1, "all", "blur", 2)
    assert len(plan.names) == 118 and list(plan.names) == cohort_names(course)
    assert set(plan.excluded) == {"IXI041-HH-1119-T1.nii.gz", "IXI082-HH-1236-T1.nii.gz"}
    assert not set(plan.excluded) & set(plan.names)
    full = data_plan(load_profile("full"))        # IXI: no synthetic cohort to generate
    assert (full.source, full.subjects, full.names, full.experiment, full.jobs) == \
        ("ixi", 0, (), "guys", 8)
    assert data_plan({"data_source": "synthetic", "synthetic_subjects": 2}).spacing == "tight"
    with pytest.raises(ValueError, match="data source.*IXI-T2"):
        data_plan({"data_source": "IXI-T2"})
    from refacing_lib.course.pipeline import prepare_data
    from refacing_lib.data.layout import Layout

    with pytest.raises(ValueError, match="'mine'.*needs synthetic_subjects"):
        prepare_data({"profile": "mine"}, Layout("synthetic", root=tmp_path), log=print)
    assert not any(tmp_path.iterdir())


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
    assert not list(tmp_path.rglob(".part-*"))


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


# ---- the same cohort as before the split into a package -----------------------------------
# sha256 of each file's stored voxel array (as on disk, after nibabel's scaling: none here)
# followed by its affine (float64), and of each JSON file's bytes. These values were measured
# on the single-module refacing_lib/synthetic.py (commit cd1552d), before it was split into the
# refacing_lib.data.synthetic package: the package must write byte-identical cohorts.

SMALL_COHORT_SHA256 = {
    "IXI002-Guys-0630-T1.nii.gz":
        "150ce8224fe516b36fffc6e4ed50b99e9d800a65ebe041cb7480fc97b88fb399",
    "IXI003-HH-0194-T1.nii.gz":
        "caf94a34d8142643255b1857f8e65c74a651e9c3d5276866da2ced50260a6a38",
    "IXI007-IOP-0409-T1.nii.gz":
        "846ce2ceb375444c403cf5e9bd106356873688769768e6211080861e0b5d8f6f",
    "IXI008-Guys-0309-T1.nii.gz":
        "80862b3929833b1ef12f8100e86870111b9a6db0e5af8435c996cbe34c9b1fcd",
    "rescans/IXI002-Guys-0630-T1.nii.gz":
        "d63883487a159292ef6ddd02bf36c89d286c5be9400af64a3db50b6454602318",
    "rescans/IXI003-HH-0194-T1.nii.gz":
        "f4f00bc424767ef2c68bd62c9f9623f33c538f1cac8c86e294cee0d56018899f",
    "rescans/IXI007-IOP-0409-T1.nii.gz":
        "ffe1b69b8375c2d27d779f642ee57fd0b343c8a1f5bc3b1f94d9737807f5cda6",
    "rescans/IXI008-Guys-0309-T1.nii.gz":
        "414e3b0e7a550cfedada3a37d8f11e22320192ffb9ce09d2d1d38b79d69beee3",
    "rescans/truth/IXI002-Guys-0630-T1.json":
        "b329e224ed992c446678ec8746a4d7f4ef5251ffedab4ab6ed8e6f782ffe5471",
    "rescans/truth/IXI002-Guys-0630-T1_brain.nii.gz":
        "0025d9fd4e0dc19fa92ad1035fd30553f5b441042b9d8b2276f968265afbb8a1",
    "rescans/truth/IXI002-Guys-0630-T1_face.nii.gz":
        "4d350749b7ef537956bbaa1effc35d5663bbb19fe9a841654506bd448ce9faee",
    "rescans/truth/IXI002-Guys-0630-T1_head.nii.gz":
        "db2336ce64cf25b4bd23b6b552119858cb439746d0acdc42364330c11b6233f2",
    "rescans/truth/IXI003-HH-0194-T1.json":
        "19f428f7da1df9a9042a81d948d4521711724efe20aacfc26e82c147a48dafeb",
    "rescans/truth/IXI003-HH-0194-T1_brain.nii.gz":
        "9fde63430ae0bfc4d658b6f610b8afb0610d141e008c6aef39fa4be3dfaf116c",
    "rescans/truth/IXI003-HH-0194-T1_face.nii.gz":
        "274aa7fcf7e666b5e55f19ec02de486e60c9d1ab74c874d9bf4fecd99b410b63",
    "rescans/truth/IXI003-HH-0194-T1_head.nii.gz":
        "9be01db24ef7dc75ea0dfed07688e925cd38b19c9eb55d8ce5c169b9fc3b20d2",
    "rescans/truth/IXI007-IOP-0409-T1.json":
        "310648d63e891c3ea4e7334e0e64a33a0c46ba6f8512b0ac5806c0be5068f530",
    "rescans/truth/IXI007-IOP-0409-T1_brain.nii.gz":
        "3df768b7eeb6f0bddd275fc121b98c987925e4b9772e625bbcd2a84011c31eb6",
    "rescans/truth/IXI007-IOP-0409-T1_face.nii.gz":
        "cec00a0928f5808a563c8e14cbd591208e12fbc7d77f942041f9e215172d0e28",
    "rescans/truth/IXI007-IOP-0409-T1_head.nii.gz":
        "b92406cf19882dcec66d3dc95f69080b894a00a647429b1ad35805ad098adcf3",
    "rescans/truth/IXI008-Guys-0309-T1.json":
        "d65644fce423d3cea9aa1dd0ee4590c4e3fe8ae2b17c9f1f92c5ab69b0aa6381",
    "rescans/truth/IXI008-Guys-0309-T1_brain.nii.gz":
        "c0fc7fb349975fb8f13e15ad840cf11b0a85c8bcda319a86d42e263df28e05be",
    "rescans/truth/IXI008-Guys-0309-T1_face.nii.gz":
        "da4c3cef58c1e078078f2383f4c44b28c9d5c5dec2d554f97934c31874a1b9d5",
    "rescans/truth/IXI008-Guys-0309-T1_head.nii.gz":
        "2b0f763dcc4f34c9d4b4fa57934ea9bceeaaaa25a1c4feff72bd386af88c1eac",
    "truth/IXI002-Guys-0630-T1.json":
        "a6a2c49ed97093892f942a7a2fd365b50a994ee1636157fc7d8df9580395b544",
    "truth/IXI002-Guys-0630-T1_brain.nii.gz":
        "f15d02bac7c4dca7176344896897499a685e12c6debe895ea3561c7fc4b131f0",
    "truth/IXI002-Guys-0630-T1_face.nii.gz":
        "f850518fd71654c0937ebc5a9963918a6bb9e0620fc9b9f16046b55b7d10add6",
    "truth/IXI002-Guys-0630-T1_head.nii.gz":
        "420ce5c1369053c96d592eb11496b6dfe846ca0c3eda5b00dd85f32a82fb7e43",
    "truth/IXI003-HH-0194-T1.json":
        "47fe3b3a6cb508351c490973de35bcf511de3320668661e9e7eebbca13b1fad6",
    "truth/IXI003-HH-0194-T1_brain.nii.gz":
        "303f15e7b2da36ce3bf1d13e06bc9dfe903723b9c36452d9f404067e1a009d6d",
    "truth/IXI003-HH-0194-T1_face.nii.gz":
        "700d115dfa787893a5626f8b189cb83144d8cffb9776649391f52785d371ac32",
    "truth/IXI003-HH-0194-T1_head.nii.gz":
        "a997ec67e16d3f85332660cdf091bd3b7295acc9243f93ed41db5945593cf643",
    "truth/IXI007-IOP-0409-T1.json":
        "073fac7b53d21811844f4a37db1bf598b6e329f5246031235f14b569ac32be08",
    "truth/IXI007-IOP-0409-T1_brain.nii.gz":
        "c7bf57762b1362a366e0d943787169a95115baa8779067ce940f9fb13218fb25",
    "truth/IXI007-IOP-0409-T1_face.nii.gz":
        "eb4b443801c5b0a5dca0b7369669524559d74fa336d923d3674a89290d665333",
    "truth/IXI007-IOP-0409-T1_head.nii.gz":
        "e203f5b54becc9db60b749c120c0ef5fbb895f98387bcb2f0b3e61f03ffd255b",
    "truth/IXI008-Guys-0309-T1.json":
        "906e01899c12c6af1ede626b4b1dd17e45af845af444dc8d912fd8d3fb2d18f5",
    "truth/IXI008-Guys-0309-T1_brain.nii.gz":
        "295a2b0132b50176bad21ee44fb096b1d792f821805584df6bd5dcc6d3266000",
    "truth/IXI008-Guys-0309-T1_face.nii.gz":
        "a909049e5c538eab2e7fcddf0a215730dd32521c01f7db6d5ed465b15c6eac17",
    "truth/IXI008-Guys-0309-T1_head.nii.gz":
        "180208b04fe0dc41716e1d86587bc00054cfda46e471f94e496d126938ca3770",
}
IXI_COHORT_SHA256 = {
    "IXI002-Guys-0630-T1.nii.gz":
        "b77f0db76119f0616f9fbbfc54a77b3010e33fcc205a996f63e8acadb0c9fe9a",
    "IXI003-HH-0194-T1.nii.gz":
        "690befdc611c96b9a94c9b6bdef1dc6e6d0a5614436ba872cc5901b85e7db819",
    "IXI007-IOP-0409-T1.nii.gz":
        "fc6a2ba4b43aa779904cf32441795cb8c0ca1d4c453b8c37bb6fa7418d41bace",
    "truth/IXI002-Guys-0630-T1.json":
        "43e3410af6bd29bc13a9e3d1be51787e238720d83120727dcef96fd95b896162",
    "truth/IXI002-Guys-0630-T1_brain.nii.gz":
        "cf8e980e61c978a4f67ba1f7da6c070d8a0fc6a2a2cb85caa8cfb34f01d84419",
    "truth/IXI002-Guys-0630-T1_face.nii.gz":
        "a198185e13254e5e5c9c48c1cadeea74c5be5c9dc22fb19e0986e9f75af3f9f6",
    "truth/IXI002-Guys-0630-T1_head.nii.gz":
        "f85599158a6960aba8e4601bfc774cafd441f6938186461d864bc60c63e7037b",
    "truth/IXI003-HH-0194-T1.json":
        "88a59648915e4642b240aa4fee6d6f178736c3919a4b0a78b43f5a8390d99c30",
    "truth/IXI003-HH-0194-T1_brain.nii.gz":
        "f5453f03e6375dd0d97e0c6ae01b3c6cc4850a93d61d1bbdf52d7b43b3bf9bda",
    "truth/IXI003-HH-0194-T1_face.nii.gz":
        "2736db43ce1a8cbfd30bd415360d37744eccbc1e2b42303626b053c968956cf9",
    "truth/IXI003-HH-0194-T1_head.nii.gz":
        "fef474c78ad331f4a89d2688553d0e2c301ebf0d90d989cafc57c41ac0012064",
    "truth/IXI007-IOP-0409-T1.json":
        "7f2740c911d2d1ed6973ff8c559f9654e5f8a766b69fdeb1d0c1b4b75b8ea8da",
    "truth/IXI007-IOP-0409-T1_brain.nii.gz":
        "24fcebc644720c02e297b029ac2ade4cfcc78fbaa137a9b751b752d622318181",
    "truth/IXI007-IOP-0409-T1_face.nii.gz":
        "fe458163f8aa6bc5265a617fc5fdea5f2bb6b472e71d7a3856be97c0865f7024",
    "truth/IXI007-IOP-0409-T1_head.nii.gz":
        "b17edfe1e8bb9fc38fac74425d4b629963db4ac5556d0ec8005ed70fdecb3806",
}
ONLY_JOBS_SHA256 = {
    "IXI003-HH-0193-T1.nii.gz":
        "24abd42634f3b1f4e42f5bd55ea201d9dd90597e3fc8092f5f94b0307845b8ef",
    "IXI004-IOP-0648-T1.nii.gz":
        "d766ecd7e84d7ffb3b56fc212ff4eb2e7fc4c1ff0339dac503075cee18c5299d",
    "IXI006-HH-0992-T1.nii.gz":
        "070462cf6b8674a6d4816ee660249c71a96305e899554bc19814001a06ac6fd9",
    "truth/IXI003-HH-0193-T1.json":
        "3fa825c9bfe5e9488af187467392a14a86b3907f81dd4408521abaffa0b44369",
    "truth/IXI003-HH-0193-T1_brain.nii.gz":
        "6c0a4af569b1b590dc93372656748f7c886628adbb4ce51184aabdc9f8b14f4c",
    "truth/IXI003-HH-0193-T1_face.nii.gz":
        "e3d4b35c6f62f7bd5b70bdbed4ee60e0f24935618816e1d3f520bac8877918cb",
    "truth/IXI003-HH-0193-T1_head.nii.gz":
        "c0ac09f8e99f7a9a3bed24a1d624041bcf8bf809dd01fdd382bd8f11949b6f5c",
    "truth/IXI004-IOP-0648-T1.json":
        "27be94568637f2d4915b7541cfb03ba88662d4bc9664b9aa94ed1f52fe811097",
    "truth/IXI004-IOP-0648-T1_brain.nii.gz":
        "5a971da1e6733574051fff728bf457c8a595c8e598133e85b2f2ed2c1d4780b7",
    "truth/IXI004-IOP-0648-T1_face.nii.gz":
        "b981fae6514c2f366207f7926304d1c482cb39a458d4fa18d2e55415e8ad4085",
    "truth/IXI004-IOP-0648-T1_head.nii.gz":
        "f9b1cba1cc29b011dbe4cd248e430acaf0e9fde259ac6ed0175bc6ca023db4c4",
    "truth/IXI006-HH-0992-T1.json":
        "e668a752d1925d0c6b2271ca6a69ffc25cb39d4305cf75379cbb63dae4f57a84",
    "truth/IXI006-HH-0992-T1_brain.nii.gz":
        "e31b915954f068a4c392357d1b4423740863d6118aafdfa1d46a27a6d89d3da7",
    "truth/IXI006-HH-0992-T1_face.nii.gz":
        "95ea95577f487857c481a39f4eabd54d33892b04a4bea1e90c5323bcb7f3a5cf",
    "truth/IXI006-HH-0992-T1_head.nii.gz":
        "245dd42b796947bd6030a8d0ab8da482e53bb38b23554ebaea10610f0fd283d0",
}
ARRAYS_SHA256 = {
    "image":
        "284625c6bf5dded6a62fa1629104167ec58f5a77b9bdff998f95af7f2251a8e6",
    "brain":
        "dd6a437e7ec264a292af78c39f290eff94dff75c3b254dac162de148453cd57e",
    "face":
        "82af92e22cda4d789eb5897756115f9b45b3ba244284481c475f60185020f4b4",
    "head":
        "5722a467a08e86f2955729169633b87efc8fb4324322a823995e9c9d5b9844b0",
    "affine":
        "260583519d992b5f14a1b66597afa4a6b8efbfc48c1654d65b4b19073cf5e66c",
    "labels":
        "4c27bdb0c8685bb3bf0fa9f40919420e1c636cf4df312db730cfdec118faf9b0",
    "h2s":
        "6775628dd8b872eac6fa00f6e0fb76e2dbaf7ce7e73624706b6856d75e9227e6",
}


def _sha256(path):
    if path.name.endswith(".json"):
        return hashlib.sha256(path.read_bytes()).hexdigest()
    img = nib.load(path)
    digest = hashlib.sha256(np.ascontiguousarray(np.asanyarray(img.dataobj)).tobytes())
    digest.update(np.asarray(img.affine, np.float64).tobytes())
    return digest.hexdigest()


def _changed_files(folder, expected):
    return sorted(name for name, sha in expected.items() if _sha256(folder / name) != sha)


def test_small_cohort_is_byte_identical_to_the_single_module(synth_small_cohort):
    """4 subjects of seed 0 with rescans at SMALL shape: images, masks and JSON files."""
    folder, _ = synth_small_cohort
    assert len(SMALL_COHORT_SHA256) == 40
    assert _changed_files(folder, SMALL_COHORT_SHA256) == []


def test_full_size_cohort_is_byte_identical_to_the_single_module(synth_ixi_cohort):
    """3 full-size subjects (Guys, HH, IOP) of seed 0."""
    folder, _ = synth_ixi_cohort
    assert len(IXI_COHORT_SHA256) == 15
    assert _changed_files(folder, IXI_COHORT_SHA256) == []


def test_some_subjects_written_by_two_processes_are_byte_identical(tmp_path):
    """The course's path: ``only`` three of the first 6 subjects of seed 3, ``jobs=2``."""
    names = [e["name"] for e in S.cohort_entries(6, seed=3)]
    S.make_cohort(tmp_path, subjects=6, seed=3, progress=False, shape=(24, 40, 40),
                  only=[names[4], names[1], names[2]], jobs=2, faces="block")
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(ONLY_JOBS_SHA256)
    assert _changed_files(tmp_path, ONLY_JOBS_SHA256) == []


def test_synthesize_and_label_map_arrays_are_unchanged():
    def sha(a):
        return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()

    p = S.sample_subject(1, "IOP")
    pose = S.Pose(4.0, (1.0, -2.0, 0.5))
    img, truth, aff = S.synthesize(p, 123, pose, shape=SMALL, faces="block")
    labels, _ = S.label_map(p, pose, shape=SMALL, faces="block")
    got = {"image": sha(img), **{k: sha(v) for k, v in truth.items()}, "affine": sha(aff),
           "labels": sha(labels), "h2s": sha(S.head_to_scanner(p, pose, SMALL))}
    assert got == ARRAYS_SHA256


# ---- tables --------------------------------------------------------------------------------

def test_label_numbering():
    """Face and brain tissues are contiguous label ranges (the ground truth masks are ranges),
    and LABELS names the painters' constants."""
    from refacing_lib.data.synthetic import tissues as T

    brain = (T.GM, T.WM, T.DEEP_GM, T.PALLIDUM, T.BRAINSTEM, T.CB_GM, T.CB_WM, T.VENT, T.SEPTUM)
    face = (T.SKIN, T.FAT, T.MUSCLE, T.VITREOUS, T.LENS, T.SCLERA, T.NERVE, T.CARTILAGE,
            T.MUCOSA, T.TONGUE, T.GLAND)
    assert sorted(brain) == list(range(T.BRAIN_RANGE[0], T.BRAIN_RANGE[1] + 1))
    assert sorted(face) == list(range(T.FACE_RANGE[0], T.FACE_RANGE[1] + 1))
    assert len(S.LABELS) == T.N_LABELS == len(T.BASE_T1) == len(T.T1_RELATIVE)
    assert (S.LABELS["septum_pellucidum"], S.LABELS["fat"], S.LABELS["wm"]) == (
        T.SEPTUM, T.FAT, T.WM)
    # painters add 0/1 to these: skin -> fat -> muscle, white -> grey matter
    assert (T.FAT, T.MUSCLE) == (T.SKIN + 1, T.SKIN + 2) and T.GM == T.WM - 1


def test_smoothed_polyline_rounds_corners_without_overshoot():
    from refacing_lib.data.synthetic.face import smoothed_polyline

    grid = np.arange(0.0, 20.0, 0.25)
    curve = smoothed_polyline([15.0, 5.0, 10.0], [0.0, 0.0, 4.0], grid=grid, sigma=1.0)
    assert curve.shape == grid.shape
    assert curve.min() >= 0.0 and curve.max() <= 4.0           # no overshoot
    assert 3.0 < curve[grid == 10.0][0] < 3.9                   # the peak is rounded
    assert curve[grid == 7.5][0] == pytest.approx(2.0, abs=0.01)  # straight parts kept
    assert curve[0] == 0.0 and curve[-1] == 0.0                 # constant beyond the ends
