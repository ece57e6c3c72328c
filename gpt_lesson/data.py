"""The lesson's public data: one table of sources and ``fetch`` to get any of them.

Every file is checked against its sha256 before it is used, so a chapter never trains
on a truncated download. Files are cached in the repository's ``data/`` folder (or in
``GPT_LESSON_DATA_DIR``). On a machine without internet, such as CI, point
``GPT_LESSON_DATA_MIRROR`` at a folder holding copies of the files and nothing is
downloaded. A file is written under a temporary name and renamed only once its hash
is right, so an interrupted fetch never leaves a half-written file in the cache.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from keras.utils import Progbar

from gpt_lesson._files import replaced_atomically

DATA_DIR_VARIABLE = "GPT_LESSON_DATA_DIR"
MIRROR_VARIABLE = "GPT_LESSON_DATA_MIRROR"
# What a failed download raises: no network, DNS failure, refused connection, HTTP error
# status (all ``URLError``), or a connection that drops or stalls halfway.
DOWNLOAD_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


@dataclass(frozen=True)
class Source:
    """One public file: where it comes from and the sha256 it must have."""

    name: str  # what you pass to ``fetch``
    filename: str  # the file's name in the cache and in a mirror
    url: str
    sha256: str
    description: str
    unzips_to: str | None = None  # for a zip: the folder it holds, which fetch returns


SOURCES: dict[str, Source] = {
    "shakespeare": Source(
        name="shakespeare",
        filename="shakespeare.txt",
        url="https://storage.googleapis.com/download.tensorflow.org/data/shakespeare.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        description="Tiny Shakespeare: 1,115,394 characters of plays, the training corpus.",
    ),
    "gpt2-encoder": Source(
        name="gpt2-encoder",
        filename="encoder.json",
        url="https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json",
        sha256="196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
        description="GPT-2's BPE vocabulary: 50,257 tokens and their ids.",
    ),
    "gpt2-merges": Source(
        name="gpt2-merges",
        filename="vocab.bpe",
        url="https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe",
        sha256="1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
        description="GPT-2's BPE merges: 50,000 rules, in the order they are applied.",
    ),
    "cola": Source(
        name="cola",
        filename="cola_public_1.1.zip",
        url="https://nyu-mll.github.io/CoLA/cola_public_1.1.zip",
        sha256="2cf856f46df11c143d38e0cf2f9f34ff2fdb088c521cd859f5c4b9581683278b",
        description="CoLA 1.1: sentences labelled grammatical or not, for fine-tuning.",
        unzips_to="cola_public",
    ),
}


def data_dir() -> Path:
    """The cache folder: ``GPT_LESSON_DATA_DIR`` if set, else the repository's ``data/``."""
    configured = os.environ.get(DATA_DIR_VARIABLE)
    return Path(configured) if configured else Path(__file__).resolve().parent.parent / "data"


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def fetch(name: str) -> Path:
    """The local path of source ``name``, fetched and checked on first use.

    For a zip (CoLA) this is the folder it unpacks to; otherwise the file itself.
    """
    if name not in SOURCES:
        raise ValueError(f"Unknown source {name!r}; known sources: {', '.join(SOURCES)}.")
    source = SOURCES[name]
    cache = data_dir()
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / source.filename
    if path.exists() and sha256_of(path) != source.sha256:
        path.unlink()  # stale or corrupt: fetch it again
    if not path.exists():
        _fetch_into(source, path)
    if source.unzips_to is None:
        return path
    return _unzipped(path, cache / source.unzips_to)


def read_text(name: str = "shakespeare") -> str:
    """The whole text of a source, decoded as UTF-8."""
    return fetch(name).read_text(encoding="utf-8")


# CoLA 1.1's public splits. The test labels are not public (GLUE scores them on its
# server), so the book tests on the in-domain dev set and tunes on a split of train.
COLA_SPLITS = {
    "train": "in_domain_train.tsv",  # 8,551 sentences
    "dev": "in_domain_dev.tsv",  # 527 sentences, same 17 sources as train
    "dev_out_of_domain": "out_of_domain_dev.tsv",  # 516 sentences, 6 other sources
}


@dataclass(frozen=True)
class LabelledSentences:
    """Sentences with a 0/1 label each (CoLA: 1 = acceptable, 0 = unacceptable)."""

    sentences: tuple[str, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.sentences)


def read_cola(split: str = "train") -> LabelledSentences:
    """One CoLA split from the raw TSV files: source, label, original mark, sentence."""
    if split not in COLA_SPLITS:
        raise ValueError(f"Unknown CoLA split {split!r}; known splits: {', '.join(COLA_SPLITS)}.")
    path = fetch("cola") / "raw" / COLA_SPLITS[split]
    sentences, labels = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split("\t")
        if len(fields) != 4 or fields[1] not in ("0", "1"):
            raise ValueError(
                f"{path}, line {number}: expected 4 tab-separated fields with a 0/1 label, got "
                f"{line!r}. Delete {path.parent.parent} and fetch('cola') unpacks it again."
            )
        labels.append(int(fields[1]))
        sentences.append(fields[3])
    return LabelledSentences(tuple(sentences), tuple(labels))


def _fetch_into(source: Source, path: Path) -> None:
    """Fill ``path`` from the mirror or the origin; only a file with the right hash lands."""
    with replaced_atomically(path) as partial:  # the cache holds the whole file or none
        mirror = os.environ.get(MIRROR_VARIABLE)
        if mirror:
            origin = _copy_from_mirror(source, Path(mirror), partial)
        else:
            origin = _download(source, partial)
        actual = sha256_of(partial)
        if actual != source.sha256:
            raise ValueError(
                f"{source.name}: {origin} has sha256 {actual}, expected {source.sha256}. "
                f"The file is corrupt or was changed, so it was not kept. Replace it with "
                f"a fresh copy of {source.url} (or, if it was downloaded, try again)."
            )


def _copy_from_mirror(source: Source, mirror: Path, destination: Path) -> str:
    """Copy the source's file out of the mirror folder; return the copy's path."""
    copy = mirror / source.filename
    if not copy.is_file():
        where = mirror if mirror.is_dir() else f"{mirror} (no such folder)"
        raise FileNotFoundError(
            f"{MIRROR_VARIABLE} is set to {where}, which has no {source.filename}. Put a copy "
            f"of {source.url} there, or unset {MIRROR_VARIABLE} to download it."
        )
    shutil.copyfile(copy, destination)
    return str(copy)


def _download(source: Source, destination: Path) -> str:
    """Download the source's URL into ``destination`` with a Keras progress bar; return it."""
    print(f"Downloading {source.url}")
    try:
        with urllib.request.urlopen(source.url, timeout=60) as response:
            size = int(response.headers.get("Content-Length", 0)) or None
            progress = Progbar(size, unit_name="B")
            with destination.open("wb") as file:
                while chunk := response.read(1 << 16):
                    file.write(chunk)
                    progress.add(len(chunk))
    except DOWNLOAD_ERRORS as error:
        raise ConnectionError(
            f"Could not download {source.url} ({error}). This machine seems to be offline. "
            f"Set {MIRROR_VARIABLE} to a folder holding {source.filename} to use a local copy."
        ) from error
    return source.url


def _unzipped(archive: Path, folder: Path) -> Path:
    """Unzip ``archive`` once; ``folder`` appears whole (by a rename) or not at all."""
    if not folder.is_dir():
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        try:
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(staging)
            try:
                (staging / folder.name).rename(folder)
            except OSError:
                if not folder.is_dir():  # not another process that unzipped it first
                    raise
        finally:
            shutil.rmtree(staging)
    return folder
