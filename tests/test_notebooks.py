"""Every course notebook executes in the quick profile; the runner stops at a failing one.

The notebooks run in a data root of the test run's own, and each test first prepares through
the library what its notebook reads from the notebooks before it (``notebook_data`` and
``NOTEBOOK_NEEDS`` in conftest.py): any one passes alone on a fresh clone (``pytest -k 05``).
"""

import json
import time

import nbformat
import pytest
import yaml
from conftest import CELL_TIMEOUT

from refacing_lib.course.notebooks import NotebookFailed, find_notebooks, run_notebooks

NOTEBOOKS = [nb.stem for nb in find_notebooks()]


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_notebook_runs_in_quick_profile(tmp_path, stem, notebook_data):
    notebook_data(stem)
    lines = []
    (executed,) = run_notebooks("quick", tmp_path, only=[stem[:2]], log=lines.append,
                                cell_timeout=CELL_TIMEOUT)
    nb = nbformat.read(executed, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert any(line.startswith(f"[1/1] {stem}.ipynb") for line in lines)
    assert any("done in" in line for line in lines)
    figures = sorted((tmp_path / "figures" / stem).glob("*.png"))
    assert figures, f"{stem} saved no figure"
    text = json.dumps(nb.cells)
    assert "SYNTHETIC DATA" in text  # the quick profile's data is said to be synthetic
    if "results_dir" in text:        # notebook 06 writes the results table of make reproduce
        table = (tmp_path / "results" / "metrics.md").read_text()
        assert "| measure | all-remove |" in table


def _notebook(path, source):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("figure_dir = ''")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.slow
def test_runner_stops_at_the_failing_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("REFACING_DATA", str(tmp_path / "data"))
    folder = tmp_path / "nbs"
    folder.mkdir()
    _notebook(folder / "01_fine.ipynb", "print('figures go to', figure_dir)")
    _notebook(folder / "02_broken.ipynb", "x = 1\nraise RuntimeError('the scanner caught fire')")
    _notebook(folder / "03_never.ipynb", "print('unreachable')")
    profile = tmp_path / "tiny.yaml"
    profile.write_text(yaml.safe_dump({"profile": "tiny", "data_source": "synthetic",
                                       "synthetic_subjects": 1, "seed": 0}))
    lines = []
    with pytest.raises(NotebookFailed) as info:
        run_notebooks(profile, tmp_path / "out", notebooks_dir=folder, log=lines.append)
    message = str(info.value)
    assert "02_broken.ipynb failed" in message and "the scanner caught fire" in message
    assert "RuntimeError" in message
    assert (tmp_path / "out" / "01_fine.ipynb").is_file()
    assert (tmp_path / "out" / "02_broken.ipynb").is_file()  # kept, with the error in it
    assert not (tmp_path / "out" / "03_never.ipynb").exists()
    assert any(line.startswith("[2/3] 02_broken.ipynb") for line in lines)
    assert len(list((tmp_path / "data" / "synthetic").glob("IXI*-T1.nii.gz"))) == 1


@pytest.mark.slow
def test_a_cell_longer_than_the_timeout_fails_its_notebook(tmp_path, monkeypatch):
    from refacing_lib.course import notebooks

    monkeypatch.setattr(notebooks, "prepare_data", lambda *args, **kwargs: None)
    folder = tmp_path / "nbs"
    folder.mkdir()
    _notebook(folder / "01_stuck.ipynb", "import time\nprint('waiting')\ntime.sleep(600)")
    start = time.monotonic()
    with pytest.raises(NotebookFailed, match=r"01_stuck.ipynb failed after \d+ s: A cell timed "
                                             r"out .* after 3 seconds. \(cell_timeout=3 s\)"):
        notebooks.run_notebooks("quick", tmp_path / "out", notebooks_dir=folder,
                             log=lambda line: None, cell_timeout=3)
    assert time.monotonic() - start < 120
    cells = nbformat.read(tmp_path / "out" / "01_stuck.ipynb", as_version=4).cells
    assert any("time.sleep(600)" in c.source for c in cells)


@pytest.mark.slow
def test_kernels_run_without_the_unencrypted_tcp_warning(tmp_path, monkeypatch, capfd):
    """papermill's kernels get CurveZMQ keys: ipykernel's "running over TCP without
    encryption" warning (printed on the kernel's stderr at every start) is gone."""
    from refacing_lib.course import notebooks

    monkeypatch.setattr(notebooks, "prepare_data", lambda *args, **kwargs: None)
    folder = tmp_path / "nbs"
    folder.mkdir()
    _notebook(folder / "01_hello.ipynb", "print('kernel says hello')")
    (executed,) = notebooks.run_notebooks("quick", tmp_path / "out", notebooks_dir=folder,
                                       log=lambda line: None)
    cells = nbformat.read(executed, as_version=4).cells
    (hello,) = [c for c in cells if "kernel says" in c.source]
    assert hello.outputs[0]["text"] == "kernel says hello\n"
    assert notebooks.kernel_config().KernelManager.transport_encryption == "auto"
    captured = capfd.readouterr()
    assert "without encryption" not in captured.out + captured.err
