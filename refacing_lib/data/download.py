"""Resumable, checksum-verified HTTP downloads and safe extraction of tar archives.

* :class:`RemoteFile`: a file to download (name, address, checksum).
* :func:`fetch`: download files into a folder with :mod:`pooch` and a
  :class:`ResumableDownloader` (an interrupted transfer resumes with an HTTP ``Range``
  request), verify them, and extract the ``.tar`` archives among them.
* :func:`extract_tar`: extract an archive after checking that no member would land outside
  the destination folder.

:func:`refacing_lib.data.ixi.fetch` uses them for the IXI files.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

import pooch
import requests

__all__ = [
    "ChecksumError",
    "FetchError",
    "RemoteFile",
    "ResumableDownloader",
    "UnsafeArchiveError",
    "extract_tar",
    "fetch",
]


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
        Checksum in pooch's ``"algorithm:hexdigest"`` form, e.g. ``"md5:3490..."``; a bare
        hex digest is sha256.
    """

    name: str
    url: str
    known_hash: str


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
        Expected checksum, ``"algorithm:hexdigest"`` (a bare hex digest is sha256).
    progress : bool
        Show a tqdm progress bar (bytes) on stderr.
    chunk_size : int
        Bytes per read.
    timeout : float
        Seconds to wait for the server to connect or send data.
    retry : str
        What the user should do to download again, quoted in the message of a
        :class:`ChecksumError` (e.g. ``"re-run `refacing fetch-ixi data/ixi`"``).
    homepage : str, optional
        Where to check whether the file has changed, if the mismatch repeats.
    """

    def __init__(
        self,
        part: str | os.PathLike,
        known_hash: str,
        progress: bool = True,
        chunk_size: int = 1 << 16,
        timeout: float = 60.0,
        retry: str = "call fetch again",
        homepage: str | None = None,
    ) -> None:
        self.part = Path(part)
        self.known_hash = known_hash
        self.progress = progress
        self.chunk_size = chunk_size
        self.timeout = timeout
        self.retry = retry
        self.homepage = homepage

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
            changed = f"; check {self.homepage}" if self.homepage else ""
            raise ChecksumError(
                f"checksum mismatch for {name}: expected {self.known_hash}, got "
                f"{algorithm}:{actual}. The bad download was removed; {self.retry} to "
                f"download it again. If the mismatch repeats, the file on the server has "
                f"changed{changed}"
            )
        os.replace(self.part, output_file)


def fetch(
    dest: str | os.PathLike,
    files: Iterable[RemoteFile],
    extract: bool = True,
    progress: bool = True,
    retry: str | None = None,
    homepage: str | None = None,
) -> Path:
    """Download ``files`` into ``dest``, verify them, and extract the tar archives among them.

    Each file is fetched with :func:`pooch.retrieve` and a :class:`ResumableDownloader`:

    * a file already in ``dest`` with the right checksum is not downloaded again (its
      checksum is recomputed);
    * an interrupted download leaves ``NAME.part`` in ``dest``; the next call resumes it;
    * a download with the wrong checksum is removed and raises :class:`ChecksumError`.

    Archives (names ending in ``.tar``) are then extracted into ``dest`` with
    :func:`extract_tar`. The archive itself is kept.

    Parameters
    ----------
    dest : str or path-like
        Destination folder, created if missing.
    files : iterable of RemoteFile
        What to download, in this order.
    extract : bool
        Extract the ``.tar`` archives after downloading.
    progress : bool
        Show tqdm progress bars (download bytes, extracted members) on stderr.
    retry : str, optional
        What the user should do to resume or repeat a failed download, quoted in the error
        messages, e.g. ``"re-run `refacing fetch-ixi data/ixi`"``; default ``"call fetch
        again with the same dest"``.
    homepage : str, optional
        Where to check whether a file has changed, named when its checksum mismatches.

    Returns
    -------
    pathlib.Path
        ``dest``, which then holds the files and the extracted archive members.

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
    retry = retry or "call fetch again with the same dest"
    dest.mkdir(parents=True, exist_ok=True)
    for remote in files:
        target = dest / remote.name
        part = dest / f"{remote.name}.part"
        downloader = ResumableDownloader(part, remote.known_hash, progress=progress,
                                         retry=retry, homepage=homepage)
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
                f"To resume, {retry}"
            ) from exc
        if extract and remote.name.endswith(".tar"):
            extract_tar(target, dest, progress)
    return dest


def extract_tar(archive: str | os.PathLike, dest: str | os.PathLike,
                progress: bool = True) -> None:
    """Extract ``archive`` into ``dest`` after checking every member; skip finished ones.

    The archive is refused (nothing extracted) if a member would land outside ``dest``: an
    absolute path, ``..``, a link pointing outside, a device file. Members already extracted
    with the right size are skipped, so a re-run after a complete extraction only reads the
    archive's headers.

    Parameters
    ----------
    archive : str or path-like
        A tar file (any compression :func:`tarfile.open` recognises).
    dest : str or path-like
        Existing destination folder.
    progress : bool
        Show a tqdm progress bar (members) on stderr.

    Raises
    ------
    UnsafeArchiveError
        A member would be written outside ``dest``; the message names it.
    """
    archive = Path(archive)
    root = Path(dest).resolve()
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
