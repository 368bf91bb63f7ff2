"""The repository's set-up files agree with each other, and the notebooks are well formed."""

import json
import re
import tomllib
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.py"))


def _pins():
    """requirements.txt as {canonical name: pinned version}."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"requirements.txt: {line} is not pinned with =="
            pins[canonicalize_name(req.name)] = spec.version
    return pins


def _conda_specs():
    """environment.yml as {canonical name: version prefix or pin}, pip section included."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    specs = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                req = Requirement(line)
                specs[canonicalize_name(req.name)] = str(req.specifier).removeprefix("==")
        else:
            name, _, version = dep.partition("=")
            specs[canonicalize_name(name)] = version
    return specs


def _project_dependencies():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = meta["dependencies"] + meta["optional-dependencies"]["test"]
    return {canonicalize_name(Requirement(d).name) for d in deps}


def test_environment_yml_names_the_same_packages_as_requirements():
    conda = _conda_specs()
    assert conda.pop("python") == "3.11"
    conda.pop("pip")
    direct = _project_dependencies()
    assert set(conda) == direct, "environment.yml and pyproject.toml name different packages"
    pins = _pins()
    missing = direct - set(pins)
    assert not missing, f"requirements.txt does not pin {missing}"
    for name, version in conda.items():
        pinned = pins[name]
        assert pinned == version or pinned.startswith(version + "."), (
            f"{name}: environment.yml asks {version}, requirements.txt pins {pinned}")


def test_binder_uses_the_same_environment():
    binder = ROOT / "binder" / "environment.yml"
    assert binder.resolve() == (ROOT / "environment.yml").resolve()
    assert "--no-deps -e ." in (ROOT / "binder" / "postBuild").read_text()
    assert re.search(r"OMP_NUM_THREADS=1", (ROOT / "binder" / "start").read_text())


def test_jupyter_setup_is_the_course_folder_only():
    """Jupytext pairs notebooks/ only; make lab and Binder put jupyter/ on Jupyter's paths;
    the README's Binder badge opens notebook 01."""
    assert not (ROOT / "jupytext.toml").exists()        # would pair build/*.ipynb too
    assert "py:percent" in (ROOT / "notebooks" / "jupytext.toml").read_text()
    extension = ROOT / "jupyter" / "labextensions" / "refacing-course"
    build = json.loads((extension / "package.json").read_text())["jupyterlab"]["_build"]
    assert (extension / build["load"]).is_file()
    server = json.loads((ROOT / "jupyter" / "jupyter_server_config.json").read_text())
    assert server["KernelManager"]["transport_encryption"] == "auto"
    assert "JUPYTER_PATH=$(CURDIR)/jupyter" in (ROOT / "Makefile").read_text()
    start = (ROOT / "binder" / "start").read_text()
    assert "export JUPYTER_PATH=" in start and "export JUPYTER_CONFIG_PATH=" in start
    badge = re.search(r"mybinder\.org/v2/gh/[^)]*urlpath=lab/tree/([^)&\s]+)",
                      (ROOT / "README.md").read_text())
    assert badge and badge.group(1) == "notebooks/01_ixi_exploration.ipynb"
    assert (ROOT / badge.group(1)).is_file()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make reproduce" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("script", NOTEBOOKS + SOLUTIONS, ids=lambda p: p.stem)
def test_notebook_pair_is_in_sync_and_clean(script):
    ipynb = script.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{script.name} has no paired {ipynb.name}: jupytext --sync {script}"
    stored = nbformat.read(ipynb, as_version=4)
    assert all(not cell.get("outputs") and not cell.get("execution_count")
               for cell in stored.cells if cell.cell_type == "code"), f"{ipynb.name} has outputs"
    from_script = jupytext.read(script)
    assert [c.source for c in stored.cells] == [c.source for c in from_script.cells], (
        f"{ipynb.name} and {script.name} differ: run jupytext --sync {script}")
    tagged = [c for c in stored.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{ipynb.name} needs exactly one cell tagged 'parameters'"


def test_notebooks_exist_in_course_order():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers and numbers == list(range(1, len(numbers) + 1))
