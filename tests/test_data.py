"""Tests for ``gpt_lesson.data``: download, mirror, sha256 checks, cache and unzip.

No test touches the internet: downloads come from a local HTTP server, and the
sources table is patched to point at it (and at the hashes of small fake files).
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpt_lesson import data

# Read before any test runs: every test clears the variable so the developer's env
# does not leak in; only the test of the real files uses this value.
REAL_MIRROR = os.environ.get(data.MIRROR_VARIABLE)

TEXT = b"First Citizen:\nBefore we proceed any further, hear me speak.\n"


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class FileServer(http.server.ThreadingHTTPServer):
    """Serves ``files`` (URL path -> bytes) and records every requested path."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.claimed_lengths: dict[str, int] = {}  # a Content-Length larger than the body

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FileServer

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        if self.path not in self.server.files:
            self.send_error(404)
            return
        body = self.server.files[self.path]
        length = self.server.claimed_lengths.get(self.path, len(body))
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest's output clean


@pytest.fixture
def server() -> Iterator[FileServer]:
    file_server = FileServer()
    thread = threading.Thread(target=file_server.serve_forever, daemon=True)
    thread.start()
    yield file_server
    file_server.shutdown()
    file_server.server_close()


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an empty cache folder and no mirror, whatever the shell has set."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(folder))
    monkeypatch.delenv(data.MIRROR_VARIABLE, raising=False)
    return folder


