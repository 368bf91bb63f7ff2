"""Tests of refacing_lib.data.download (and ixi.fetch) against a local HTTP server
(127.0.0.1 only).

The server serves archives the tests build: a small tar of fake IXI T1 volumes and a tiny
IXI.xls. It records every request (path and Range header) and can ignore Range requests or
cut a response short to simulate an interrupted download.
"""

from __future__ import annotations

import hashlib
import io
import random
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from refacing_lib.data import download, ixi

MEMBERS = {
    "IXI002-Guys-0828-T1.nii.gz": random.Random(2).randbytes(300),
    "IXI012-HH-1211-T1.nii.gz": random.Random(12).randbytes(200_000),  # > 2 download chunks
    "IXI640-IOP-1212-T1.nii.gz": random.Random(640).randbytes(500),
}
XLS = b"\xd0\xcf\x11\xe0 fake IXI.xls"


@pytest.fixture(autouse=True)
def only_localhost(monkeypatch):
    """Fail any test that tries to connect anywhere but this machine."""
    connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"test tried to reach {address}")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def make_tar(members: dict[str, bytes],
             links: dict[str, tuple[bytes, str]] | None = None) -> bytes:
    """A tar (bytes) of regular ``members`` plus ``links`` {name: (SYMTYPE/LNKTYPE, target)}."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
    return buffer.getvalue()


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Server:
    """A local HTTP server of in-memory files, with a log of the requests it got."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []  # (file name, Range header)
        self.honor_range = True
        self.cut_after: int | None = None  # send only so many bytes once, then hang up
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                name = self.path.lstrip("/")
                server.requests.append((name, self.headers.get("Range")))
                if name not in server.files:
                    self.send_error(404)
                    return
                data = server.files[name]
                start, status = 0, 200
                wanted = self.headers.get("Range")
                if wanted and server.honor_range:
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                self.send_response(status)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Accept-Ranges", "bytes" if server.honor_range else "none")
                self.end_headers()
                body = data[start:]
                if server.cut_after is not None:
                    body, server.cut_after = body[: server.cut_after], None
                    self.close_connection = True
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def registry(self, hashes: dict[str, str] | None = None) -> tuple[download.RemoteFile, ...]:
        """RemoteFiles of the served files, with their true hashes unless ``hashes`` says."""
        true = {n: md5(d) if n.endswith(".tar") else sha256(d) for n, d in self.files.items()}
        true.update(hashes or {})
        return tuple(download.RemoteFile(name, self.url(name), true[name]) for name in self.files)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = Server()
    srv.files = {"IXI-T1.tar": make_tar(MEMBERS), "IXI.xls": XLS}
    yield srv
    srv.close()


def leftovers(folder: Path) -> list[str]:
    """Files in ``folder`` that are neither downloads nor extracted volumes (temporaries)."""
    known = {"IXI-T1.tar", "IXI.xls", *MEMBERS}
    return sorted(p.name for p in folder.iterdir() if p.name not in known)


# ------------------------------------------------------------------------------------------


def test_good_archive_is_downloaded_verified_and_extracted(server, tmp_path):
    dest = tmp_path / "ixi"  # created by fetch
    assert download.fetch(dest, server.registry(), progress=False) == dest
    assert (dest / "IXI-T1.tar").read_bytes() == server.files["IXI-T1.tar"]
    assert (dest / "IXI.xls").read_bytes() == XLS
    for name, data in MEMBERS.items():
        assert (dest / name).read_bytes() == data
    assert [p.name for p in ixi.list_volumes(dest)] == sorted(MEMBERS)
    assert leftovers(dest) == []  # no .part, no pooch temporary
    assert server.requests == [("IXI-T1.tar", None), ("IXI.xls", None)]


