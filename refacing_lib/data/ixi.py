"""The IXI dataset: file names, sites, the paper's splits, download and demographics.

IXI (https://brain-development.org/ixi-dataset/, licence CC BY-SA 3.0) ships its T1 volumes
as one flat archive, ``IXI-T1.tar`` (about 4.5 GB, 581 volumes named like
``IXI002-Guys-0828-T1.nii.gz``), and the subjects' demographics as ``IXI.xls``.

* :func:`parse_name`, :func:`list_volumes`: the volumes and what their names say.
* :data:`SITES`: the three acquisition sites (Table 1 of Abramian & Eklund, ISBI 2019).
* :func:`paper_split`: the train/test split of the paper's two experiments.
* :func:`fetch`: download :data:`IXI_FILES` and extract the archive (with
  :mod:`refacing_lib.data.download`: resumable, checksum-verified, safe extraction).
* :func:`load_demographics`: age, sex and site per subject from ``IXI.xls``.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, NamedTuple

import pandas as pd

from . import download

__all__ = [
    "IXI_FILES",
    "NAME_RE",
    "SITES",
    "IXIName",
    "Split",
    "fetch",
    "list_volumes",
    "load_demographics",
    "paper_split",
    "parse_name",
]

NAME_RE = re.compile(r"IXI(\d{3})-(Guys|HH|IOP)-(\d{4})-T1\.nii\.gz")
"""Regular expression of an IXI T1 file name; groups: id, site, number."""

_NAME_HELP = (
    "IXI<3-digit id>-<Guys|HH|IOP>-<4-digit number>-T1.nii.gz, e.g. IXI002-Guys-0828-T1.nii.gz"
)

SITES: dict[str, dict[str, object]] = {
    "Guys": {
        "name": "Guy's Hospital",
        "scanner": "Philips Gyroscan Intera",
        "field_strength_t": 1.5,
        "subjects": 322,
        "slices": 150,
    },
    "HH": {
        "name": "Hammersmith Hospital",
        "scanner": "Philips Intera",
        "field_strength_t": 3.0,
        "subjects": 185,
        "slices": 150,
    },
    "IOP": {
        "name": "Institute of Psychiatry",
        "scanner": "GE",
        "field_strength_t": 1.5,
        "subjects": 74,
        "slices": 146,
    },
}
"""The IXI sites in the paper's order (Guys, HH, IOP) with the facts of its Table 1.

Each value has ``name`` (str), ``scanner`` (str), ``field_strength_t`` (float, tesla),
``subjects`` (int, number of T1 volumes) and ``slices`` (int, sagittal slices of 1.2 mm; the
other two axes are 256 voxels of 0.9375 mm). ``pandas.DataFrame.from_dict(SITES,
orient="index")`` gives the table.
"""

_PAPER_SPLITS: dict[str, dict[str, tuple[int, int]]] = {
    "guys": {"Guys": (300, 22)},
    "all": {"Guys": (284, 38), "HH": (151, 34), "IOP": (65, 9)},
}
"""(train, test) subjects per site of the paper's experiments (section 3.3)."""


class IXIName(NamedTuple):
    """What an IXI T1 file name says.

    Attributes
    ----------
    id : int
        IXI subject id (``IXI_ID`` of ``IXI.xls``).
    site : str
        Acquisition site, one of :data:`SITES`.
    number : int
        The four-digit number after the site.
    name : str
        The file name itself, without folder.
    """

    id: int
    site: str
    number: int
    name: str


def parse_name(name: str | os.PathLike) -> IXIName:
    """Parse an IXI T1 file name such as ``IXI002-Guys-0828-T1.nii.gz``.

    Parameters
    ----------
    name : str or path-like
        A file name or a path; only the last component is parsed.

    Returns
    -------
    IXIName
        Subject id, site, number and file name.

    Raises
    ------
    ValueError
        If the name does not match :data:`NAME_RE`; the message quotes it.
    """
    base = Path(name).name
    match = NAME_RE.fullmatch(base)
    if match is None:
        raise ValueError(f"{str(name)!r} is not an IXI T1 file name: expected {_NAME_HELP}")
    return IXIName(int(match[1]), match[2], int(match[3]), base)


