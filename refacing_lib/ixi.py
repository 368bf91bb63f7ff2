"""The IXI dataset: file names, sites, the paper's splits, download and demographics.

IXI (https://brain-development.org/ixi-dataset/, licence CC BY-SA 3.0) ships its T1 volumes
as one flat archive, ``IXI-T1.tar`` (about 4.5 GB, 581 volumes named like
``IXI002-Guys-0828-T1.nii.gz``), and the subjects' demographics as ``IXI.xls``.

* :func:`parse_name`, :func:`list_volumes`: the volumes and what their names say.
* :data:`SITES`: the three acquisition sites (Table 1 of Abramian & Eklund, ISBI 2019).
* :func:`paper_split`: the train/test split of the paper's two experiments.
* :func:`fetch`: resumable, checksum-verified download of :data:`IXI_FILES` and safe
  extraction of the archive.
* :func:`load_demographics`: age, sex and site per subject from ``IXI.xls``.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, NamedTuple

import pandas as pd
import pooch
import requests

__all__ = [
    "IXI_FILES",
    "NAME_RE",
    "SITES",
    "ChecksumError",
    "FetchError",
    "IXIName",
    "RemoteFile",
    "ResumableDownloader",
    "Split",
    "UnsafeArchiveError",
    "fetch",
    "list_volumes",
    "load_demographics",
    "paper_split",
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


@dataclass(frozen=True)
class RemoteFile:
    """A file to download.

    Attributes
    ----------
    name : str
        File name in the destination folder; names ending in ``.tar`` are extracted.
    url : str
        Where to download it from.
    known_hash : str
        Checksum in pooch's ``"algorithm:hexdigest"`` form, e.g. ``"md5:3490..."``.
    """

    name: str
    url: str
    known_hash: str


IXI_FILES: tuple[RemoteFile, ...] = (
    RemoteFile(
        "IXI-T1.tar",
        "http://biomedic.doc.ic.ac.uk/brain-development/downloads/IXI/IXI-T1.tar",
        "md5:34901a0593b41dd19c1a1f746eac2d58",
    ),
    RemoteFile(
        "IXI.xls",
        "http://biomedic.doc.ic.ac.uk/brain-development/downloads/IXI/IXI.xls",
        "sha256:5b974cf58e9fe5101c91f594473fcd2b4c76ba2cf98fbd02d88174bd20a21c2b",
    ),
)
"""The IXI files the course uses: the T1 archive (about 4.5 GB) and the demographics."""

_IXI_SITE = "https://brain-development.org/ixi-dataset/"


class FetchError(RuntimeError):
    """A download or extraction of :func:`fetch` failed; the message says what to do."""


class ChecksumError(FetchError):
    """A downloaded file does not have the expected checksum (it has been removed)."""


class UnsafeArchiveError(FetchError):
    """An archive member would be written outside the destination folder."""


class ResumableDownloader:
    """A pooch downloader that resumes an interrupted HTTP download.

    Bytes are streamed into ``part`` (``DEST/NAME.part``). If ``part`` already exists, the
    download continues from its size with an HTTP ``Range`` request; if the server answers
    with the whole file (status 200 instead of 206) or cannot serve the range (416), the
    download restarts from zero. When the transfer is complete, the checksum is verified
    and ``part`` is moved to the file pooch asked for. An interrupted transfer keeps
    ``part`` for the next call.

    Parameters
    ----------
    part : path-like
        File collecting the downloaded bytes.
    known_hash : str
        Expected checksum, ``"algorithm:hexdigest"``.
    progress : bool
        Show a tqdm progress bar (bytes) on stderr.
    chunk_size : int
        Bytes per read.
    timeout : float
        Seconds to wait for the server to connect or send data.
    """

    def __init__(
        self,
        part: str | os.PathLike,
        known_hash: str,
        progress: bool = True,
        chunk_size: int = 1 << 16,
        timeout: float = 60.0,
    ) -> None:
        self.part = Path(part)
        self.known_hash = known_hash
        self.progress = progress
        self.chunk_size = chunk_size
        self.timeout = timeout

    def __call__(self, url: str, output_file: str | os.PathLike, pooch_: object) -> None:
        """Download ``url`` to ``output_file`` (the signature pooch calls downloaders with).

        Parameters
        ----------
        url : str
            HTTP(S) address of the file.
        output_file : str or path-like
            Where pooch wants the complete, verified file (pooch checks the hash again).
        pooch_ : pooch.Pooch or None
            Passed by pooch, unused.

        Raises
        ------
        ChecksumError
            If the complete download has the wrong checksum; ``part`` is removed.
        requests.RequestException
            If the transfer fails; ``part`` keeps the bytes received so far.
        """
        offset = self.part.stat().st_size if self.part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as response:
            resumed = response.status_code == 206 and response.headers.get(
                "Content-Range", ""
            ).startswith(f"bytes {offset}-")
            if offset and not resumed and response.status_code in (206, 416):
                # the server cannot continue from this offset: start again from zero
                self.part.unlink()
                self(url, output_file, pooch_)
                return
            response.raise_for_status()
            if not resumed:  # status 200: the whole file
                offset = 0
            size = int(response.headers.get("Content-Length", 0)) or None
            bar = None
            if self.progress:
                from tqdm.auto import tqdm

                total = offset + size if size else None
                bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                           desc=self.part.name.removesuffix(".part"))
            try:
                with open(self.part, "ab" if offset else "wb") as out:
                    for chunk in response.iter_content(self.chunk_size):
                        out.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()

        algorithm, _, expected = self.known_hash.rpartition(":")
        algorithm = algorithm or "sha256"  # pooch's default for a bare hex digest
        actual = pooch.file_hash(str(self.part), alg=algorithm)
        if actual != expected.lower():
            self.part.unlink()
            name = self.part.name.removesuffix(".part")
            raise ChecksumError(
                f"checksum mismatch for {name}: expected {self.known_hash}, got "
                f"{algorithm}:{actual}. The bad download was removed; re-run "
                f"`refacing fetch-ixi {self.part.parent}` to download it again. If the "
                f"mismatch repeats, the file on the server has changed: check {_IXI_SITE}"
            )
        os.replace(self.part, output_file)


def fetch(
    dest: str | os.PathLike,
    files: Iterable[RemoteFile] = IXI_FILES,
    extract: bool = True,
    progress: bool = True,
) -> Path:
    """Download the IXI files into ``dest``, verify them, and extract the T1 archive.

    Each file is fetched with :func:`pooch.retrieve` and a :class:`ResumableDownloader`:

    * a file already in ``dest`` with the right checksum is not downloaded again (its
      checksum is recomputed, about ten seconds for the 4.5 GB archive);
    * an interrupted download leaves ``NAME.part`` in ``dest``; the next call resumes it;
    * a download with the wrong checksum is removed and raises :class:`ChecksumError`.

    Archives (names ending in ``.tar``) are then extracted into ``dest``: every member is
    checked first and the archive is refused (nothing extracted) if one would land outside
    ``dest`` (absolute path, ``..``, link pointing outside, device file). Members already
    extracted with the right size are skipped, so a re-run after a complete extraction only
    reads the archive's headers. The archive itself is kept.

    Parameters
    ----------
    dest : str or path-like
        Destination folder, created if missing.
    files : iterable of RemoteFile
        What to download; default :data:`IXI_FILES`.
    extract : bool
        Extract the ``.tar`` archives after downloading.
    progress : bool
        Show tqdm progress bars (download bytes, extracted members) on stderr.

    Returns
    -------
    pathlib.Path
        ``dest``, which then holds the files and the extracted volumes.

    Raises
    ------
    ChecksumError
        A download does not match its checksum (the bad file is removed).
    FetchError
        A download was interrupted (re-running resumes it).
    UnsafeArchiveError
        An archive member would be written outside ``dest``.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for remote in files:
        target = dest / remote.name
        part = dest / f"{remote.name}.part"
        downloader = ResumableDownloader(part, remote.known_hash, progress=progress)
        try:
            pooch.retrieve(remote.url, remote.known_hash, fname=remote.name, path=dest,
                           downloader=downloader)
        except ChecksumError:
            target.unlink(missing_ok=True)
            raise
        except requests.RequestException as exc:
            kept = f"{part.stat().st_size} bytes kept in {part}" if part.exists() else "none kept"
            raise FetchError(
                f"download of {remote.name} from {remote.url} failed ({exc}); {kept}. "
                f"Re-run `refacing fetch-ixi {dest}` to resume"
            ) from exc
        if extract and remote.name.endswith(".tar"):
            _extract_tar(target, dest, progress)
    return dest