def test_no_extraction_when_asked(server, tmp_path):
    download.fetch(tmp_path, server.registry(), extract=False, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IXI-T1.tar", "IXI.xls"]


def test_second_call_downloads_nothing_and_skips_extracted_members(server, tmp_path, monkeypatch):
    files = server.registry()
    download.fetch(tmp_path, files, progress=False)
    assert len(server.requests) == 2
    (tmp_path / "IXI640-IOP-1212-T1.nii.gz").unlink()
    (tmp_path / "IXI002-Guys-0828-T1.nii.gz").write_bytes(b"truncated")
    extracted = []
    extract = tarfile.TarFile.extract

    def spy(tar, member, *args, **kwargs):
        extracted.append(member.name)
        return extract(tar, member, *args, **kwargs)

    monkeypatch.setattr(tarfile.TarFile, "extract", spy)
    download.fetch(tmp_path, files, progress=False)
    assert len(server.requests) == 2  # the verified downloads were not fetched again
    # the missing and the wrong-size members were extracted again, the intact one was not
    assert extracted == ["IXI002-Guys-0828-T1.nii.gz", "IXI640-IOP-1212-T1.nii.gz"]
    for name, data in MEMBERS.items():
        assert (tmp_path / name).read_bytes() == data

    extracted.clear()
    download.fetch(tmp_path, files, progress=False)
    assert extracted == [] and len(server.requests) == 2


def test_corrupted_ixi_archive_is_removed_and_the_message_says_how_to_retry(server, tmp_path):
    good = server.files["IXI-T1.tar"]
    bad = bytearray(good)
    bad[1000] ^= 0xFF
    server.files["IXI-T1.tar"] = bytes(bad)
    files = server.registry(hashes={"IXI-T1.tar": md5(good)})
    (tmp_path / "IXI-T1.tar").write_bytes(b"an old broken download")  # pooch updates it

    with pytest.raises(download.ChecksumError) as err:
        ixi.fetch(tmp_path, files, progress=False)
    message = str(err.value)
    assert "IXI-T1.tar" in message
    assert md5(good) in message and md5(bytes(bad)) in message
    assert f"refacing fetch-ixi {tmp_path}" in message and "brain-development.org" in message
    assert list(tmp_path.iterdir()) == []  # bad file, .part, old file and temporaries gone
    assert isinstance(err.value, download.FetchError) and isinstance(err.value, RuntimeError)


def test_corrupted_spreadsheet_names_it(server, tmp_path):
    files = server.registry(hashes={"IXI.xls": sha256(b"something else")})
    with pytest.raises(download.ChecksumError, match="IXI.xls") as err:
        download.fetch(tmp_path, files, progress=False)
    assert (sha256(XLS) in str(err.value)
            and "call fetch again with the same dest" in str(err.value))
    assert not (tmp_path / "IXI.xls").exists() and not (tmp_path / "IXI.xls.part").exists()


@pytest.mark.parametrize("evil, links", [
    ("../evil", None),
    ("/tmp/refacing-test-evil", None),
    ("sub/../../evil", None),
    ("link", {"link": (tarfile.SYMTYPE, "../outside")}),
    ("link", {"link": (tarfile.SYMTYPE, "/etc/passwd")}),
    ("hard", {"hard": (tarfile.LNKTYPE, "../outside")}),
])
def test_archive_escaping_dest_is_refused(server, tmp_path, evil, links):
    members = dict(MEMBERS)
    if links is None:
        members[evil] = b"owned"
    server.files = {"IXI-T1.tar": make_tar(members, links)}
    dest = tmp_path / "dest"
    with pytest.raises(download.UnsafeArchiveError) as err:
        download.fetch(dest, server.registry(), progress=False)
    message = str(err.value)
    assert repr(evil) in message and "IXI-T1.tar" in message and "Nothing was extracted" in message
    assert sorted(p.name for p in dest.iterdir()) == ["IXI-T1.tar"]  # no member extracted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest"]
    assert not Path("/tmp/refacing-test-evil").exists()


def test_links_inside_dest_are_allowed(server, tmp_path):
    links = {"latest.nii.gz": (tarfile.SYMTYPE, "IXI002-Guys-0828-T1.nii.gz")}
    server.files = {"IXI-T1.tar": make_tar(MEMBERS, links)}
    download.fetch(tmp_path, server.registry(), progress=False)
    assert (tmp_path / "latest.nii.gz").read_bytes() == MEMBERS["IXI002-Guys-0828-T1.nii.gz"]


def test_resume_from_part_with_a_range_request(server, tmp_path):
    data = server.files["IXI-T1.tar"]
    (tmp_path / "IXI-T1.tar.part").write_bytes(data[:70_000])
    download.fetch(tmp_path, server.registry(), progress=False)
    assert ("IXI-T1.tar", "bytes=70000-") in server.requests
    assert (tmp_path / "IXI-T1.tar").read_bytes() == data
    assert ((tmp_path / "IXI012-HH-1211-T1.nii.gz").read_bytes()
            == MEMBERS["IXI012-HH-1211-T1.nii.gz"])
    assert leftovers(tmp_path) == []


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.honor_range = False
    (tmp_path / "IXI-T1.tar.part").write_bytes(b"garbage that must not be kept")
    download.fetch(tmp_path, server.registry(), progress=False)
    assert server.requests[0] == ("IXI-T1.tar", "bytes=29-")  # asked, answered with 200
    assert (tmp_path / "IXI-T1.tar").read_bytes() == server.files["IXI-T1.tar"]
    assert leftovers(tmp_path) == []


def test_part_longer_than_the_file_restarts_from_zero(server, tmp_path):
    data = server.files["IXI-T1.tar"]
    (tmp_path / "IXI-T1.tar.part").write_bytes(b"x" * (len(data) + 10))
    download.fetch(tmp_path, server.registry(), progress=False)
    assert server.requests[:2] == [("IXI-T1.tar", f"bytes={len(data) + 10}-"),
                                   ("IXI-T1.tar", None)]
    assert (tmp_path / "IXI-T1.tar").read_bytes() == data


def test_interrupted_download_keeps_part_and_next_call_resumes(server, tmp_path):
    data = server.files["IXI-T1.tar"]
    server.cut_after = 150_000
    files = server.registry()
    with pytest.raises(download.FetchError) as err:
        ixi.fetch(tmp_path, files, progress=False)
    part = tmp_path / "IXI-T1.tar.part"
    kept = part.stat().st_size
    assert 0 < kept <= 150_000
    assert part.read_bytes() == data[:kept]
    assert "IXI-T1.tar" in str(err.value) and str(part) in str(err.value)
    assert f"To resume, re-run `refacing fetch-ixi {tmp_path}`" in str(err.value)
    assert not (tmp_path / "IXI-T1.tar").exists()

    ixi.fetch(tmp_path, files, progress=False)
    assert server.requests[1] == ("IXI-T1.tar", f"bytes={kept}-")
    assert (tmp_path / "IXI-T1.tar").read_bytes() == data
    assert [p.name for p in ixi.list_volumes(tmp_path)] == sorted(MEMBERS)
    assert leftovers(tmp_path) == []


def test_missing_file_on_server_is_a_fetch_error(server, tmp_path):
    files = (download.RemoteFile("IXI-T2.tar", server.url("IXI-T2.tar"), "md5:0"),)
    with pytest.raises(download.FetchError, match="IXI-T2.tar.*404"):
        download.fetch(tmp_path, files, progress=False)


def test_progress_bars_go_to_stderr(server, tmp_path, capsys):
    download.fetch(tmp_path, server.registry(), progress=True)
    err = capsys.readouterr().err
    assert "IXI-T1.tar" in err and "extracting IXI-T1.tar" in err and "3/3" in err


def test_bare_hash_means_sha256_as_in_pooch(server, tmp_path):
    files = (download.RemoteFile("IXI.xls", server.url("IXI.xls"),
                                 sha256(XLS).removeprefix("sha256:")),)
    download.fetch(tmp_path, files, progress=False)
    assert (tmp_path / "IXI.xls").read_bytes() == XLS
