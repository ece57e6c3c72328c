"""A folder of results that several processes fill together, one JSON file per job.

Each job is claimed by a lock file before it runs (``<name>.lock``, holding the process id),
so processes sharing a folder split the work; a lock left by a process that died is taken
over; a job whose result is already stored is skipped, so an interrupted experiment carries
on where it stopped. ``experiments.stuck_accuracy`` runs chapter 4's grid with it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from gpt_lesson._files import write_json

Job = TypeVar("Job")


def claim(lock: Path) -> bool:
    """Take ``lock`` for this process; a lock whose process died is taken over."""
    try:
        descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            os.kill(int(lock.read_text() or 0), 0)
            return False  # another live process runs it
        except (ProcessLookupError, ValueError):
            lock.unlink(missing_ok=True)
            return claim(lock)
    with os.fdopen(descriptor, "w") as file:
        file.write(str(os.getpid()))
    return True


def work_through(
    jobs: Sequence[Job],
    folder: Path,
    name: Callable[[Job], str],
    is_stored: Callable[[Job], bool],
    make: Callable[[Job], dict],
    say: Callable[[str], object] = print,
) -> None:
    """Make and store, as ``folder/<name(job)>.json``, every job not yet stored (by this
    or another process): ``make(job)`` gives its record."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, job in enumerate(jobs, 1):
        lock = folder / f"{name(job)}.lock"
        if is_stored(job) or not claim(lock):
            continue
        try:
            if is_stored(job):  # another process may have finished it meanwhile
                continue
            say(f"[{index}/{len(jobs)}] {name(job)}")
            start = time.monotonic()
            record = make(job)
            write_json(folder / f"{name(job)}.json", record, separators=(",", ":"))
            minutes = (time.monotonic() - start) / 60.0
            say(f"[{index}/{len(jobs)}] {name(job)}: done in {minutes:.1f} min")
        finally:
            lock.unlink(missing_ok=True)
