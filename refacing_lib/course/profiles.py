"""Run profiles (``quick``, ``course``, ``full``): read and interpreted here only.

A profile is a YAML file of flat ``name: value`` pairs. Papermill passes it to the notebooks'
``parameters`` cells and the ``refacing`` command reads the same file, so a student's notebook
and an instructor's command line run with the same settings. This module turns it into the
things the stages take: the folders (:func:`layout`), the experiments (:func:`experiments`)
the synthetic cohort's subjects (:func:`cohort_names`) and the training settings
(:func:`train_config`).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from refacing_lib.data.layout import Layout, check_source

__all__ = ["PROFILES_DIR", "load_profile", "layout", "experiments", "cohort_names",
           "train_config"]

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
