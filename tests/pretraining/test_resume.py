"""A run killed mid-epoch resumes and ends with the weights and history of a run never stopped.

The kill is real: a child process trains and sends itself SIGKILL after a batch that is
not a save point, so the resumed run must both go back to the last saved state and redo
the batches lost since. On a CPU every source of randomness is seeded (initial weights,
dropout masks via ``keras.utils.set_random_seed``, the shuffle of ``tf.data``), so the
two runs agree to float32 rounding; the ``minutes`` column is wall-clock time and is
not compared.

Run as a script (``python tests/pretraining/test_resume.py FOLDER KILL_AFTER``)
this file is the child.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from gpt_lesson import _files as files
from gpt_lesson.config import PRESETS, TrainConfig
from gpt_lesson.gpt1.presets import load_checkpoint
from gpt_lesson.pretraining import resume
from gpt_lesson.pretraining.train import LMData, pretrain
from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

CONFIG = PRESETS["quick"]  # dropout 0.1: the dropout random state must be restored too
TRAIN = TrainConfig(
    batch_size=8,
    learning_rate=3e-3,
    warmup_steps=3,
    epochs=3,
    max_steps_per_epoch=5,
    jit_compile=False,
    trim_vocabulary=True,
    save_every=2,
)
KILL_AFTER = 7  # batches: epoch 1, batch 2; the last save was after batch 6 (epoch 1, batch 1)


def corpus() -> LMData:
    ids = np.random.default_rng(0).integers(0, 400, 2_000).astype(np.int32)
    return LMData(train_ids=ids[:1_800], validation_ids=ids[1_800:], validation_characters=600)


def train_into(folder: Path, callbacks=()) -> dict:
    return pretrain(
        CONFIG, TRAIN, corpus(), load_gpt2_tokenizer(), folder, verbose=0, callbacks=callbacks
    )


class KillAfter(keras.callbacks.Callback):
    """SIGKILL this process after ``batches`` batches: no cleanup, no exception handlers."""

    def __init__(self, batches: int) -> None:
        super().__init__()
        self.batches, self.seen = batches, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.batches:
            os.kill(os.getpid(), signal.SIGKILL)


def history(folder: Path) -> list[dict[str, float]]:
    rows = csv.DictReader((folder / "history.csv").read_text().splitlines())
    return [{k: float(v) for k, v in row.items() if k != "minutes"} for row in rows]


def weights(folder: Path) -> dict[str, np.ndarray]:
    arrays = {}
    with h5py.File(folder / "model.weights.h5") as file:
        file.visititems(
            lambda name, item: (
                arrays.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None
            )
        )
    return arrays


def step_losses(folder: Path) -> np.ndarray:
    return np.genfromtxt(folder / "steps.csv", delimiter=",", names=True)


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights_and_history(tmp_path):
    killed = tmp_path / "killed"
    child = subprocess.run(
        [sys.executable, __file__, str(killed), str(KILL_AFTER)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    with np.load(killed / resume.STATE_FILE) as state:
        assert state["position"].tolist() == [1, 1, 6]  # epoch 1, after its first batch
    assert [row["epoch"] for row in history(killed)] == [0]
    load_checkpoint(killed)  # the checkpoint of epoch 0 is whole and loads

    summary = train_into(killed)
    assert summary["epochs_run"] == 2  # the rest of epoch 1, then epoch 2
    assert not list(killed.glob(".*"))  # no temporary file left behind

    never_stopped = tmp_path / "never-stopped"
    train_into(never_stopped)

    expected, actual = history(never_stopped), history(killed)
    assert [row["epoch"] for row in actual] == [0, 1, 2]
    for want, got in zip(expected, actual, strict=True):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-7)
    # Each step's own loss, logged across the kill as if there had been none; the steps of
    # an epoch average to that epoch's loss in history.csv.
    expected_steps, actual_steps = step_losses(never_stopped), step_losses(killed)
    assert actual_steps["step"].tolist() == list(range(1, len(expected_steps) + 1))
    np.testing.assert_allclose(actual_steps["loss"], expected_steps["loss"], rtol=1e-5)
    losses, examples = (expected_steps[k].reshape(len(expected), -1) for k in ("loss", "examples"))
    per_epoch = (losses * examples).sum(axis=1) / examples.sum(axis=1)
    np.testing.assert_allclose(per_epoch, [row["loss"] for row in expected], rtol=1e-5)
    expected_weights, actual_weights = weights(never_stopped), weights(killed)
    assert expected_weights.keys() == actual_weights.keys()
    for name, value in expected_weights.items():
        np.testing.assert_allclose(actual_weights[name], value, rtol=1e-6, atol=1e-7)

    again = train_into(killed)  # the same command once more: the run has ended
    assert again["epochs_run"] == 0 and again["loss"] == actual[-1]["loss"]
    unchanged = weights(killed)
    assert unchanged.keys() == actual_weights.keys()
    for name, value in actual_weights.items():
        np.testing.assert_array_equal(unchanged[name], value)


def test_resume_plan_finishes_the_broken_epoch_first():
    position = resume.Position(epoch=1, batch=3, step=8)
    assert resume.plan(position, steps_per_epoch=5, epochs=3) == [
        resume.Segment(initial_epoch=1, epochs=2, steps_per_epoch=2, skip=8),
        resume.Segment(initial_epoch=2, epochs=3, steps_per_epoch=5, skip=10),
    ]
    assert resume.plan(resume.Position(2, 0, 10), 5, 3) == [resume.Segment(2, 3, 5, 10)]
    assert resume.plan(resume.Position(3, 0, 15), 5, 3) == []


@pytest.fixture
def small_model():
    layers = [keras.Input((3,)), keras.layers.Dropout(0.5), keras.layers.Dense(2, name="head")]
    model = keras.Sequential(layers, name="small")  # names fix the variables' paths
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    return model


def test_a_failed_save_keeps_the_last_good_state(tmp_path, small_model, monkeypatch):
    path = tmp_path / resume.STATE_FILE
    resume.save_state(path, small_model, resume.Position(0, 2, 2))
    good = path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        resume.save_state(path, small_model, resume.Position(0, 4, 4))
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == [resume.STATE_FILE]


def test_state_of_another_model_is_refused_with_what_to_do(tmp_path, small_model):
    path = tmp_path / resume.STATE_FILE
    resume.save_state(path, small_model, resume.Position(1, 0, 4))
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5)])
    other.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="different model.*new folder, or delete"):
        resume.restore_state(path, other)


def test_state_is_keyed_by_variable_path_and_a_mismatch_is_named(tmp_path, small_model):
    path = tmp_path / resume.STATE_FILE
    resume.save_state(path, small_model, resume.Position(1, 0, 4))
    with np.load(path) as arrays:
        assert set(arrays.files) == {"position", *resume.state_variables(small_model)}
    keys = {"variable:small/head/kernel", "optimizer:small_head_kernel_momentum"}
    assert keys <= set(resume.state_variables(small_model))
    renamed = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dropout(0.5), keras.layers.Dense(2, name="other")],
        name="small",
    )
    renamed.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="first difference: optimizer:small_head_bias_momentum"):
        resume.restore_state(path, renamed)


def test_history_rows_past_the_saved_state_are_dropped(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,5.0\n1,4.0\n2,3.")  # a kill while writing epoch 2's row
    resume.keep_rows_before(path, 2)
    assert path.read_text() == "epoch,loss\n0,5.0\n1,4.0\n"
    resume.keep_rows_before(path, 1)
    assert path.read_text() == "epoch,loss\n0,5.0\n"


if __name__ == "__main__":
    train_into(Path(sys.argv[1]), callbacks=[KillAfter(int(sys.argv[2]))])
