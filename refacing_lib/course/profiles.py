"""Run profiles (``quick``, ``course``, ``full``): read and interpreted here only.

A profile is a YAML file of flat ``name: value`` pairs. Papermill passes it to the notebooks'
``parameters`` cells and the ``refacing`` command reads the same file, so a student's notebook
and an instructor's command line run with the same settings. This module turns it into the
things the stages take: the folders (:func:`layout`), the experiments (:func:`experiments`)
the data it works on (:func:`data_plan`: the synthetic cohort, the split, the default method)
and the training settings (:func:`train_config`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from refacing_lib.data.layout import Layout, check_source, is_synthetic

__all__ = ["PROFILES_DIR", "load_profile", "layout", "experiments", "cohort_names",
           "DataPlan", "data_plan", "train_config"]

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


def layout(profile: dict, results: str | Path | None = None) -> Layout:
    """The folders of a loaded profile's data source (``data_source``) under the data root;
    ``results`` defaults to ``build/results/{profile name}``."""
    source = check_source(profile.get("data_source", "synthetic"))
    name = profile.get("profile", source)
    return Layout(source, results=results or Path("build") / "results" / name)


def experiments(profile: dict) -> list[tuple[str, str]]:
    """The (experiment, method) pairs a profile reproduces.

    ``experiments:`` in the profile lists them as ``guys-blur``, ``all-remove``, ...; without
    it, the profile's single ``experiment`` and ``method``.
    """
    names = profile.get("experiments") or [f"{profile.get('experiment', 'all')}-"
                                           f"{profile.get('method', 'remove')}"]
    pairs = []
    for name in names:
        experiment, _, method = str(name).partition("-")
        if experiment not in ("guys", "all") or method not in ("blur", "remove"):
            raise ValueError(f"experiment {name!r} in the profile: expected guys-blur, "
                             "guys-remove, all-blur or all-remove")
        pairs.append((experiment, method))
    return pairs


def cohort_names(profile: dict) -> list[str]:
    """File names of a profile's synthetic cohort: its first ``synthetic_subjects`` subjects
    of seed ``seed``, less those listed in ``exclude_subjects`` (heads the defacer refuses)."""
    from refacing_lib.data.synthetic import cohort_entries

    names = [e["name"] for e in cohort_entries(int(profile["synthetic_subjects"]),
                                               int(profile.get("seed", 0)))]
    excluded = set(profile.get("exclude_subjects") or [])
    unknown = sorted(excluded - set(names))
    if unknown:
        raise ValueError(f"exclude_subjects of profile {profile.get('profile', '?')!r} names "
                         f"subjects that are not in its cohort: {unknown}")
    return [name for name in names if name not in excluded]


@dataclass(frozen=True)
class DataPlan:
    """The data a profile works on (:func:`data_plan`).

    Attributes
    ----------
    source : str
        ``data_source``: ``"synthetic"``, ``"synthetic-NAME"`` or ``"ixi"``.
    subjects, seed : int
        Size and seed of the generated synthetic cohort (0 and 0 for IXI, or without
        ``synthetic_subjects``).
    names : tuple of str
        The synthetic cohort's file names in use (:func:`cohort_names`); empty without one.
    excluded : tuple of str
        ``exclude_subjects``: synthetic heads left out.
    experiment : {"guys", "all"}
        The paper's split of the slice datasets.
    method : {"blur", "remove"}
        The anonymization trained on by default (notebook 05, ``refacing train``).
    spacing : {"tight", "loose"}
        Sagittal slice spacing.
    jobs : int
        Processes for generating and anonymizing a cohort.
    faces : {"human", "block"}
        The synthetic heads' faces (:class:`refacing_lib.data.synthetic.face.Face`).
    """

    source: str
    subjects: int
    seed: int
    names: tuple[str, ...]
    excluded: tuple[str, ...]
    experiment: str
    method: str
    spacing: str
    jobs: int
    faces: str


def data_plan(profile: dict) -> DataPlan:
    """A loaded profile's :class:`DataPlan`, with the defaults of a key left out (``all``,
    ``remove``, ``tight``, 1 job, seed 0, human faces)."""
    source = check_source(profile.get("data_source", "synthetic"))
    synthetic = is_synthetic(source) and "synthetic_subjects" in profile
    return DataPlan(
        source=source, subjects=int(profile.get("synthetic_subjects", 0)) if synthetic else 0,
        seed=int(profile.get("seed", 0)) if synthetic else 0,
        names=tuple(cohort_names(profile)) if synthetic else (),
        excluded=tuple(profile.get("exclude_subjects") or ()),
        experiment=profile.get("experiment", "all"), method=profile.get("method", "remove"),
        spacing=profile.get("spacing", "tight"), jobs=int(profile.get("jobs", 1)),
        faces=profile.get("faces", "human"))


def train_config(profile: dict, **overrides):
    """The training settings a profile names (its keys that are fields of
    :class:`refacing_lib.model.cyclegan.TrainConfig`; the others are ignored), checked;
    ``overrides`` (None: not given) win. Raises ValueError naming a value out of range."""
    from dataclasses import fields

    from refacing_lib.model.cyclegan import TrainConfig

    names = {f.name for f in fields(TrainConfig)}
    given = {k: v for k, v in overrides.items() if v is not None}
    config = TrainConfig(**{k: v for k, v in {**profile, **given}.items() if k in names})
    config.check()
    return config
