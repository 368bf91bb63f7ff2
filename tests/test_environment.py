"""The repository's set-up files agree with each other, and the notebooks are well formed."""

import ast
import json
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
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


# --------------------------------------------------------------------------------------------
# Dependencies: pyproject.toml declares every imported package with a lower bound,
# requirements.txt pins them (and everything below them), environment.yml pins the direct ones
# (dependencies and the test extra) at the same versions. Each checker returns its problems as
# sentences, and is tested on bad input below as well as on the real files.

#: What each folder may import: the library (JAX only in its optional JAX code), the notebooks
#: (Binder installs environment.yml: the dependencies and the test extra), the tests and the
#: benchmarks.
IMPORT_SCOPES = {"refacing_lib": ("jax",), "notebooks": (), "tests": ("jax", "browser"),
                 "benchmarks": ("jax",)}
#: The project's own modules: the library, and the tests' fixtures (a benchmark reuses them).
OWN_PACKAGES = {"refacing_lib", "conftest"}


def check_requirements(text: str) -> tuple[dict[str, str], list[str]]:
    """requirements.txt as {canonical name: pinned version}, and its problems: a line that is
    not ``name==version``, a package named twice."""
    pins, problems = {}, []
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        name = canonicalize_name(req.name)
        if len(specs) != 1 or specs[0].operator != "==":
            problems.append(f"requirements.txt: {line!r} is not pinned with ==")
            continue
        if name in pins:
            problems.append(f"requirements.txt: {name} is named twice")
        pins[name] = specs[0].version
    return pins, problems


def check_environment(text: str) -> tuple[dict[str, str], list[str]]:
    """environment.yml as {canonical name: version} (conda and pip sections; python and pip
    left out), and its problems: no conda-forge, a package named twice (in one section or in
    both), a conda package not pinned as ``name=X.Y.Z`` or a pip one not as ``name==X.Y.Z``."""
    env = yaml.safe_load(text)
    problems = [] if "conda-forge" in env.get("channels", []) else [
        "environment.yml: no conda-forge"]
    specs = {}

    def add(name: str, version: str, line: str) -> None:
        name = canonicalize_name(name)
        if name in specs:
            problems.append(f"environment.yml: {name} is named twice")
        specs[name] = version
        if not re.fullmatch(r"\d+(\.\w+)*", version):
            problems.append(f"environment.yml: {line!r} is not pinned to one version")

    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep.get("pip", []):
                req = Requirement(line)
                ops = [spec.operator for spec in req.specifier]
                version = next(iter(req.specifier)).version if ops == ["=="] else ""
                add(req.name, version, line)
        elif dep != "pip" and not dep.startswith("python="):
            name, operator, version = re.fullmatch(r"([\w.-]+)\s*([=<>!~]*)\s*(.*)", dep).groups()
            add(name, version if operator == "=" else "", dep)
    return specs, problems


def check_project(meta: dict) -> tuple[set[str], dict[str, set[str]], list[str]]:
    """pyproject.toml's [project]: the canonical names of its dependencies and of each extra,
    and its problems: a package without a lower bound (>=), one named twice."""
    problems = []
    groups = {"": meta["dependencies"], **meta.get("optional-dependencies", {})}
    names = {}
    for group, deps in groups.items():
        names[group] = set()
        for dep in deps:
            req = Requirement(dep)
            name = canonicalize_name(req.name)
            if not any(spec.operator == ">=" for spec in req.specifier):
                problems.append(f"pyproject.toml: {dep!r} has no lower bound (>=)")
            if any(name in seen for seen in names.values()):
                problems.append(f"pyproject.toml: {name} is named twice")
            names[group].add(name)
    core = names.pop("")
    return core, names, problems


def check_agreement(project: dict, pins: dict[str, str], env: dict[str, str]) -> list[str]:
    """The three files against each other: requirements.txt pins every declared package at a
    version within its bounds; environment.yml names exactly the dependencies and the test
    extra, at the versions of requirements.txt."""
    problems = []
    declared = {}
    for group, deps in [("", project["dependencies"]),
                        *project.get("optional-dependencies", {}).items()]:
        for dep in deps:
            declared[canonicalize_name(Requirement(dep).name)] = (group, Requirement(dep))
    for name, (group, req) in sorted(declared.items()):
        if name not in pins:
            problems.append(f"requirements.txt does not pin {name} (pyproject.toml)")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"requirements.txt pins {name}=={pins[name]}, outside "
                            f"pyproject.toml's {req.specifier}")
    direct = {n for n, (group, _) in declared.items() if group in ("", "test")}
    for name in sorted(direct - set(env)):
        problems.append(f"environment.yml lacks {name} (pyproject.toml)")
    for name in sorted(set(env) - direct):
        problems.append(f"environment.yml names {name}, which is not a dependency or in the "
                        "test extra of pyproject.toml")
    for name, version in sorted(env.items()):
        if name not in pins:
            problems.append(f"requirements.txt lacks {name} (environment.yml)")
        elif version != pins[name]:
            problems.append(f"{name}: environment.yml pins {version!r}, requirements.txt "
                            f"{pins[name]!r}")
    return problems


