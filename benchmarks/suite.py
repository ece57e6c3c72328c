"""The whole test command, ``make test``, under the quick profile (what CI runs): wall time,
peak memory and the slowest test files and notebooks.

``make test`` runs pytest on two worker processes (pytest-xdist), so the files' seconds add
up to more than the wall time; their sum is stored too.

Peak memory is the largest resident set of any single process the command ran (pytest, a
notebook's kernel, the browser...), from ``getrusage(RUSAGE_CHILDREN)``: processes that run
at the same time add up, so the machine needs somewhat more than this.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ("make", "test")
REPORT = "--durations=0 -q -rf"  # added to pytest's options through PYTEST_ADDOPTS
DURATION = re.compile(r"^([\d.]+)s (?:setup|call|teardown)\s+(\S+)")
SLOWEST = 10


def seconds_per_file(output: str) -> dict[str, float]:
    """Total seconds per test file or notebook from pytest's ``--durations=0`` report."""
    totals: dict[str, float] = defaultdict(float)
    for line in output.splitlines():
        match = DURATION.match(line.strip())
        if match:
            totals[match.group(2).split("::")[0]] += float(match.group(1))
    return dict(totals)


def run(quick: bool) -> dict[str, object]:
    """Run the test command once (the quick profile in both cases; ``quick`` is ignored)."""
    env = {**os.environ, "GPT_LESSON_PROFILE": "quick", "PYTEST_ADDOPTS": REPORT}
    start = time.monotonic()
    result = subprocess.run(COMMAND, cwd=ROOT, env=env, capture_output=True, text=True)
    minutes = (time.monotonic() - start) / 60.0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    totals = seconds_per_file(result.stdout)
    slowest = sorted(totals.items(), key=lambda item: -item[1])[:SLOWEST]
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    return {
        "rows": [{"file": name, "seconds": round(seconds, 1)} for name, seconds in slowest],
        "command": " ".join(COMMAND),
        "seconds of all files": round(sum(totals.values())),
        "profile": "quick",
        "wall minutes": round(minutes, 2),
        "peak MiB (largest process)": round(peak),
        "exit status": result.returncode,
        "pytest summary": summary,
        "failed": [line for line in result.stdout.splitlines() if line.startswith("FAILED")],
    }