@pytest.fixture
def closed_port_url() -> str:
    """A URL on a local port that nothing listens on: what being offline looks like."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/shakespeare.txt"


def patch_source(monkeypatch: pytest.MonkeyPatch, name: str, **changes: str) -> data.Source:
    source = dataclasses.replace(data.SOURCES[name], **changes)
    monkeypatch.setitem(data.SOURCES, name, source)
    return source


def make_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes]) -> Path:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for filename, content in files.items():
        (mirror / filename).write_bytes(content)
    monkeypatch.setenv(data.MIRROR_VARIABLE, str(mirror))
    return mirror


def names_in(folder: Path) -> list[str]:
    """Everything in ``folder``, hidden temporary files included."""
    return sorted(path.name for path in folder.iterdir())


# The table and the cache folder


def test_sources_table_is_consistent() -> None:
    assert set(data.SOURCES) == {"shakespeare", "gpt2-encoder", "gpt2-merges", "cola"}
    for name, source in data.SOURCES.items():
        assert source.name == name
        assert source.url.startswith("https://")
        assert source.url.endswith("/" + source.filename)
        assert len(source.sha256) == 64 and int(source.sha256, 16) >= 0
    assert data.SOURCES["cola"].unzips_to == "cola_public"


def test_unknown_name_lists_known_sources() -> None:
    with pytest.raises(ValueError, match="shakespeare") as caught:
        data.fetch("wikipedia")
    assert "wikipedia" in str(caught.value) and "cola" in str(caught.value)


def test_data_dir_is_the_variable_or_the_repository_data_folder(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert data.data_dir() == cache
    monkeypatch.delenv(data.DATA_DIR_VARIABLE)
    repository = Path(data.__file__).resolve().parent.parent
    assert data.data_dir() == repository / "data"


# Downloading


def test_download_is_checked_cached_and_reused(
    server: FileServer, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.files["/shakespeare.txt"] = TEXT
    patch_source(
        monkeypatch, "shakespeare", url=server.url("/shakespeare.txt"), sha256=sha256(TEXT)
    )

    path = data.fetch("shakespeare")

    assert path == cache / "shakespeare.txt"
    assert path.read_bytes() == TEXT
    assert names_in(cache) == ["shakespeare.txt"]
    assert path.stat().st_mode & 0o777 == 0o644  # readable by all, like a normal download
    assert data.read_text("shakespeare") == TEXT.decode("utf-8")
    assert server.requests == ["/shakespeare.txt"]  # the second fetch was a cache hit


def test_download_with_wrong_bytes_raises_and_keeps_nothing(
    server: FileServer, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.files["/shakespeare.txt"] = b"not Shakespeare"
    source = patch_source(
        monkeypatch, "shakespeare", url=server.url("/shakespeare.txt"), sha256=sha256(TEXT)
    )

    with pytest.raises(ValueError) as caught:
        data.fetch("shakespeare")

    message = str(caught.value)
    assert source.sha256 in message and sha256(b"not Shakespeare") in message
    assert "shakespeare" in message
    assert names_in(cache) == []


def test_offline_error_names_the_url_and_the_mirror_variable(
    closed_port_url: str, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patch_source(monkeypatch, "shakespeare", url=closed_port_url)

    with pytest.raises(ConnectionError) as caught:
        data.fetch("shakespeare")

    message = str(caught.value)
    assert closed_port_url in message
    assert data.MIRROR_VARIABLE in message and "shakespeare.txt" in message
    assert "offline" in message
    assert names_in(cache) == []


def test_http_error_is_a_connection_error(
    server: FileServer, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patch_source(monkeypatch, "shakespeare", url=server.url("/missing.txt"))

    with pytest.raises(ConnectionError, match="404"):
        data.fetch("shakespeare")
    assert names_in(cache) == []


def test_a_dropped_download_leaves_no_partial_file(
    server: FileServer, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.files["/shakespeare.txt"] = TEXT[:20]  # the connection drops after 20 bytes
    server.claimed_lengths["/shakespeare.txt"] = len(TEXT)
    patch_source(
        monkeypatch, "shakespeare", url=server.url("/shakespeare.txt"), sha256=sha256(TEXT)
    )

    with pytest.raises(ValueError, match=sha256(TEXT[:20])):  # the hash catches it
        data.fetch("shakespeare")
    assert names_in(cache) == []


# The offline mirror


def test_mirror_is_used_instead_of_the_network(
    tmp_path: Path, cache: Path, closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    patch_source(monkeypatch, "shakespeare", url=closed_port_url, sha256=sha256(TEXT))
    make_mirror(tmp_path, monkeypatch, {"shakespeare.txt": TEXT})

    path = data.fetch("shakespeare")

    assert path == cache / "shakespeare.txt" and path.read_bytes() == TEXT
    assert names_in(cache) == ["shakespeare.txt"]


def test_mirror_without_the_file_names_folder_file_and_variable(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = make_mirror(tmp_path, monkeypatch, {"other.txt": TEXT})

    with pytest.raises(FileNotFoundError) as caught:
        data.fetch("shakespeare")

    message = str(caught.value)
    assert str(mirror) in message and "shakespeare.txt" in message
    assert data.MIRROR_VARIABLE in message
    assert names_in(cache) == []


def test_missing_mirror_folder_names_folder_file_and_variable(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "no-such-mirror"
    monkeypatch.setenv(data.MIRROR_VARIABLE, str(mirror))

    with pytest.raises(FileNotFoundError) as caught:
        data.fetch("gpt2-merges")

    message = str(caught.value)
    assert str(mirror) in message and "vocab.bpe" in message
    assert data.MIRROR_VARIABLE in message and "no such folder" in message
    assert names_in(cache) == []


def test_corrupt_mirror_file_raises_and_keeps_nothing(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patch_source(monkeypatch, "shakespeare", sha256=sha256(TEXT))
    mirror = make_mirror(tmp_path, monkeypatch, {"shakespeare.txt": TEXT[:-1]})

    with pytest.raises(ValueError) as caught:
        data.fetch("shakespeare")

    message = str(caught.value)
    assert sha256(TEXT) in message and sha256(TEXT[:-1]) in message
    assert str(mirror / "shakespeare.txt") in message
    assert names_in(cache) == []
    assert (mirror / "shakespeare.txt").read_bytes() == TEXT[:-1]  # the mirror is not touched


def test_corrupt_cached_file_is_fetched_again(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patch_source(monkeypatch, "shakespeare", sha256=sha256(TEXT))
    make_mirror(tmp_path, monkeypatch, {"shakespeare.txt": TEXT})
    cache.mkdir()
    (cache / "shakespeare.txt").write_bytes(b"half a fi")

    assert data.fetch("shakespeare").read_bytes() == TEXT
    assert names_in(cache) == ["shakespeare.txt"]


# CoLA: a zip unpacked into a folder


def tiny_cola_zip() -> bytes:
    """A zip with CoLA's layout: ``cola_public/{raw,tokenized}/*.tsv``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("cola_public/README", "tiny CoLA\n")
        archive.writestr(
            "cola_public/raw/in_domain_train.tsv", "gj04\t1\t\tOur friends won't buy this.\n"
        )
        archive.writestr("cola_public/tokenized/in_domain_train.tsv", "gj04\t1\t\tOur friends .\n")
    return buffer.getvalue()


