"""Resuming a killed run exactly where it stopped: the whole training state, saved atomically.

Keras' ``BackupAndRestore`` keeps the weights and the optimizer and restarts an interrupted
epoch from its first batch. A run that is killed and resumed should instead end with the
weights and history of a run that was never stopped. That needs four things, all saved
in one file, ``resume.npz``, every ``save_every`` batches and at the end of every epoch:

- the weights and the optimizer's moments and step count;
- the dropout layers' random state (Keras ``SeedGenerator`` variables), which
  ``model.save_weights`` leaves out;
- the running sums behind the epoch's mean loss and accuracy, so the epoch's row of
  ``history.csv`` is the one the uninterrupted run writes;
- the position in the data: a freshly built, shuffled, repeated ``tf.data`` pipeline is
  a fixed sequence of batches for a fixed seed, so the resumed run builds it again and
  skips the batches already used. (It must be built afresh for each ``fit`` call: a
  shuffle's random state lives in the dataset object and moves on with every iterator
  made from it.)

The file is written under a temporary name and renamed, so a kill at any moment leaves
the previous state or the new one, never half of one. A resumed run that was killed
mid-epoch first finishes that epoch (one ``fit`` call of the remaining batches), then
runs the remaining epochs.

What is deterministic on a CPU: the initial weights and the dropout masks (both from
``keras.utils.set_random_seed``), the order of the ``tf.data`` windows (a seeded shuffle)
and the arithmetic of each step, so a resumed run matches to float32 rounding. Not
covered: the wall-clock columns (``minutes``), and runs on GPUs, where some kernels
(e.g. atomic adds in reductions) are not bitwise reproducible unless
``tf.config.experimental.enable_op_determinism()`` is on.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gpt_lesson._files import replaced_atomically, write_text
from gpt_lesson._keras_hub import stable_path

STATE_FILE = "resume.npz"


@dataclass(frozen=True)
class Position:
    """Where a run is: the epoch in progress, its batches done, and all batches done."""

    epoch: int = 0
    batch: int = 0
    step: int = 0  # batches consumed since the run began: the position in the data


@dataclass(frozen=True)
class Segment:
    """One ``fit`` call: epochs ``initial_epoch`` to ``epochs - 1`` of ``steps_per_epoch``
    batches, from the data with its first ``skip`` batches dropped."""

    initial_epoch: int
    epochs: int
    steps_per_epoch: int
    skip: int


def plan(position: Position, steps_per_epoch: int, epochs: int) -> list[Segment]:
    """The ``fit`` calls that take a run from ``position`` to the end of its last epoch."""
    segments, epoch, step = [], position.epoch, position.step
    if position.batch and epoch < epochs:  # killed mid-epoch: finish that epoch first
        remaining = steps_per_epoch - position.batch
        segments.append(Segment(epoch, epoch + 1, remaining, step))
        epoch, step = epoch + 1, step + remaining
    if epoch < epochs:
        segments.append(Segment(epoch, epochs, steps_per_epoch, step))
    return segments


def state_variables(model: keras.Model) -> dict[str, keras.Variable]:
    """Weights, dropout random states, optimizer variables and metric sums, keyed by path
    (``variable:decoder_0/feedforward_output_dense/kernel``, ``optimizer:iteration``, ...),
    so that a saved state is matched to a model by name, not by the order of its variables.

    A key drops the numbers Keras gives per process: the optimizer's own name, and a seed
    generator's number, in whose place repeated keys within one layer get ``#1``, ``#2``, ...
    in the order the layer creates them."""
    groups = {
        "variable": [(stable_path(v), v) for v in model.variables],
        "optimizer": [(stable_path(v, drop_owner=True), v) for v in model.optimizer.variables],
        "metric": [(stable_path(v), v) for v in model.metrics_variables],
    }
    keyed, seen = {}, Counter()
    for prefix, variables in groups.items():
        for path, variable in variables:
            key = f"{prefix}:{path}"
            keyed[f"{key}#{seen[key]}" if seen[key] else key] = variable
            seen[key] += 1
    return keyed


def save_state(path: Path, model: keras.Model, position: Position) -> None:
    """Write the training state to a temporary file next to ``path``, then rename it."""
    arrays = {"position": np.array([position.epoch, position.batch, position.step], dtype=np.int64)}
    arrays.update({key: np.asarray(v.numpy()) for key, v in state_variables(model).items()})
    with replaced_atomically(path, suffix=".npz") as temporary:
        np.savez(temporary, **arrays)


@dataclass(frozen=True)
class SavedState:
    position: Position
    metric_values: dict[str, np.ndarray]  # by "metric:path", added when the epoch restarts


def restore_state(path: Path, model: keras.Model) -> SavedState | None:
    """Load ``path`` into the compiled ``model`` (weights, random states, optimizer).

    Returns where the run was and the epoch's metric sums (restored when the epoch
    restarts), or None when there is no saved state.
    """
    if not path.exists():
        return None
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    variables = {
        key: v for key, v in state_variables(model).items() if not key.startswith("metric:")
    }
    with np.load(path) as saved:
        values = {name: saved[name] for name in saved.files if name != "position"}
        epoch, batch, step = (int(x) for x in saved["position"])
    metrics = {name: values.pop(name) for name in list(values) if name.startswith("metric:")}
    differences = sorted(set(values) ^ set(variables)) or [
        name for name, variable in variables.items() if values[name].shape != tuple(variable.shape)
    ]
    if differences:
        raise ValueError(
            f"{path} holds the training state of a different model or optimizer (first "
            f"difference: {differences[0]}, of {len(differences)}). Train into a new folder, "
            "or delete the file to start this run afresh."
        )
    for name, variable in variables.items():
        variable.assign(values[name])
    return SavedState(Position(epoch, batch, step), metrics)


def keep_rows_before(path: Path, limit: int) -> None:
    """Drop the rows of a log (``history.csv`` by epoch, ``steps.csv`` by step) whose first
    column is ``limit`` or more: the saved state has not reached them, so they will be rerun.

    A kill between writing a row and saving the state leaves a row the state does not
    know about; a kill while writing leaves half a row.
    """
    if not path.exists():
        return
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    kept = rows[:1] + [row for row in rows[1:] if row and row[0].isdigit() and int(row[0]) < limit]
    write_text(path, "".join(",".join(row) + "\n" for row in kept))


class RunState(keras.callbacks.Callback):
    """Saves the training state every ``save_every`` batches and at every epoch's end.

    Put it after the callbacks that write the epoch's history, so that the state saved at
    the end of an epoch is never ahead of ``history.csv``.
    """

    def __init__(self, path: Path, save_every: int, saved: SavedState | None) -> None:
        super().__init__()
        if save_every < 1:
            raise ValueError(f"save_every must be at least 1 batch, got {save_every}.")
        self.path, self.save_every = path, save_every
        self.start = saved.position if saved else Position()
        self.pending_metrics = saved.metric_values if saved and saved.position.batch else None
        self.epoch, self.batch, self.step = self.start.epoch, self.start.batch, self.start.step

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch
        self.batch = self.start.batch if epoch == self.start.epoch else 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.pending_metrics is not None:
            # The metrics are sums (a total and a count each), which Keras builds on the
            # first step: add those of the batches done before the kill to this batch's.
            for key, variable in state_variables(self.model).items():
                if key.startswith("metric:"):
                    variable.assign_add(self.pending_metrics[key])
            self.pending_metrics = None
        self.batch, self.step = self.batch + 1, self.step + 1
        if self.step % self.save_every == 0:
            save_state(self.path, self.model, Position(self.epoch, self.batch, self.step))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        save_state(self.path, self.model, Position(epoch + 1, 0, self.step))


def fit_resumably(
    model: keras.Model,
    make_dataset: Callable[[], tf.data.Dataset],
    folder: Path,
    epochs: int,
    steps_per_epoch: int,
    save_every: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
) -> list[keras.callbacks.History]:
    """``model.fit`` on the endless dataset ``make_dataset()`` builds, continuing from
    ``folder/resume.npz``.

    Returns one ``History`` per ``fit`` call made (none when the run had already ended).
    ``history.csv`` and ``steps.csv`` in ``folder`` are cut back to the epochs and steps
    the saved state has finished.
    """
    state_path = folder / STATE_FILE
    for leftover in folder.glob(f".{STATE_FILE}.*"):  # from a kill while saving
        leftover.unlink()
    saved = restore_state(state_path, model)
    position = saved.position if saved else Position()
    keep_rows_before(folder / "history.csv", position.epoch)
    keep_rows_before(folder / "steps.csv", position.step + 1)  # steps count from 1
    callbacks = [*callbacks, RunState(state_path, save_every, saved)]
    histories = []
    for segment in plan(position, steps_per_epoch, epochs):
        histories.append(
            model.fit(
                make_dataset().skip(segment.skip),
                initial_epoch=segment.initial_epoch,
                epochs=segment.epochs,
                steps_per_epoch=segment.steps_per_epoch,
                callbacks=callbacks,
                verbose=verbose,
                shuffle=False,  # the dataset shuffles itself
            )
        )
        if model.stop_training:  # a time limit ended the run
            break
    return histories
