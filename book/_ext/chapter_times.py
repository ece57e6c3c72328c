"""Sphinx extension: how long each chapter takes, read from the committed measurements.

The directive ``chapter-times`` renders one table, a row per notebook, with the seconds
``python -m benchmarks.chapters`` measured under each profile
(``benchmarks/results/chapters-default.json`` and ``chapters-quick.json``), so that the
introduction quotes the same figures the chapters do and none is typed by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from presets_table import docutils_table
from sphinx.util.docutils import SphinxDirective

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
PROFILES = ("default", "quick")


def duration(seconds: float | None) -> str:
    """Seconds under two minutes, minutes (one decimal) above; a dash when not measured."""
    if seconds is None:
        return "not measured"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def read_times() -> dict[str, dict[str, float]]:
    """Per profile, the seconds of each notebook (by file stem)."""
    times = {}
    for profile in PROFILES:
        path = RESULTS / f"chapters-{profile}.json"
        rows = json.loads(path.read_text(encoding="utf-8"))["rows"] if path.exists() else {}
        times[profile] = {stem: row["seconds"] for stem, row in rows.items()}
    return times


class ChapterTimes(SphinxDirective):
    """``chapter-times``: notebook, default profile, quick profile."""

    def run(self) -> list[nodes.Node]:
        for profile in PROFILES:
            self.env.note_dependency(str(RESULTS / f"chapters-{profile}.json"))
        times = read_times()
        stems = sorted({stem for profile in PROFILES for stem in times[profile]})
        header = ["notebook", "default profile", "GPT_LESSON_PROFILE=quick"]
        rows = [
            [f"{stem}.ipynb", *(duration(times[p].get(stem)) for p in PROFILES)] for stem in stems
        ]
        return [docutils_table(header, rows)]


def setup(app):
    app.add_directive("chapter-times", ChapterTimes)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
