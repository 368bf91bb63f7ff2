"""Where the course keeps its files: one layout of folders under a data root.

Every stage takes its folders from a :class:`Layout`, built once (from a profile:
:func:`refacing_lib.course.profiles.layout`) and handed on::

    <root>/{source}/                               the originals (a synthetic cohort's
                                                   truth/ and rescans/ beside them)
    <root>/anonymized/{method}/{source}/           refacing deface
    <root>/datasets/{source}-{experiment}-{method}/  refacing slices
    <root>/runs/{source}-{experiment}-{method}/      refacing train
    <root>/pretrained-results/                     the shipped model's measures, kept
    <results>/                                     figures and metrics.md of the evaluation
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Layout", "data_root", "check_source", "is_synthetic"]


def data_root() -> Path:
    """The folder under which data is generated and downloaded.

    ``$REFACING_DATA`` when set; otherwise the ``data/`` folder of the repository checkout
    that holds this library (an editable install), or ``./data`` in the current folder.
    """
    if os.environ.get("REFACING_DATA"):
        return Path(os.environ["REFACING_DATA"]).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "data").is_dir():
        return checkout / "data"
    return Path.cwd() / "data"


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


@dataclass(frozen=True)
class Layout:
    """The folders of one data source (module docstring).

    Parameters
    ----------
    source : str
        ``"synthetic"``, ``"synthetic-NAME"`` or ``"ixi"`` (:func:`check_source`).
    root : str or Path, optional
        The data root; default :func:`data_root`.
    results : str or Path
        The results folder of an evaluation (figures, ``metrics.md``).
    """

    source: str = "synthetic"
    root: Path = field(default=None)
    results: Path = Path("build") / "results"

    def __post_init__(self):
        check_source(self.source)
        object.__setattr__(self, "root", Path(self.root) if self.root else data_root())
        object.__setattr__(self, "results", Path(self.results))

    @property
    def originals(self) -> Path:
        """The original volumes: ``<root>/{source}``."""
        return self.root / self.source

    def anonymized(self, method: str) -> Path:
        """The volumes anonymized with ``method`` (``"blur"``, ``"remove"``)."""
        return self.root / "anonymized" / method / self.source

    def dataset(self, experiment: str, method: str) -> Path:
        """The slice dataset of ``experiment`` (``"guys"``, ``"all"``) and ``method``."""
        return self.root / "datasets" / self.name(experiment, method)

    def run(self, experiment: str, method: str) -> Path:
        """The training run (checkpoints, history, samples) of ``experiment`` and ``method``."""
        return self.root / "runs" / self.name(experiment, method)

    def name(self, experiment: str, method: str) -> str:
        """``{source}-{experiment}-{method}``, the name of a dataset and of its run."""
        return f"{self.source}-{experiment}-{method}"

    @property
    def pretrained_results(self) -> Path:
        """Where the shipped model's measures are kept between runs."""
        return self.root / "pretrained-results"