def _extract_tar(archive: Path, dest: Path, progress: bool) -> None:
    """Extract ``archive`` into ``dest`` after checking every member; skip finished ones."""
    root = dest.resolve()
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            problem = _unsafe_member(member, root)
            if problem:
                raise UnsafeArchiveError(
                    f"refusing to extract {archive}: member {member.name!r} {problem}. "
                    f"Nothing was extracted from it"
                )
        todo = [
            m for m in members
            if not (m.isfile() and (root / m.name).is_file()
                    and (root / m.name).stat().st_size == m.size)
        ]
        if progress and todo:
            from tqdm.auto import tqdm

            todo = tqdm(todo, desc=f"extracting {archive.name}", unit="file")
        for member in todo:
            tar.extract(member, root, filter="data")


def _unsafe_member(member: tarfile.TarInfo, root: Path) -> str:
    """Why ``member`` may not be extracted into ``root`` (resolved), or ``""`` if it may."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        return "has an absolute path or '..'"
    if not (root / path).resolve().is_relative_to(root):
        return f"would be written outside {root}"
    if member.issym() or member.islnk():
        link = PurePosixPath(member.linkname)
        base = (root / path).parent if member.issym() else root
        if link.is_absolute() or not (base / link).resolve().is_relative_to(root):
            return f"links to {member.linkname!r}, outside {root}"
    elif not (member.isfile() or member.isdir()):
        return "is a device or other special file"
    return ""


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
