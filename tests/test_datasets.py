"""Slice datasets: the paper's splits, building on disk, resuming, reading, tf.data pipelines."""

import shutil

import numpy as np
import pytest
from conftest import SLICE_COHORT_NAMES

from refacing_lib.data.io import VolumeError, load_volume
from refacing_lib.slicing import datasets
from refacing_lib.slicing.datasets import build_dataset, dataset_plan, decode, encode, open_dataset
from refacing_lib.slicing.pipelines import cyclegan_pipeline, numpy_batches, paired_pipeline
from refacing_lib.slicing.slices import subject_slices


def _ixi_listing():
    """581 IXI-like names: 322 Guys, 185 HH, 74 IOP, ids interleaved as in IXI."""
    sites = ["Guys"] * 322 + ["HH"] * 185 + ["IOP"] * 74
    order = np.random.default_rng(0).permutation(len(sites))
    return [f"IXI{2 + i:03d}-{sites[k]}-{1000 + i:04d}-T1.nii.gz" for i, k in enumerate(order)]


@pytest.mark.parametrize("experiment, train, test, sites", [
    ("guys", 6300, 462, {"train": {"Guys": 300}, "test": {"Guys": 22}}),
    ("all", 10500, 1701, {"train": {"Guys": 284, "HH": 151, "IOP": 65},
                          "test": {"Guys": 38, "HH": 34, "IOP": 9}}),
])
def test_plan_gives_the_paper_counts_without_leakage(experiment, train, test, sites):
    plan = dataset_plan(_ixi_listing(), experiment)
    assert (plan["split"] == "train").sum() == train
    assert (plan["split"] == "test").sum() == test
    for split in ("train", "test"):
        part = plan[plan["split"] == split]
        assert part["index"].tolist() == list(range(len(part)))
        assert part.drop_duplicates("subject")["site"].value_counts().to_dict() == sites[split]
        assert all(slots == list(range(21))
                   for slots in part.groupby("subject")["slot"].apply(list))
    train_subjects = set(plan.loc[plan["split"] == "train", "subject"])
    test_subjects = set(plan.loc[plan["split"] == "test", "subject"])
    assert not train_subjects & test_subjects
    assert len(train_subjects | test_subjects) == (322 if experiment == "guys" else 581)


def test_plan_for_heads_not_named_like_ixi():
    names = [f"sub-{i:02d}_T1w.nii.gz" for i in range(15)]
    plan = dataset_plan(names, "all")
    test_subjects = plan.loc[plan["split"] == "test", "subject"].unique().tolist()
    assert test_subjects == ["sub-13_T1w", "sub-14_T1w"]       # round(15 * 81 / 581) = 2
    assert set(plan["site"]) == {"other"}
    with pytest.raises(ValueError, match="only make experiment 'all'"):
        dataset_plan(names, "guys")
    with pytest.raises(ValueError, match="mixed"):
        dataset_plan(names + [SLICE_COHORT_NAMES[0]], "all")


def test_encoding_keeps_images_to_within_half_a_step():
    x = np.random.default_rng(1).uniform(-1, 1, 10000).astype(np.float32)
    stored = encode(x)
    assert stored.dtype == np.uint16
    assert np.abs(decode(stored) - x).max() <= 0.5 / 32767.5 + 1e-7
    assert encode(np.array([-1.0, 1.0])).tolist() == [0, 65535]


@pytest.fixture
def built(slice_cohort, tmp_path):
    originals, anonymized = slice_cohort
    lines = []
    out = build_dataset(originals, anonymized, tmp_path / "ds", experiment="all",
                        progress=False, log=lines.append)
    return out, lines


def test_build_writes_paired_arrays_that_match_the_volumes(slice_cohort, built):
    originals, anonymized = slice_cohort
    out, lines = built
    ds = open_dataset(out)
    # 8 subjects: Guys 3 -> 1 test, HH 3 -> 1 test, IOP 2 -> 1 test
    assert ds.info["counts"] == {"train": {"images": 105, "subjects": 5},
                                 "test": {"images": 63, "subjects": 3}}
    assert ds.info["sites"]["test"] == {"Guys": 1, "HH": 1, "IOP": 1}
    assert ds.arrays["train", "A"].shape == (105, 256, 256)
    assert isinstance(ds.arrays["train", "A"], np.memmap)
    meta = ds.metadata
    assert list(meta.columns) == ["split", "index", "subject", "name", "site", "slice",
                                  "offset_mm", "scale"]
    assert not set(meta[meta.split == "train"].subject) & set(meta[meta.split == "test"].subject)
    # every row is the slice the metadata names, of the volumes, to the storage precision
    for name in ("IXI002-Guys-0828-T1.nii.gz", "IXI030-IOP-0722-T1.nii.gz"):
        rows = meta[meta.name == name]
        original = load_volume(originals / name)
        expected = subject_slices(original, {"anon": load_volume(anonymized / name)})
        split = rows.split.iloc[0]
        assert rows.slice.tolist() == expected["indices"].tolist()
        assert rows.scale.iloc[0] == pytest.approx(expected["scale"])
        np.testing.assert_allclose(ds.images(split, "B", rows["index"].to_numpy()),
                                   expected["original"], atol=1.6e-5)
        np.testing.assert_allclose(ds.images(split, "A", rows["index"].to_numpy()),
                                   expected["anon"], atol=1.6e-5)
    # A is the anonymized domain: the front 12 voxels (columns 148..159 of the 64 voxels
    # padded from column 96) are empty in A, not in B
    assert ds.images("train", "A")[:, :, 148:160].max() == -1.0
    assert ds.images("train", "B")[:, :, 148:160].max() > 0
    size = sum(p.stat().st_size for p in out.iterdir() if p.name != "dataset.json")
    assert ds.info["bytes"] == size and size > 2 * 168 * 256 * 256 * 2   # A and B, uint16
    assert f"{size / 1e6:.1f} MB on disk" in lines[-1]
    assert not out.with_name("ds.part").exists()