def list_volumes(folder: str | os.PathLike) -> list[Path]:
    """The IXI T1 volumes directly in ``folder``, sorted by file name.

    Parameters
    ----------
    folder : str or path-like
        Folder holding the ``IXI*-T1.nii.gz`` files (not searched recursively). Other files,
        such as ``IXI.xls`` or ``IXI-T1.tar``, are ignored.

    Returns
    -------
    list of pathlib.Path
        Paths of the volumes, sorted by name (hence by subject id).

    Raises
    ------
    FileNotFoundError
        If ``folder`` is not an existing folder, or holds no IXI T1 volume.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"IXI data folder not found: {folder}")
    paths = sorted(
        (p for p in folder.iterdir() if NAME_RE.fullmatch(p.name) and p.is_file()),
        key=lambda p: p.name,
    )
    if not paths:
        raise FileNotFoundError(
            f"no IXI T1 volume ({_NAME_HELP}) in {folder}. Get data with "
            f"`refacing synth --out {folder}` (small synthetic cohort) or "
            f"`refacing fetch-ixi {folder}` (real IXI, about 4.5 GB)"
        )
    return paths


@dataclass(frozen=True)
class Split:
    """A train/test split of IXI T1 file names.

    Attributes
    ----------
    train, test : list of str
        File names (no folder), each sorted; no subject is in both.
    """

    train: list[str]
    test: list[str]

    def counts(self) -> dict[str, dict[str, int]]:
        """Subjects per site: ``{site: {"train": n, "test": n}}`` for the sites present."""
        table: dict[str, dict[str, int]] = {}
        for part in ("train", "test"):
            for name in getattr(self, part):
                site = parse_name(name).site
                table.setdefault(site, {"train": 0, "test": 0})[part] += 1
        return {site: table[site] for site in SITES if site in table}


def paper_split(names: Iterable[str | os.PathLike], experiment: str) -> Split:
    """Split IXI T1 volumes into train and test subjects as in the paper.

    The paper (section 3.3) has two experiments: ``"guys"`` uses the 322 Guy's subjects
    (300 train, 22 test); ``"all"`` uses all 581 (500 train: 284 Guys, 151 HH, 65 IOP;
    81 test: 38 Guys, 34 HH, 9 IOP). As in the paper's scripts, the test subjects of a site
    are the LAST ``n_test`` of its file names sorted by name.

    ``n_test`` per site of the experiment:

    * a site with exactly the paper's number of subjects (322 Guys, 185 HH, 74 IOP) gets the
      paper's count, so the 581 IXI volumes give exactly the paper's split;
    * otherwise (a subset, the synthetic cohort) the paper's test fraction of that site,
      rounded half up, at least 1: ``n_test = max(1, floor(n * paper_test / paper_total
      + 0.5))``. For 12 subjects per site this is 1 (guys), and 1 Guys, 2 HH, 1 IOP (all).

    The other ``n - n_test`` subjects (at least 1) are train. Sites outside the experiment are
    ignored (``"guys"`` drops HH and IOP names).

    Parameters
    ----------
    names : iterable of str or path-like
        IXI T1 file names or paths (see :func:`parse_name`).
    experiment : {"guys", "all"}
        The paper's experiment.

    Returns
    -------
    Split
        Train and test file names (no folder), each sorted.

    Raises
    ------
    ValueError
        For an unknown experiment, a name that is not an IXI T1 name, a subject id given
        twice, or a site of the experiment with fewer than 2 subjects.
    """
    if experiment not in _PAPER_SPLITS:
        raise ValueError(
            f"unknown experiment {experiment!r}: valid ones are {sorted(_PAPER_SPLITS)}"
        )
    parsed = [parse_name(n) for n in names]
    id_counts = Counter(p.id for p in parsed)
    duplicates = sorted(p.name for p in parsed if id_counts[p.id] > 1)
    if duplicates:
        raise ValueError(f"subject ids given more than once: {duplicates}")

    train: list[str] = []
    test: list[str] = []
    for site, (paper_train, paper_test) in _PAPER_SPLITS[experiment].items():
        site_names = sorted(p.name for p in parsed if p.site == site)
        n = len(site_names)
        if n < 2:
            raise ValueError(
                f"experiment {experiment!r} needs at least 2 subjects of site {site} "
                f"(1 train, 1 test), found {n}"
            )
        paper_total = paper_train + paper_test
        if n == paper_total:
            n_test = paper_test
        else:
            n_test = max(1, int(n * paper_test / paper_total + 0.5))
        train += site_names[: n - n_test]
        test += site_names[n - n_test :]
    return Split(sorted(train), sorted(test))


# --------------------------------------------------------------------------------------------
# Download

IXI_FILES: tuple[download.RemoteFile, ...] = (
    download.RemoteFile(
        "IXI-T1.tar",
        "http://biomedic.doc.ic.ac.uk/brain-development/downloads/IXI/IXI-T1.tar",
        "md5:34901a0593b41dd19c1a1f746eac2d58",
    ),
    download.RemoteFile(
        "IXI.xls",
        "http://biomedic.doc.ic.ac.uk/brain-development/downloads/IXI/IXI.xls",
        "sha256:5b974cf58e9fe5101c91f594473fcd2b4c76ba2cf98fbd02d88174bd20a21c2b",
    ),
)
"""The IXI files the course uses: the T1 archive (about 4.5 GB) and the demographics."""

_IXI_SITE = "https://brain-development.org/ixi-dataset/"


def fetch(
    dest: str | os.PathLike,
    files: Iterable[download.RemoteFile] = IXI_FILES,
    extract: bool = True,
    progress: bool = True,
) -> Path:
    """Download the IXI files into ``dest``, verify them, and extract the T1 archive.

    :func:`refacing_lib.data.download.fetch` with IXI's files and advice: an interrupted download
    resumes on the next call, a file already there with the right checksum is not downloaded
    again, a bad download is removed, and no archive member is written outside ``dest``.
    Error messages say to re-run ``refacing fetch-ixi DEST``, and to check the IXI website
    if a checksum mismatch repeats.

    Parameters
    ----------
    dest : str or path-like
        Destination folder, created if missing.
    files : iterable of refacing_lib.data.download.RemoteFile
        What to download; default :data:`IXI_FILES`.
    extract : bool
        Extract the ``.tar`` archives (``IXI-T1.tar``: 581 ``IXI*-T1.nii.gz`` volumes) after
        downloading.
    progress : bool
        Show tqdm progress bars (download bytes, extracted members) on stderr.

    Returns
    -------
    pathlib.Path
        ``dest``, which then holds the files and the extracted volumes.

    Raises
    ------
    refacing_lib.data.download.ChecksumError
        A download does not match its checksum (the bad file is removed).
    refacing_lib.data.download.FetchError
        A download was interrupted (re-running resumes it).
    refacing_lib.data.download.UnsafeArchiveError
        An archive member would be written outside ``dest``.
    """
    return download.fetch(dest, files, extract=extract, progress=progress,
                          retry=f"re-run `refacing fetch-ixi {dest}`", homepage=_IXI_SITE)


# --------------------------------------------------------------------------------------------
# Demographics

_SEX_COLUMN = "SEX_ID (1=m, 2=f)"


def load_demographics(
    xls_path: str | os.PathLike, names: Iterable[str | os.PathLike] | None = None
) -> pd.DataFrame:
    """Age, sex and site of the IXI subjects, from ``IXI.xls``.

    Reads the sheet ``Table`` (columns ``IXI_ID``, ``SEX_ID (1=m, 2=f)``, ``AGE``). IXI
    quirks handled: 0 means missing; some ids appear in several rows. For such ids the
    result keeps, per column, the first non-missing value in file order (identical rows
    thus collapse to one; for conflicting rows the earlier row wins).

    Parameters
    ----------
    xls_path : str or path-like
        The ``IXI.xls`` spreadsheet (old Excel format; read with pandas' ``calamine`` engine,
        which also reads .xlsx and .ods).
    names : iterable of str or path-like, optional
        IXI T1 file names or paths; their site fills the ``site`` column, and their subjects
        get a row even when the spreadsheet lacks them (age and sex missing).

    Returns
    -------
    pandas.DataFrame
        Indexed by IXI id (int, named ``id``, sorted) with columns ``age`` (float, years; NaN
        when missing), ``sex`` (string ``"M"``/``"F"``, <NA> when missing) and ``site``
        (string, one of :data:`SITES`; <NA> without ``names`` or for ids not in ``names``).

    Raises
    ------
    FileNotFoundError
        If ``xls_path`` does not exist.
    ValueError
        If it is not a readable .xls with a ``Table`` sheet and the columns above, or a name
        is not an IXI T1 name.
    """
    path = Path(xls_path)
    if not path.is_file():
        raise FileNotFoundError(f"IXI demographics file not found: {path}")
    try:
        raw = pd.read_excel(path, sheet_name="Table", engine="calamine")
    except Exception as exc:  # calamine's own error, pandas' ValueError for a missing sheet, ...
        raise ValueError(
            f"{path} is not a readable IXI .xls file with a 'Table' sheet: {exc}"
        ) from exc
    missing = [c for c in ("IXI_ID", _SEX_COLUMN, "AGE") if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: sheet 'Table' lacks the column(s) {missing}")

    table = pd.DataFrame({
        "id": pd.to_numeric(raw["IXI_ID"], errors="coerce"),
        "age": pd.to_numeric(raw["AGE"], errors="coerce").astype(float),
        "sex": pd.to_numeric(raw[_SEX_COLUMN], errors="coerce").map({1: "M", 2: "F"}),
    })
    table = table[table["id"].notna() & (table["id"] != 0)]
    table["id"] = table["id"].astype(int)
    table.loc[table["age"] == 0, "age"] = float("nan")
    table["sex"] = table["sex"].astype("string")
    demographics = table.groupby("id", sort=True).first()

    sites = {p.id: p.site for p in map(parse_name, names or ())}
    demographics = demographics.reindex(demographics.index.union(sites, sort=True))
    demographics.index = demographics.index.astype(int)
    demographics.index.name = "id"
    demographics["site"] = pd.Series(sites, dtype="string").reindex(demographics.index)
    return demographics
