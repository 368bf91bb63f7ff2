"""The `refacing` console command: subcommands, arguments and error messages."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from refacing_lib import cli
from refacing_lib.io import load_volume


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("refacing")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("synth", "fetch-ixi", "notebooks"):
        assert command in out


@pytest.mark.slow
def test_synth_twice_with_one_seed_gives_identical_arrays(tmp_path, capsys):
    for run in ("a", "b"):
        assert cli.main(["synth", "--out", str(tmp_path / run), "--subjects", "2", "--seed", "7"]) == 0
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
    monkeypatch.setattr("refacing_lib.ixi.fetch", lambda dest, extract: calls.append((dest, extract)) or dest)
    assert cli.main(["fetch-ixi", str(tmp_path), "--no-extract"]) == 0
    assert calls == [(tmp_path, False)]
    assert f"IXI T1 data ready in {tmp_path}" in capsys.readouterr().out
