"""Evaluating a generator: scores, identification, results folder, and `refacing reproduce`."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from refacing_lib.course import cli
from refacing_lib.course.profiles import experiments, layout
from refacing_lib.data.layout import Layout
from refacing_lib.evaluate.evaluation import evaluate, gallery_profiles
from refacing_lib.evaluate.results import write_results


def _identity(size):
    import keras

    inputs = keras.Input((size, size, 1))
    return keras.Model(inputs, keras.layers.Identity()(inputs))


@pytest.fixture(scope="module")
def identity_evaluation(slice_dataset, slice_cohort):
    """The small 'all' dataset evaluated with a generator that changes nothing (32 px)."""
    originals, _ = slice_cohort
    gallery = gallery_profiles(slice_dataset, originals, 32)
    return evaluate(slice_dataset, _identity(32), gallery), gallery


def test_a_generator_that_changes_nothing_scores_like_the_anonymized_slices(identity_evaluation):
    ev, _ = identity_evaluation
    scores = ev.scores
    assert len(scores) == 63 and list(scores["position"][:21]) == list(range(21))
    for measure in ("correlation", "ssim", "correlation_changed", "ssim_changed"):
        np.testing.assert_allclose(scores[f"refaced {measure}"], scores[f"anonymized {measure}"],
                                   atol=1e-6)
    # the front 12 voxels were zeroed: less than perfect, more than nothing
    assert 0.2 < scores["anonymized correlation"].mean() < 0.999
    assert ev.images["refaced"].shape == (63, 32, 32)


def test_identification_with_a_gallery_of_the_originals(identity_evaluation):
    ev, (names, profiles, kind) = identity_evaluation
    assert profiles.shape == (8, 21, 32) and "no second scans" in kind
    table = ev.identification
    assert list(table.index) == ["original", "refaced", "anonymized", "average face"]
    assert (table["probes"] == 3).all() and (table["gallery"] == 8).all()
    # an original probe is a copy of its gallery entry: always found first
    assert table.loc["original", "top-1"] == 1.0
    # refacing that changes nothing is the anonymized face
    assert table.loc["refaced"].equals(table.loc["anonymized"])


def test_results_folder(identity_evaluation, tmp_path):
    ev, _ = identity_evaluation
    markdown = write_results([ev], tmp_path)
    table = pd.read_csv(tmp_path / "metrics.csv")
    assert list(table["experiment"]) == ["all"] and list(table["method"]) == ["remove"]
    assert table["ssim refaced"][0] == pytest.approx(ev.scores["refaced ssim"].mean())
    assert table["top-1 original"][0] == 1.0
    text = markdown.read_text()
    assert "| correlation refaced |" in text
    # the changed pixels' error: a generator that changes nothing is as far as the anonymized
    assert table["mae_changed refaced"][0] == pytest.approx(table["mae_changed anonymized"][0])
    assert table["mae_changed anonymized"][0] > 0.1 and table["mae_unchanged refaced"][0] < 0.05
    # rates with their exact interval and chance level; 3 probes are too few to mean anything
    assert table["top-1 chance"][0] == pytest.approx(1 / 8) and table["probes"][0] == 3
    assert (table["top-1 original 95% low"][0], table["top-1 original 95% high"][0]) == \
        pytest.approx((0.025 ** (1 / 3), 1.0))
    assert "| top-1 original | 1.000 [0.292, 1.000] (not meaningful) |" in text
    assert "With fewer than 10 probes" in text and "95% low" not in text
    for name in ("fig2_remove.png", "fig3_slices.png", "fig5_all.png", "scores_all-remove.csv",
                 "site_means_all-remove.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert not (tmp_path / "fig1_blur.png").exists()      # no blurring run was evaluated
    assert len(pd.read_csv(tmp_path / "scores_all-remove.csv")) == 63


def test_profile_experiments_are_checked():
    assert experiments({"experiment": "guys", "method": "blur"}) == [("guys", "blur")]
    assert experiments({"experiments": ["all-remove", "guys-blur"]}) == [("all", "remove"),
                                                                        ("guys", "blur")]
    with pytest.raises(ValueError, match="'all-smudge'"):
        experiments({"experiments": ["all-smudge"]})


def test_a_profile_gives_one_layout_of_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("REFACING_DATA", str(tmp_path / "root"))
    folders = layout({"profile": "course", "data_source": "synthetic-course"})
    root = tmp_path / "root"
    assert folders.originals == root / "synthetic-course"
    assert folders.anonymized("blur") == root / "anonymized" / "blur" / "synthetic-course"
    assert folders.dataset("all", "remove") == root / "datasets" / "synthetic-course-all-remove"
    assert folders.run("guys", "blur") == root / "runs" / "synthetic-course-guys-blur"
    assert folders.results == Path("build") / "results" / "course"
    assert layout({"data_source": "ixi"}, tmp_path / "r").results == tmp_path / "r"
    assert Layout("ixi", root=tmp_path).originals == tmp_path / "ixi"
    with pytest.raises(ValueError, match="got 'synthetic_x'"):
        layout({"data_source": "synthetic_x"})


@pytest.mark.slow
def test_reproduce_runs_every_stage_and_resumes(slice_cohort, tmp_path, monkeypatch, capsys):
    """`refacing reproduce` on IXI-named heads whose anonymization is already done."""
    import shutil

    from refacing_lib.anonymize.files import changed_mask_path
    from refacing_lib.data.io import load_volume, save_volume

    originals, anonymized = slice_cohort
    monkeypatch.setenv("REFACING_DATA", str(tmp_path / "data"))
    shutil.copytree(originals, tmp_path / "data" / "ixi")
    done = tmp_path / "data" / "anonymized" / "remove" / "ixi"
    shutil.copytree(anonymized, done)
    for path in sorted(done.glob("IXI*.nii.gz")):      # finished outputs: deface skips them
        before, after = load_volume(originals / path.name), load_volume(path)
        save_volume(changed_mask_path(path), (before.data != after.data).astype(np.uint8),
                    after.affine, dtype=np.uint8)
    profile = tmp_path / "tiny.yaml"
    profile.write_text(yaml.safe_dump({
        "profile": "tiny", "data_source": "ixi", "experiments": ["all-remove"], "jobs": 1,
        "image_size": 32, "filters": 4, "residual_blocks": 1, "disc_filters": 8, "epochs": 1,
        "steps_per_epoch": 3, "samples": 1}))
    out = tmp_path / "results"
    assert cli.main(["reproduce", "--profile", str(profile), "--out", str(out)]) == 0
    assert "| top-1 refaced |" in capsys.readouterr().out
    table = pd.read_csv(out / "metrics.csv")
    assert table["test images"][0] == 63 and table["top-1 original"][0] == 1.0
    assert np.isfinite(table["discontinuity refaced / original"][0])
    assert (out / "fig6_surfaces.png").is_file()
    # the render attack on the 3 test heads against the 8 subjects (no second scans: the
    # originals match themselves); every head has its row, refaced ones included
    assert table["top-1 chance (face recognition)"][0] == pytest.approx(1 / 8) == \
        1 / table["gallery"][0]
    assert 0 <= table["top-1 refaced (face recognition) 95% low"][0] \
        <= table["top-1 refaced (face recognition)"][0] <= 1
    heads = pd.read_csv(out / "render_heads_all-remove.csv")
    assert heads["version"].value_counts().to_dict() == {"gallery": 8, "original": 3,
                                                         "anonymized": 3, "refaced": 3}
    assert "(face recognition)" in (out / "metrics.md").read_text()
    run = tmp_path / "data" / "runs" / "ixi-all-remove"
    assert (run / "checkpoints" / "step_0000003.npz").is_file()
    # a second run redoes nothing but the evaluation
    assert cli.main(["reproduce", "--profile", str(profile), "--out", str(out)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert sorted(p.name for p in (run / "checkpoints").glob("*.npz")) == ["step_0000003.npz"]
    again = pd.read_csv(out / "metrics.csv")
    pd.testing.assert_frame_equal(table, again)
    # one run alone (without the render attack), and a run that was never trained
    assert cli.main(["evaluate", "--profile", str(profile), "--out", str(tmp_path / "one"),
                     "--no-render"]) == 0
    alone = pd.read_csv(tmp_path / "one" / "metrics.csv")
    pd.testing.assert_frame_equal(alone, table[[c for c in table.columns
                                                if "face recognition" not in c]])
    assert cli.main(["evaluate", "--profile", str(profile), "--method", "blur"]) == 1
    assert "ixi-all-blur: not a slice dataset" in capsys.readouterr().err
