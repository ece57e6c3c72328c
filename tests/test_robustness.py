"""Bad input fails clearly (what was wrong, what to do) and loses nothing.

The cases of issue 9 and where each is tested:

- corrupt or truncated download, sha mismatch, bad file removed: ``test_data.py``
  (``test_download_with_wrong_bytes_raises_and_keeps_nothing``,
  ``test_a_dropped_download_leaves_no_partial_file``, ``test_corrupt_mirror_file_...``);
- no network and no mirror: ``test_data.py::test_offline_error_names_the_url_and_...``;
- a mirror folder that lacks a file: ``test_data.py::test_mirror_without_the_file_...``;
- a merges file with a header, blank lines or a malformed line, and an encoder.json that
  is not JSON: ``test_tokenizer.py`` (the header and blank lines are dropped, as GPT-2's
  own ``encoder.py`` does; a malformed line is reported with its number);
- text the tokenizer has never seen (any Unicode, empty, NUL bytes): ``test_tokenizer.py``
  (hypothesis round trip, and NUL and empty strings among the hard cases);
- a config that cannot work and an unknown preset: ``test_model.py``;
- a prompt longer than the context: ``test_generate.py`` (the cached path refuses with
  what to do, the uncached path slides its window);
- a corpus shorter than one window, a checkpoint from another config, a run folder of
  another model, and a model fed more positions than it has: here;
- an interrupted run and a failed save: ``test_resume.py``.
"""

import dataclasses
import json

import keras
import numpy as np
import pytest

from gpt_lesson.config import PRESETS, TrainConfig
from gpt_lesson.gpt1.causal_lm import build_gpt
from gpt_lesson.gpt1.presets import load_checkpoint, save_preset
from gpt_lesson.pretraining.train import LMData, pretrain, with_preprocessor
from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

TINY = dataclasses.replace(PRESETS["quick"], sequence_length=8, hidden_dim=16, intermediate_dim=32)
TRAIN = TrainConfig(
    batch_size=4, warmup_steps=1, epochs=1, max_steps_per_epoch=2, jit_compile=False
)
TRIMMED = dataclasses.replace(TRAIN, trim_vocabulary=True)


def corpus(tokens: int, validation: int = 50) -> LMData:
    ids = np.arange(tokens + validation, dtype=np.int32) % 97 + 300  # merged tokens (ids > 255)
    return LMData(ids[:tokens], ids[tokens:], validation_characters=3 * validation)


@pytest.mark.parametrize(
    "data, message",
    [
        (corpus(5), r"training text is 5 tokens long.*sequence_length \+ 1 = 9.*longer text"),
        (corpus(200, validation=1), r"validation text is 1 tokens long.*longer text"),
    ],
)
def test_a_corpus_too_short_is_refused_before_anything_is_written(tmp_path, data, message):
    with pytest.raises(ValueError, match=message):
        pretrain(TINY, TRAIN, data, load_gpt2_tokenizer(), tmp_path / "run", verbose=0)
    assert not any((tmp_path / "run").iterdir())


def test_a_run_folder_of_another_model_is_left_untouched(tmp_path):
    pretrain(TINY, TRIMMED, corpus(200), load_gpt2_tokenizer(), tmp_path, verbose=0)
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}

    wider = dataclasses.replace(TINY, hidden_dim=32)
    with pytest.raises(ValueError) as caught:
        pretrain(wider, TRIMMED, corpus(200), load_gpt2_tokenizer(), tmp_path, verbose=0)
    message = str(caught.value)
    assert "hidden_dim: 16 there, 32 now" in message and "new folder" in message
    after = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert after == before  # config, vocabulary, weights, history and state unchanged
    load_checkpoint(tmp_path)  # and the run still loads


def test_weights_from_another_config_are_refused_with_what_to_do(tmp_path, edit_backbone_config):
    keras.utils.set_random_seed(0)
    save_preset(with_preprocessor(build_gpt(TINY), load_gpt2_tokenizer()), tmp_path)
    for name, backbone in (
        ("config.json", lambda r: r),
        ("task.json", lambda r: r["config"]["backbone"]),
    ):
        record = json.loads((tmp_path / name).read_text())
        backbone(record)["config"]["num_layers"] = 3
        (tmp_path / name).write_text(json.dumps(record))
    with pytest.raises(ValueError, match="do not fit together.*train again"):
        load_checkpoint(tmp_path)


def test_a_model_fed_more_positions_than_it_has_names_the_limit():
    model = build_gpt(TINY)
    with pytest.raises(Exception, match=r"Expected size\[0\] in \[0, 8\], but got 9"):
        model(np.zeros((1, 9), np.int32))
