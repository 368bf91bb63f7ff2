"""The `refacing` console command: subcommands, arguments and error messages."""

import argparse
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import refacing_lib
from refacing_lib.course import cli
from refacing_lib.data.io import load_volume

ROOT = Path(__file__).resolve().parents[1]


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("refacing")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("synth", "fetch-ixi", "deface", "slices", "train", "reface", "notebooks"):
        assert command in out


@pytest.mark.slow
def test_version_is_the_package_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"refacing {metadata.version('refacing')}\n"


def test_version_without_an_installed_distribution(monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    assert cli.version() == refacing_lib.__version__


def test_python_m_refacing_lib_is_the_same_command():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = [sys.executable, "-m", "refacing_lib"]
    out = subprocess.run(run + ["--help"], capture_output=True, text=True, check=True,
                         env=env, cwd=ROOT).stdout
    assert out == cli.build_parser().format_help()
    version = subprocess.run(run + ["--version"], capture_output=True, text=True, check=True,
                             env=env, cwd=ROOT).stdout
    assert version == f"refacing {cli.version()}\n"
    bad = subprocess.run(run + ["synth", "--jobs", "0"], capture_output=True, text=True,
                         env=env, cwd=ROOT)
    assert bad.returncode == 2 and "must be at least 1, got 0" in bad.stderr


def _subcommands():
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_help_shows_the_defaults_once(name):
    parser = _subcommands()[name]
    text = " ".join(parser.format_help().split())
    formatter = cli.HelpFormatter(parser.prog)
    for action in parser._actions:
        if action.help is argparse.SUPPRESS or action.dest == "help":
            continue
        assert action.help, f"{name} {action.option_strings}: no help text"
        shown = formatter._get_help_string(action)
        assert shown.count("default:") <= 1, f"{name}: {shown!r} names its default twice"
        default = action.default
        if default is None or isinstance(default, bool):
            continue
        if isinstance(default, list):
            default = " ".join(default)
        assert f"(default: {default})" in text, f"{name} {action.option_strings}"


def test_help_formatter_skips_defaults_that_say_nothing():
    parser = argparse.ArgumentParser(formatter_class=cli.HelpFormatter)
    parser.add_argument("--n", type=int, default=0, help="zero is shown")
    parser.add_argument("--flag", action="store_true", help="a flag")
    parser.add_argument("--off", dest="on", action="store_false", help="an inverted flag")
    parser.add_argument("--out", help="where (default: somewhere)")
    parser.add_argument("--percent", default="50%", help="a percentage")
    parser.add_argument("names", nargs="*", default=["a", "b"], help="names")
    text = " ".join(parser.format_help().split())
    assert "zero is shown (default: 0)" in text
    assert "a percentage (default: 50%)" in text
    assert "names (default: a b)" in text
    assert "where (default: somewhere) " in text and text.count("default:") == 4


def test_reproduce_shows_the_progress_of_every_stage(tmp_path, monkeypatch, capsys):
    """`refacing reproduce` passes progress on to cohort generation, anonymizing, slicing,
    training and evaluating (the stages are replaced by recorders)."""
    monkeypatch.setenv("REFACING_DATA", str(tmp_path / "data"))
    calls = []

    def stage(name, result=None):
        def record(*args, **kwargs):
            calls.append((name, kwargs.get("progress")))
            return result
        return record

    def write_results(evaluations, out):
        out.mkdir(parents=True)
        (out / "metrics.md").write_text(f"{len(evaluations)} evaluations\n")
        return out / "metrics.md"

    monkeypatch.setattr("refacing_lib.data.synthetic.make_cohort", stage("cohort"))
    monkeypatch.setattr("refacing_lib.anonymize.files.deface_folders",
                        stage("anonymize", SimpleNamespace(ok=True)))
    monkeypatch.setattr("refacing_lib.slicing.datasets.build_dataset", stage("slices", tmp_path))
    monkeypatch.setattr("refacing_lib.model.training.train",
                        stage("train", SimpleNamespace(interrupted=False)))
    monkeypatch.setattr("refacing_lib.evaluate.evaluation.evaluate_run",
                        stage("evaluate", "result"))
    monkeypatch.setattr("refacing_lib.evaluate.results.write_results", write_results)
    stages = ["cohort", "anonymize", "slices", "train", "evaluate"]       # quick: one run

    assert cli.main(["reproduce", "--out", str(tmp_path / "results")]) == 0
    assert calls == [(name, True) for name in stages]
    assert "1 evaluations" in capsys.readouterr().out

    calls.clear()
    assert cli.main(["reproduce", "--out", str(tmp_path / "quiet"), "--no-progress"]) == 0
    assert calls == [(name, False) for name in stages]


def test_synth_twice_with_one_seed_gives_identical_arrays(tmp_path, capsys):
    for run in ("a", "b"):
        assert cli.main(["synth", "--out", str(tmp_path / run), "--subjects", "2",
                         "--seed", "7"]) == 0
    assert "2 synthetic subjects" in capsys.readouterr().out
    names_a = sorted(p.name for p in (tmp_path / "a").glob("IXI*.nii.gz"))
    names_b = sorted(p.name for p in (tmp_path / "b").glob("IXI*.nii.gz"))
    assert names_a == names_b and len(names_a) == 2
    for name in names_a:
        np.testing.assert_array_equal(load_volume(tmp_path / "a" / name).data,
                                      load_volume(tmp_path / "b" / name).data)


def test_bad_arguments_are_refused(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["synth", "--subjects", "0"])
    assert info.value.code == 2
    assert "must be at least 1, got 0" in capsys.readouterr().err


def test_library_errors_become_one_clear_line(tmp_path, capsys):
    assert cli.main(["notebooks", "--profile", "nonexistent"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("refacing notebooks: error: unknown profile 'nonexistent'")
    assert "Traceback" not in err


def test_fetch_ixi_passes_its_arguments(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr("refacing_lib.data.ixi.fetch",
                        lambda dest, extract: calls.append((dest, extract)) or dest)
    assert cli.main(["fetch-ixi", str(tmp_path), "--no-extract"]) == 0
    assert calls == [(tmp_path, False)]
    assert f"IXI T1 data ready in {tmp_path}" in capsys.readouterr().out


# ---- refacing deface ---------------------------------------------------------------------------

def test_deface_methods_match_the_library():
    from refacing_lib.anonymize.deface import METHODS

    assert cli.DEFACE_METHODS == METHODS


@pytest.mark.slow
def test_deface_writes_the_good_files_reports_the_corrupt_one_and_resumes(
        synth_ixi_cohort, tmp_path, capsys):
    _, paths = synth_ixi_cohort  # full size: find_face needs a realistic head
    good = tmp_path / "heads"
    good.mkdir()
    for path in paths[:2]:
        (good / path.name).symlink_to(path)
    corrupt = tmp_path / "more" / "IXI999-Guys-0999-T1.nii.gz"
    corrupt.parent.mkdir()
    corrupt.write_bytes(paths[0].read_bytes()[:20000])
    out = tmp_path / "defaced"
    argv = ["deface", "--method", "remove", str(good), str(corrupt), "--out", str(out)]

    assert cli.main(argv + ["--jobs", "2"]) == 1
    captured = capsys.readouterr()
    assert "2 written, 0 already done (skipped), 1 failed" in captured.out
    assert f"failed: {corrupt}: VolumeError: {corrupt}" in captured.out
    assert "refacing deface: error: 1 of 3 files failed" in captured.err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [p.name for p in paths[:2]] + [p.name.replace("-T1.nii.gz", "-T1_changed.nii.gz")
                                       for p in paths[:2]])
    for path in paths[:2]:
        original = load_volume(path)
        defaced = load_volume(out / path.name)
        changed = load_volume(out / path.name.replace(".nii.gz", "_changed.nii.gz")).data > 0
        assert defaced.shape == original.shape and changed.any()
        np.testing.assert_allclose(defaced.affine, original.affine)
        np.testing.assert_array_equal(defaced.data[~changed], original.data[~changed])
        assert not np.array_equal(defaced.data[changed], original.data[changed])
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    assert "0 written, 2 already done (skipped), 1 failed" in captured.out
    assert f"failed: {corrupt}" in captured.out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes


def test_deface_refuses_bad_jobs_missing_inputs_and_overwriting(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["deface", "--method", "remove", str(tmp_path), "--out", str(tmp_path / "o"),
                  "--jobs", "0"])
    assert info.value.code == 2
    assert "argument --jobs: must be at least 1, got 0" in capsys.readouterr().err

    missing = tmp_path / "IXI404-Guys-0404-T1.nii.gz"
    assert cli.main(["deface", "--method", "remove", str(missing), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == f"refacing deface: error: {missing}: no such file or folder\n"

    source = tmp_path / "IXI001-Guys-0001-T1.nii.gz"
    source.write_bytes(b"not read")
    assert cli.main(["deface", "--method", "blur", str(tmp_path), "--out", str(tmp_path)]) == 1
    assert "would overwrite the input" in capsys.readouterr().err
    assert source.read_bytes() == b"not read"


@pytest.mark.slow
def test_deface_blur_writes_a_blurred_face_and_its_mask(synth_ixi_cohort, tmp_path, capsys):
    _, paths = synth_ixi_cohort
    out = tmp_path / "blurred"
    assert cli.main(["deface", "--method", "blur", str(paths[2]), "--out", str(out)]) == 0
    assert "1 written, 0 already done (skipped), 0 failed" in capsys.readouterr().out
    original = load_volume(paths[2])
    blurred = load_volume(out / paths[2].name)
    changed = load_volume(out / paths[2].name.replace(".nii.gz", "_changed.nii.gz")).data > 0
    assert changed.any()
    np.testing.assert_array_equal(blurred.data[~changed], original.data[~changed])


# ---- refacing slices ---------------------------------------------------------------------------

def test_slice_settings_match_the_library():
    from refacing_lib.slicing.slices import MIDPLANES, SPACINGS

    assert cli.SLICE_SPACINGS == tuple(SPACINGS) and cli.SLICE_MIDPLANES == MIDPLANES


def test_slices_builds_in_the_data_root_layout(slice_cohort, tmp_path, monkeypatch, capsys):
    import shutil

    from refacing_lib.slicing.datasets import open_dataset

    originals, anonymized = slice_cohort
    monkeypatch.setenv("REFACING_DATA", str(tmp_path))
    shutil.copytree(originals, tmp_path / "synthetic")
    args = ["slices", "--experiment", "guys", "--method", "remove"]
    assert cli.main(args) == 1                     # nothing anonymized yet
    err = capsys.readouterr().err
    assert f"{tmp_path / 'anonymized' / 'remove' / 'synthetic'}: no such folder" in err
    assert "refacing deface" in err
    shutil.copytree(anonymized, tmp_path / "anonymized" / "remove" / "synthetic")
    assert cli.main(args + ["--spacing", "1.5"]) == 0
    ds = open_dataset(tmp_path / "datasets" / "synthetic-guys-remove")
    assert ds.info["counts"]["test"] == {"images": 21, "subjects": 1}   # 3 Guys: 2 train, 1 test
    assert ds.info["settings"]["spacing"] == 1.5
    assert "42 train and 21 test image pairs" in capsys.readouterr().out
    assert cli.main(args + ["--spacing", "1.5"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert cli.main(args) == 1                     # other spacing: kept, explained
    assert "spacing: 1.5 -> 'tight'" in capsys.readouterr().err
    assert cli.main(args + ["--overwrite"]) == 0


def test_slices_refuses_a_bad_spacing(capsys):
    with pytest.raises(SystemExit):
        cli.main(["slices", "--experiment", "all", "--method", "blur", "--spacing", "wide"])
    assert "must be tight or loose or a distance in mm, got 'wide'" in capsys.readouterr().err


# ---- refacing train / reface --------------------------------------------------------------------

@pytest.mark.slow
def test_train_then_reface_a_dataset_and_volumes(slice_dataset, slice_cohort, tmp_path, capsys):
    import yaml

    from refacing_lib.data.io import load_volume

    profile = tmp_path / "tiny.yaml"
    profile.write_text(yaml.safe_dump({
        "profile": "tiny", "data_source": "synthetic", "experiment": "all", "method": "remove",
        "image_size": 32, "filters": 4, "residual_blocks": 1, "disc_filters": 8, "epochs": 1,
        "steps_per_epoch": 3, "samples": 1}))
    run = tmp_path / "run"
    common = ["--profile", str(profile), "--run", str(run)]
    assert cli.main(["train", *common, "--dataset", str(slice_dataset.folder),
                     "--until-step", "2"]) == 0
    assert (run / "checkpoints" / "step_0000002.npz").is_file()
    assert cli.main(["train", *common, "--dataset", str(slice_dataset.folder)]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert cli.main(["train", *common, "--dataset", str(slice_dataset.folder), "--fresh"]) == 1
    assert "already holds a training" in capsys.readouterr().err

    assert cli.main(["reface", *common, "--dataset", str(slice_dataset.folder)]) == 0
    refaced = np.load(run / "refaced" / f"{slice_dataset.folder.name}-test.npy")
    assert refaced.shape == (63, 32, 32) and np.abs(refaced).max() <= 1

    _, anonymized = slice_cohort
    assert cli.main(["reface", *common, str(anonymized), "--out", str(tmp_path / "vol")]) == 0
    assert "8 written" in capsys.readouterr().out
    name = "IXI002-Guys-0828-T1.nii.gz"
    before, after = load_volume(anonymized / name).data, load_volume(tmp_path / "vol" / name).data
    assert after.shape == before.shape and (after != before).any()
    assert cli.main(["reface", *common]) == 1
    assert "either --dataset DIR or anonymized volumes" in capsys.readouterr().err
