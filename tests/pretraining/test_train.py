"""Training: a run that learns, checkpoints, reloads and resumes (its optimizer and schedule
are ``tests/test_optimization.py``'s)."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from gpt_lesson.config import PRESETS, TrainConfig
from gpt_lesson.gpt1.presets import load_checkpoint
from gpt_lesson.pretraining.history import last_epoch_logs, read_log
from gpt_lesson.pretraining.train import LMData, pretrain
from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer, spellable

TOKENIZER = load_gpt2_tokenizer()
TINY = dataclasses.replace(
    PRESETS["quick"], vocab_size=50_260, sequence_length=8, hidden_dim=16, intermediate_dim=32
)


def test_a_short_run_learns_checkpoints_and_reloads(tmp_path):
    rng = np.random.default_rng(0)
    pattern = rng.integers(0, 300, 40)
    ids = np.tile(pattern, 30).astype(np.int32)  # a repeated pattern a model can learn
    data = LMData(train_ids=ids, validation_ids=ids[:200], validation_characters=600)
    recipe = TrainConfig(
        batch_size=8,
        learning_rate=1e-2,
        warmup_steps=5,
        epochs=4,
        jit_compile=False,
        trim_vocabulary=True,
    )
    summary = pretrain(TINY, recipe, data, TOKENIZER, tmp_path, verbose=0)

    history = (tmp_path / "history.csv").read_text().splitlines()
    assert history[0].split(",")[0] == "epoch" and len(history) == 1 + 4
    assert summary["epochs_run"] == 4 and summary["val_loss"] < 2.0  # from ln |V|, about 7
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["train"]["epochs"] == 4
    assert summary["val_loss"] == last_epoch_logs(tmp_path / "history.csv")["val_loss"]
    steps = read_log(tmp_path / "steps.csv")
    assert steps["step"].tolist() == list(range(1, len(steps["step"]) + 1))
    assert not (tmp_path / "gpt2_ids.json").exists()  # the tokenizer holds the GPT-2 ids

    checkpoint = load_checkpoint(tmp_path)
    # The ids used, the 3 specials, the 256 bytes and the tokens they are merged from.
    assert checkpoint.vocabulary == spellable(TOKENIZER, np.unique(pattern))
    assert set(np.unique(pattern)) < set(checkpoint.vocabulary.gpt2_ids)
    window = checkpoint.to_model_ids(ids[:8])[None]
    logits = np.asarray(checkpoint.model(window))
    predicted = checkpoint.to_gpt2_ids(logits.argmax(-1))[0]
    assert np.mean(predicted[:-1] == ids[1:8]) > 0.8  # it learned the pattern


class Interrupt(keras.callbacks.Callback):
    """Simulates a crash or a kill at the start of epoch ``epoch``."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


def test_an_interrupted_run_resumes_from_its_last_epoch(tmp_path):
    ids = np.tile(np.arange(50, dtype=np.int32), 20)
    data = LMData(train_ids=ids, validation_ids=ids[:100], validation_characters=300)
    recipe = TrainConfig(
        batch_size=8, learning_rate=1e-2, warmup_steps=2, epochs=3, jit_compile=False
    )
    with pytest.raises(RuntimeError, match="interrupted"):
        pretrain(TINY, recipe, data, TOKENIZER, tmp_path, verbose=0, callbacks=[Interrupt(2)])
    assert (tmp_path / "model.weights.h5").exists()  # the last good checkpoint was kept
    assert len((tmp_path / "history.csv").read_text().splitlines()) == 1 + 2

    summary = pretrain(TINY, recipe, data, TOKENIZER, tmp_path, verbose=0)
    assert summary["epochs_run"] == 1  # only the missing epoch was trained
    epochs = [line.split(",")[0] for line in (tmp_path / "history.csv").read_text().splitlines()]
    assert epochs[1:] == ["0", "1", "2"]
