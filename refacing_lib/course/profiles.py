"""Run profiles (``quick``, ``full``) and where the course keeps its data.

A profile is a YAML file of flat ``name: value`` pairs. Papermill passes it to the notebooks'
``parameters`` cells and the ``refacing`` command reads the same file, so a student's notebook
and an instructor's command line run with the same settings.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

__all__ = ["PROFILES_DIR", "load_profile", "check_source", "is_synthetic", "data_root",
           "anonymized_dir", "dataset_dir", "run_dir"]

PROFILES_DIR = Path(__file__).parent / "profiles"


def load_profile(name: str | Path) -> dict:
    """Read a profile.

    Parameters
    ----------
    name : str or Path
        ``"quick"``, ``"course"`` or ``"full"`` (the profiles shipped with the library), or
        the path of a YAML file of your own.

    Returns
    -------
    dict
        The profile's parameters, e.g. ``{"profile": "quick", "data_source": "synthetic", ...}``.
    """
    path = Path(name)
    if not path.suffix:
        path = PROFILES_DIR / f"{name}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
            raise ValueError(f"unknown profile {name!r}; choose one of {known} "
                             "or give a YAML file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: profile file not found")
    with open(path, encoding="utf-8") as f:
        profile = yaml.safe_load(f)
    if not isinstance(profile, dict):
        raise ValueError(f"{path}: a profile must be a mapping of parameter names to values")
    return profile


def check_source(source: str) -> str:
    """Return ``source`` if it names a data source, else raise ValueError naming it.

    A source is ``"ixi"`` (the real data, ``refacing fetch-ixi``) or a generated synthetic
    cohort: ``"synthetic"`` (the quick profile's) or ``"synthetic-NAME"`` (a cohort of its
    own, such as the course profile's ``"synthetic-course"``). It is also the name of the
    originals' folder under the data root.
    """
    if source == "ixi" or is_synthetic(source):
        return source
    raise ValueError(f"data source must be 'ixi', 'synthetic' or 'synthetic-NAME', got {source!r}")


def is_synthetic(source: str) -> bool:
    """True for a generated cohort's source name (``synthetic`` or ``synthetic-NAME``)."""
    return source == "synthetic" or (source.startswith("synthetic-") and len(source) > 10
                                     and source[10:].replace("-", "").isalnum())


def data_root() -> Path:
    """The folder under which data is generated and downloaded.

    ``$REFACING_DATA`` when set; otherwise the ``data/`` folder of the repository checkout
    that holds this library (an editable install), or ``./data`` in the current folder.
    Layout below it: ``synthetic/`` (generated cohort, ``truth/`` beside it), ``ixi/``
    (downloaded IXI T1 volumes and IXI.xls), then the anonymized volumes and datasets.
    """
    if os.environ.get("REFACING_DATA"):
        return Path(os.environ["REFACING_DATA"]).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "data").is_dir():
        return checkout / "data"
    return Path.cwd() / "data"


def anonymized_dir(source: str, method: str) -> Path:
    """Where the anonymized volumes of a source go: ``<data root>/anonymized/{method}/{source}``.

    ``source`` is a data source of :func:`check_source` (the folder name of the originals
    under the data root), ``method`` ``"blur"`` or ``"remove"``.
    """
    return data_root() / "anonymized" / method / source


def dataset_dir(source: str, experiment: str, method: str) -> Path:
    """The slice dataset of one experiment and anonymization:
    ``<data root>/datasets/{source}-{experiment}-{method}``."""
    return data_root() / "datasets" / f"{source}-{experiment}-{method}"


def run_dir(source: str, experiment: str, method: str) -> Path:
    """The folder of one CycleGAN training (checkpoints, logs, samples, refaced outputs):
    ``<data root>/runs/{source}-{experiment}-{method}``."""
    return data_root() / "runs" / f"{source}-{experiment}-{method}"
