"""Sphinx extension: the presets appendix's tables, computed from ``gpt_lesson`` at build time.

The directive ``presets-table`` renders one table, chosen by its argument:

- ``models``: every ``GPTConfig`` in ``PRESETS`` with its ``parameter_count``;
- ``training``: every ``TrainConfig`` in ``TRAINING``;
- ``profiles``: every ``Profile`` in ``PROFILES`` and the preset chapter 3 trains.

So the appendix can never disagree with the code: no number in it is typed by hand.
``gpt_lesson.config`` (with ``parameter_count``) imports neither Keras nor TensorFlow, so it
is read in Sphinx's own process.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from docutils import nodes
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("gpt_lesson/config.py",)


@functools.cache
def read_config() -> dict:
    """PRESETS, TRAINING and PROFILES as plain data, with each preset's parameter count."""
    try:
        from gpt_lesson.config import PRESETS, PROFILES, TRAINING, parameter_count
    except ImportError as error:
        raise ExtensionError(
            "presets-table could not import gpt_lesson.config (is gpt_lesson installed in the "
            f"environment that runs jupyter-book? `make install` does it): {error}"
        ) from error
    return {
        "models": {
            name: {**dataclasses.asdict(c), "parameters": parameter_count(c)}
            for name, c in PRESETS.items()
        },
        "training": {name: dataclasses.asdict(t) for name, t in TRAINING.items()},
        "profiles": {name: dataclasses.asdict(p) for name, p in PROFILES.items()},
    }


def _minutes(value: float | None) -> str:
    return "none" if value is None else f"{value:g} min"


def _models(config: dict) -> tuple[list[str], list[list[str]]]:
    header = ["preset", "k", "d", "n", "heads", "f", "LN", "dropout", "|V|", "parameters N"]
    rows = [
        [
            name,
            f"{c['sequence_length']:,}",
            f"{c['hidden_dim']:,}",
            str(c["num_layers"]),
            str(c["num_heads"]),
            f"{c['intermediate_dim']:,}",
            "pre-LN" if c["normalize_first"] else "post-LN",
            f"{c['dropout']:g}",
            f"{c['vocab_size']:,}",
            f"{c['parameters']:,}",
        ]
        for name, c in config["models"].items()
    ]
    return header, rows


def _training(config: dict) -> tuple[list[str], list[list[str]]]:
    header = [
        "preset",
        "batch",
        "peak LR",
        "warmup",
        "epochs",
        "steps/epoch",
        "time limit",
        "decay",
        "vocabulary",
        "XLA",
    ]
    rows = [
        [
            name,
            str(t["batch_size"]),
            f"{t['learning_rate']:g}",
            f"{t['warmup_steps']:,}",
            str(t["epochs"]),
            "all" if t["max_steps_per_epoch"] is None else str(t["max_steps_per_epoch"]),
            _minutes(t["max_minutes"]),
            f"{t['weight_decay']:g}",
            "trimmed" if t["trim_vocabulary"] else "full",
            "yes" if t["jit_compile"] else "no",
        ]
        for name, t in config["training"].items()
    ]
    return header, rows


def _profiles(config: dict) -> tuple[list[str], list[list[str]]]:
    header = ["GPT_LESSON_PROFILE", "chapter 3 trains the preset"]
    rows = [[name, p["pretrain_preset"]] for name, p in config["profiles"].items()]
    return header, rows


TABLES = {"models": _models, "training": _training, "profiles": _profiles}


def docutils_table(header: list[str], rows: list[list[str]]) -> nodes.table:
    """A plain docutils table: one header row, then the rows."""
    group = nodes.tgroup(cols=len(header))
    group += [nodes.colspec(colwidth=1) for _ in header]

    def row(cells: list[str]) -> nodes.row:
        line = nodes.row()
        for cell in cells:
            line += nodes.entry("", nodes.paragraph(text=cell))
        return line

    head, body = nodes.thead(), nodes.tbody()
    head += row(header)
    body += [row(cells) for cells in rows]
    group += [head, body]
    table = nodes.table(classes=["presets-table"])
    table += group
    return table


class PresetsTable(SphinxDirective):
    """``presets-table`` with one argument: ``models``, ``training`` or ``profiles``."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        kind = self.arguments[0]
        if kind not in TABLES:
            raise self.error(
                f"presets-table: unknown table {kind!r}; use one of: {', '.join(TABLES)}."
            )
        for source in SOURCES:
            self.env.note_dependency(str(REPO / source))
        return [docutils_table(*TABLES[kind](read_config()))]


def setup(app):
    app.add_directive("presets-table", PresetsTable)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