def imported_modules(files) -> dict[str, list[str]]:
    """Top-level names of the absolute imports in Python files that are neither the standard
    library's nor a module beside the importing file -> the files importing them."""
    found = {}
    for path in files:
        path = Path(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                local = (path.parent / f"{top}.py").is_file() or (path.parent / top).is_dir()
                if top not in sys.stdlib_module_names and not local:
                    found.setdefault(top, []).append(path.name)
    return found


def _installed_modules() -> dict[str, list[str]]:
    """``packages_distributions()``, plus the packages a distribution installs without naming
    them in its ``top_level.txt`` (dlib-bin names only its extension, ``_dlib_pybind11``, not
    ``dlib/``): top-level folders with an ``__init__.py`` in its file list."""
    from importlib.metadata import distributions

    found = {k: list(v) for k, v in packages_distributions().items()}
    for dist in distributions():
        for path in dist.files or []:
            if len(path.parts) == 2 and path.parts[1] == "__init__.py":
                names = found.setdefault(path.parts[0], [])
                if dist.metadata["Name"] not in names:
                    names.append(dist.metadata["Name"])
    return found


def undeclared_imports(files, declared: set[str], distributions=None) -> list[str]:
    """Third-party imports in ``files`` whose distribution (``packages_distributions``:
    ``yaml`` -> PyYAML, ``skimage`` -> scikit-image) is not in ``declared``."""
    if distributions is None:
        distributions = _installed_modules()
    problems = []
    for module, where in sorted(imported_modules(files).items()):
        if module in OWN_PACKAGES:
            continue
        dists = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not dists:
            problems.append(f"{module} (imported by {', '.join(sorted(set(where)))}) is not "
                            "installed, so its distribution is unknown")
        elif not dists & declared:
            problems.append(f"{module} (imported by {', '.join(sorted(set(where)))}) comes from "
                            f"{', '.join(sorted(dists))}, not declared in pyproject.toml")
    return problems


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_requirements_pin_each_package_once():
    assert check_requirements((ROOT / "requirements.txt").read_text())[1] == []


def test_environment_yml_pins_each_package_once():
    assert check_environment((ROOT / "environment.yml").read_text())[1] == []
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"] and "nodefaults" in env["channels"]


def test_pyproject_declares_lower_bounds():
    assert check_project(_project())[2] == []


def test_requirements_environment_and_pyproject_agree():
    pins = check_requirements((ROOT / "requirements.txt").read_text())[0]
    env = check_environment((ROOT / "environment.yml").read_text())[0]
    assert check_agreement(_project(), pins, env) == []


@pytest.mark.parametrize("folder", sorted(IMPORT_SCOPES))
def test_imports_are_declared(folder):
    core, extras, _ = check_project(_project())
    declared = core | extras["test"] | set().union(*(extras[e] for e in IMPORT_SCOPES[folder]))
    files = sorted((ROOT / folder).rglob("*.py"))
    if folder == "tests":   # not tests/data/make_ixi_xls.py (needs xlwt, see its README)
        files = sorted((ROOT / folder).glob("*.py"))
    assert files
    assert undeclared_imports(files, declared) == []


def test_xlrd_and_xlwt_are_gone():
    """IXI.xls is read with calamine: neither xlrd nor xlwt is a dependency any more."""
    text = "\n".join((ROOT / f).read_text() for f in
                      ("pyproject.toml", "requirements.txt", "environment.yml"))
    assert not re.search(r"\bxl(rd|wt)\b", text)


# the checkers on bad input

PROJECT = {"dependencies": ["numpy>=1.26", "keras>=3.10"],
           "optional-dependencies": {"test": ["pytest>=7"], "jax": ["jax>=0.4.36"]}}
PINS = "numpy==2.4.6\nkeras==3.15.1\npytest==9.2.0\njax==0.10.2\nml-dtypes==0.6.0\n"
ENV = """\
channels: [conda-forge, nodefaults]
dependencies:
  - python=3.11
  - pip
  - numpy=2.4.6
  - pytest=9.2.0
  - pip:
      - keras==3.15.1
"""


def test_checkers_accept_good_input():
    pins, problems = check_requirements(PINS)
    assert problems == [] and pins["ml-dtypes"] == "0.6.0"
    env, problems = check_environment(ENV)
    assert problems == [] and env == {"numpy": "2.4.6", "pytest": "9.2.0", "keras": "3.15.1"}
    assert check_project(PROJECT)[2] == []
    assert check_agreement(PROJECT, pins, env) == []


@pytest.mark.parametrize("text, problem", [
    (PINS + "NumPy==2.4.6\n", "numpy is named twice"),
    (PINS + "ml_dtypes==0.6.0\n", "ml-dtypes is named twice"),
    (PINS + "scipy>=1.10\n", "'scipy>=1.10' is not pinned"),
    (PINS + "scipy\n", "'scipy' is not pinned"),
])
def test_requirements_checker_finds(text, problem):
    assert any(problem in p for p in check_requirements(text)[1])


@pytest.mark.parametrize("text, problem", [
    (ENV + "      - keras==3.15.1\n", "keras is named twice"),         # tensorboard's old bug
    (ENV.replace("  - pip:", "  - keras=3.15.1\n  - pip:"), "keras is named twice"),
    (ENV.replace("numpy=2.4.6", "numpy=2.4"), None),              # caught by the agreement
    (ENV.replace("numpy=2.4.6", "numpy"), "'numpy' is not pinned"),
    (ENV.replace("numpy=2.4.6", "numpy>=2.4"), "'numpy>=2.4' is not pinned"),
    (ENV.replace("keras==3.15.1", "keras>=3.10"), "'keras>=3.10' is not pinned"),
    (ENV.replace("conda-forge, ", ""), "no conda-forge"),
])
def test_environment_checker_finds(text, problem):
    env, problems = check_environment(text)
    if problem is None:
        assert env["numpy"] == "2.4" and problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_project_checker_finds_missing_bounds_and_twice_named():
    bad = {"dependencies": ["numpy", "keras<4", "keras>=3.10"],
           "optional-dependencies": {"test": ["pytest>=7", "NumPy>=1.26"]}}
    problems = check_project(bad)[2]
    assert "pyproject.toml: 'numpy' has no lower bound (>=)" in problems
    assert "pyproject.toml: 'keras<4' has no lower bound (>=)" in problems
    assert "pyproject.toml: keras is named twice" in problems
    assert "pyproject.toml: numpy is named twice" in problems


@pytest.mark.parametrize("change, problem", [
    (lambda p, e: e.update(numpy="2.4"), "numpy: environment.yml pins '2.4', requirements.txt "
                                         "'2.4.6'"),
    (lambda p, e: p.update(numpy="2.4.5"), "numpy: environment.yml pins '2.4.6', "
                                           "requirements.txt '2.4.5'"),
    (lambda p, e: e.pop("pytest"), "environment.yml lacks pytest"),
    (lambda p, e: e.update(jax="0.10.2"), "environment.yml names jax"),
    (lambda p, e: e.update({"ml-dtypes": "0.6.0"}), "environment.yml names ml-dtypes"),
    (lambda p, e: p.pop("keras"), "requirements.txt does not pin keras"),
    (lambda p, e: p.pop("jax"), "requirements.txt does not pin jax"),
    (lambda p, e: p.update(keras="3.9.0"), "keras==3.9.0, outside pyproject.toml's >=3.10"),
])
def test_agreement_checker_finds(change, problem):
    pins, env = check_requirements(PINS)[0], check_environment(ENV)[0]
    change(pins, env)
    problems = check_agreement(PROJECT, pins, env)
    assert any(problem in p for p in problems), problems


def test_agreement_checker_finds_a_package_missing_from_requirements():
    pins, env = check_requirements(PINS)[0], check_environment(ENV)[0]
    project = {**PROJECT, "dependencies": PROJECT["dependencies"] + ["scipy>=1.10"]}
    env["scipy"] = "1.17.1"
    assert check_agreement(project, pins, env) == [
        "requirements.txt does not pin scipy (pyproject.toml)",
        "requirements.txt lacks scipy (environment.yml)"]


def test_import_checker_finds_undeclared_and_unknown_packages(tmp_path):
    (tmp_path / "helper.py").write_text("")
    module = tmp_path / "module.py"
    module.write_text("from __future__ import annotations\nimport os.path\nimport helper\n"
                      "from . import sibling\nimport numpy as np\nfrom skimage import filters\n"
                      "def f():\n    import yaml\n    from not_a_package_xyz import x\n")
    distributions = {"numpy": ["numpy"], "skimage": ["scikit-image"], "yaml": ["PyYAML"]}
    problems = undeclared_imports([module], {"numpy", "scikit-image"}, distributions)
    assert problems == [
        "not_a_package_xyz (imported by module.py) is not installed, so its distribution is "
        "unknown",
        "yaml (imported by module.py) comes from pyyaml, not declared in pyproject.toml"]
    assert undeclared_imports([module], {"numpy", "scikit-image", "pyyaml"},
                              {**distributions, "not_a_package_xyz": ["xyz"]}) == [
        "not_a_package_xyz (imported by module.py) comes from xyz, not declared in "
        "pyproject.toml"]


def test_import_checker_maps_installed_distributions(tmp_path):
    """The real mapping: import names that differ from their distribution's name."""
    module = tmp_path / "module.py"
    module.write_text("import yaml, skimage, IPython, zmq\nfrom mpl_toolkits import mplot3d\n")
    assert undeclared_imports([module], {"pyyaml", "scikit-image", "ipython", "pyzmq",
                                         "matplotlib"}) == []
    assert len(undeclared_imports([module], {"pyyaml"})) == 4


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
