"""Writing files so that a failed or killed write never leaves half a file behind.

Every file the package writes (downloads, token caches, checkpoints, run states, results)
goes through :func:`replaced_atomically`: the content is written to a temporary file in
the same folder, then renamed over the target, which POSIX makes atomic. A reader sees
the old file or the new one; an exception removes the temporary file and propagates.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced_atomically(path: Path, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed to ``path`` on success.

    ``suffix`` ends the temporary name, for writers that insist on one (Keras wants
    ``.weights.h5``, NumPy appends ``.npy`` to a name without it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        temporary.chmod(0o644)  # mkstemp creates owner-only files; the cache is shared
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """``path.write_text(text)``, atomically."""
    with replaced_atomically(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(path: Path, record: object, **dumps_options) -> None:
    """``json.dumps(record, **dumps_options)`` and a newline, atomically."""
    write_text(path, json.dumps(record, **dumps_options) + "\n")