def test_cola_is_unzipped_once_and_then_served_from_the_cache(
    tmp_path: Path, cache: Path, closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tiny_cola_zip()
    patch_source(monkeypatch, "cola", url=closed_port_url, sha256=sha256(archive))
    make_mirror(tmp_path, monkeypatch, {"cola_public_1.1.zip": archive})

    folder = data.fetch("cola")

    assert folder == cache / "cola_public"
    assert (folder / "raw" / "in_domain_train.tsv").read_text().startswith("gj04\t1")
    assert (folder / "tokenized" / "in_domain_train.tsv").is_file()
    assert names_in(cache) == ["cola_public", "cola_public_1.1.zip"]  # no staging left

    # Offline and without a mirror, the cached zip and folder are enough.
    monkeypatch.delenv(data.MIRROR_VARIABLE)
    assert data.fetch("cola") == folder
    shutil.rmtree(folder)
    assert (data.fetch("cola") / "raw" / "in_domain_train.tsv").is_file()  # unzipped again
    assert names_in(cache) == ["cola_public", "cola_public_1.1.zip"]


def test_a_folder_unzipped_meanwhile_by_another_process_is_kept(
    tmp_path: Path, cache: Path, closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tiny_cola_zip()
    patch_source(monkeypatch, "cola", url=closed_port_url, sha256=sha256(archive))
    make_mirror(tmp_path, monkeypatch, {"cola_public_1.1.zip": archive})
    extract = zipfile.ZipFile.extractall

    def extract_while_another_process_finishes(self, path=None, *args, **kwargs):
        extract(self, path, *args, **kwargs)
        extract(self, cache)  # the other process (another test worker) renames first

    monkeypatch.setattr(zipfile.ZipFile, "extractall", extract_while_another_process_finishes)

    folder = data.fetch("cola")

    assert (folder / "raw" / "in_domain_train.tsv").read_text().startswith("gj04\t1")
    assert names_in(cache) == ["cola_public", "cola_public_1.1.zip"]  # no staging left


def test_a_failed_unzip_leaves_no_half_made_folder(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("unexpected_folder/README", "not CoLA's layout\n")
    patch_source(monkeypatch, "cola", sha256=sha256(buffer.getvalue()))
    make_mirror(tmp_path, monkeypatch, {"cola_public_1.1.zip": buffer.getvalue()})

    with pytest.raises(FileNotFoundError):
        data.fetch("cola")
    assert names_in(cache) == ["cola_public_1.1.zip"]  # no staging folder, no cola_public


# The real files, from the real mirror (CI sets GPT_LESSON_DATA_MIRROR)


@pytest.mark.skipif(REAL_MIRROR is None, reason=f"{data.MIRROR_VARIABLE} is not set")
def test_all_real_sources_come_from_the_mirror_intact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(data.MIRROR_VARIABLE, str(REAL_MIRROR))

    assert data.fetch("shakespeare").stat().st_size == 1_115_394
    assert len(data.read_text("shakespeare")) == 1_115_394
    assert len(json.loads(data.fetch("gpt2-encoder").read_text(encoding="utf-8"))) == 50_257
    merges = data.fetch("gpt2-merges").read_text(encoding="utf-8").splitlines()
    assert merges[0].startswith("#version") and len(merges) == 1 + 50_000
    train = data.fetch("cola") / "raw" / "in_domain_train.tsv"
    assert len(train.read_text(encoding="utf-8").splitlines()) == 8_551
