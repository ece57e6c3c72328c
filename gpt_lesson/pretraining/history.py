"""Reading a run's logs back: ``history.csv`` (one row per epoch, Keras' ``CSVLogger``) and
``steps.csv`` (one row per training step), the one reader the chapters, the command line,
the experiments and the benchmarks share."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HISTORY = "history.csv"  # per epoch: loss, accuracy, validation loss, bits per character, ...
STEPS = "steps.csv"  # per step: the step's own training loss and its number of examples


def read_log(path: str | Path) -> dict[str, np.ndarray]:
    """The columns of a run's CSV log, as arrays of numbers keyed by column name (empty
    arrays when no row has been written yet)."""
    with Path(path).open(encoding="utf-8", newline="") as file:
        rows = [row for row in csv.reader(file) if row]
    if not rows:
        return {}
    header, values = rows[0], rows[1:]
    return {
        name: np.array([float(row[column]) for row in values]) for column, name in enumerate(header)
    }


def last_epoch_logs(path: str | Path) -> dict[str, float]:
    """The last row of ``history.csv`` as numbers (empty when no epoch has finished)."""
    if not Path(path).exists():
        return {}
    columns = read_log(path)
    return {k: float(v[-1]) for k, v in columns.items() if k != "epoch" and len(v)}