def test_build_is_idempotent_and_deterministic(slice_cohort, built, tmp_path):
    originals, anonymized = slice_cohort
    out, _ = built
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    lines = []
    build_dataset(originals, anonymized, out, experiment="all", progress=False,
                  log=lines.append)
    assert "up to date" in lines[0]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp
    again = build_dataset(originals, anonymized, tmp_path / "again", experiment="all",
                          progress=False, log=lambda line: None)
    for path in out.iterdir():
        assert path.read_bytes() == (again / path.name).read_bytes(), path.name


def test_other_settings_need_overwrite(slice_cohort, built):
    originals, anonymized = slice_cohort
    out, _ = built
    with pytest.raises(ValueError, match="other settings.*spacing: 'tight' -> 'loose'"):
        build_dataset(originals, anonymized, out, experiment="all", spacing="loose",
                      progress=False)
    assert open_dataset(out).info["settings"]["spacing"] == "tight"   # kept
    build_dataset(originals, anonymized, out, experiment="guys", overwrite=True,
                  progress=False, log=lambda line: None)
    ds = open_dataset(out)
    assert ds.info["settings"]["experiment"] == "guys" and set(ds.metadata.site) == {"Guys"}


def test_interrupted_build_resumes_without_redoing_subjects(slice_cohort, tmp_path, monkeypatch):
    originals, anonymized = slice_cohort
    broken = tmp_path / "anonymized"
    shutil.copytree(anonymized, broken)
    # subjects go train first, then test, each in name order: the 5 train subjects, then
    # IXI014 (test), IXI025, IXI030
    bad = broken / SLICE_COHORT_NAMES[3]
    good_bytes = bad.read_bytes()
    bad.write_bytes(good_bytes[: len(good_bytes) // 2])
    out = tmp_path / "ds"
    with pytest.raises(VolumeError, match=SLICE_COHORT_NAMES[3]):
        build_dataset(originals, broken, out, experiment="all", progress=False)
    assert not out.exists()
    assert (tmp_path / "ds.part" / "progress.json").exists()

    calls = []
    real = datasets.subject_slices
    monkeypatch.setattr(datasets, "subject_slices",
                        lambda original, *a, **k: calls.append(original.path.name) or
                        real(original, *a, **k))
    bad.write_bytes(good_bytes)
    build_dataset(originals, broken, out, experiment="all", progress=False, log=lambda line: None)
    assert calls == [SLICE_COHORT_NAMES[3], SLICE_COHORT_NAMES[5], SLICE_COHORT_NAMES[7]]
    clean = build_dataset(originals, anonymized, tmp_path / "clean", experiment="all",
                          progress=False, log=lambda line: None)
    for name in ("train_A.npy", "train_B.npy", "test_A.npy", "metadata.csv"):
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name


def test_missing_inputs_are_named(slice_cohort, tmp_path):
    originals, anonymized = slice_cohort
    partial = tmp_path / "anon"
    shutil.copytree(anonymized, partial)
    (partial / SLICE_COHORT_NAMES[1]).unlink()
    with pytest.raises(FileNotFoundError,
                       match=f"1 of 8 .*{SLICE_COHORT_NAMES[1]}.*refacing deface"):
        build_dataset(originals, partial, tmp_path / "ds", progress=False)
    with pytest.raises(FileNotFoundError, match="nowhere.*refacing deface"):
        build_dataset(originals, tmp_path / "nowhere", tmp_path / "ds", progress=False)
    with pytest.raises(FileNotFoundError, match="not a slice dataset.*refacing slices"):
        open_dataset(tmp_path / "ds")


def test_test_only_dataset_takes_the_named_subjects_as_test(slice_cohort, built, tmp_path):
    originals, anonymized = slice_cohort
    names = [SLICE_COHORT_NAMES[6], SLICE_COHORT_NAMES[0]]
    out = build_dataset(originals, anonymized, tmp_path / "test-only", test_only=names,
                        progress=False, log=lambda line: None)
    ds = open_dataset(out)
    assert ds.info["counts"]["train"] == {"images": 0, "subjects": 0}
    assert ds.info["counts"]["test"] == {"images": 42, "subjects": 2}
    assert list(dict.fromkeys(ds.metadata["name"])) == sorted(names)
    # the same subject's slices as in the paper-split dataset, where it is a training subject
    full = open_dataset(built[0])
    rows = np.nonzero(np.asarray((full.metadata["name"] == SLICE_COHORT_NAMES[0])
                                 & (full.metadata["split"] == "train")))[0]
    np.testing.assert_array_equal(ds.arrays["test", "A"][:21], full.arrays["train", "A"][rows])
    with pytest.raises(FileNotFoundError, match="1 test subjects are not in .*IXI999"):
        build_dataset(originals, anonymized, tmp_path / "other", progress=False,
                      test_only=["IXI999-Guys-0001-T1.nii.gz"])


def test_damaged_array_is_reported(built):
    out, _ = built
    np.save(out / "test_B.npy", np.zeros((3, 256, 256), np.uint16))
    with pytest.raises(ValueError, match=r"test_B.npy: shape \(3, 256, 256\).*expected \(63, 256"):
        open_dataset(out)


@pytest.mark.slow
def test_pipelines_shuffle_pair_and_downscale(built):
    ds = open_dataset(built[0])
    a_all, b_all = ds.images("train", "A"), ds.images("train", "B")

    def rows_of(batch, reference):   # which stored rows the images of a batch are
        flat = reference.reshape(len(reference), -1)
        return [int(np.argmin(np.abs(flat - image.reshape(1, -1)).sum(axis=1))) for image in batch]

    epoch = list(cyclegan_pipeline(ds, batch_size=4, seed=7))
    assert len(epoch) == 105 // 4                                   # last partial batch dropped
    a, b = epoch[0]
    assert a.shape == (4, 256, 256, 1) and a.dtype.name == "float32"
    order_a = [r for a, _ in epoch for r in rows_of(a.numpy()[..., 0], a_all)]
    order_b = [r for _, b in epoch for r in rows_of(b.numpy()[..., 0], b_all)]
    assert len(set(order_a)) == 104 and len(set(order_b)) == 104   # each image at most once
    assert order_a != order_b and order_a != sorted(order_a)       # unpaired and shuffled
    again = [r for a, _ in cyclegan_pipeline(ds, batch_size=4, seed=7)
             for r in rows_of(a.numpy()[..., 0], a_all)]
    assert again == order_a                                         # (seed, epoch) decide
    next_epoch = [r for a, _ in cyclegan_pipeline(ds, batch_size=4, seed=7, epoch=1)
                  for r in rows_of(a.numpy()[..., 0], a_all)]
    assert next_epoch != order_a

    for a, b in paired_pipeline(ds, batch_size=5, seed=3).take(3):
        assert rows_of(a.numpy()[..., 0], a_all) == rows_of(b.numpy()[..., 0], b_all)

    (a, b), = paired_pipeline(ds, "test", batch_size=2, image_size=64, shuffle=False).take(1)
    assert a.shape == (2, 64, 64, 1)
    blocks = ds.images("test", "A", slice(0, 2)).reshape(2, 64, 4, 64, 4).mean(axis=(2, 4))
    np.testing.assert_allclose(a.numpy()[..., 0], blocks, atol=1e-5)
    shrunk = list(paired_pipeline(ds, batch_size=4, image_size=64, seed=5))
    same = list(numpy_batches(ds, batch_size=4, image_size=64, seed=5, paired=True))
    assert len(shrunk) == len(same) == 105 // 4                     # numpy: the same batches
    for (a, b), (a_np, b_np) in zip(shrunk, same):
        np.testing.assert_array_equal(a.numpy(), a_np)
        np.testing.assert_array_equal(b.numpy(), b_np)
    assert len(list(paired_pipeline(ds, "test", batch_size=2, shuffle=False))) == 32  # 63 kept

    with pytest.raises(ValueError, match="image_size must divide"):
        cyclegan_pipeline(ds, image_size=100)
    with pytest.raises(ValueError, match="split"):
        cyclegan_pipeline(ds, "validation")


def test_dataset_browser_shows_the_pair_the_metadata_names(built):
    from refacing_lib.viz.widgets import DatasetBrowser

    ds = open_dataset(built[0])
    browser = DatasetBrowser(ds)
    assert browser.index.max == 104
    browser.split.value = "test"
    assert browser.index.max == 62 and browser.index.value == 0
    browser.index.value = 30                           # test subject 2 (IXI025), slot 9
    a_image, b_image = (ax.images[0].get_array() for ax in browser.figure.axes)
    np.testing.assert_array_equal(a_image, ds.images("test", "A", 30))
    np.testing.assert_array_equal(b_image, ds.images("test", "B", 30))
    row = ds.metadata[(ds.metadata.split == "test") & (ds.metadata["index"] == 30)].iloc[0]
    assert row.subject == "IXI025"
    assert f"IXI025 (Guys), sagittal slice {row.slice}" in browser.figure.texts[0].get_text()
