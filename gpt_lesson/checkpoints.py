"""A trained model and what it needs to be used, saved in a run folder and loaded back.

``pretrain`` (``gpt_lesson.train``) writes a run folder; :func:`load_checkpoint` reads the
three files that make a usable model of it: ``config.json`` (the model's ``GPTConfig``),
``model.weights.h5`` and, when the vocabulary is trimmed, ``vocabulary.json``. Every way
those files can be missing or damaged is a :class:`CheckpointError` that names the file,
says what is wrong and what to do, so that the command line can print it in one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from gpt_lesson.config import GPTConfig
from gpt_lesson.model import build_gpt
from gpt_lesson.vocabulary import Vocabulary

RETRAIN = "train again with `python -m gpt_lesson pretrain --out FOLDER`"


class CheckpointError(ValueError):
    """A run folder that cannot be loaded."""


@dataclass(frozen=True)
class Checkpoint:
    """A trained model with what it needs to be used: its config and its vocabulary."""

    model: keras.Model
    config: GPTConfig
    vocabulary: Vocabulary | None  # None: outputs are GPT-2's ids themselves

    def to_model_ids(self, gpt2_ids) -> np.ndarray:
        ids = np.asarray(gpt2_ids, dtype=np.int32)
        return ids if self.vocabulary is None else self.vocabulary.compact(ids)

    def to_gpt2_ids(self, model_ids) -> np.ndarray:
        ids = np.asarray(model_ids)
        return ids if self.vocabulary is None else self.vocabulary.expand(ids)


def read_model_config(folder: Path) -> GPTConfig:
    """The ``GPTConfig`` in ``folder/config.json``, checked for shape and values."""
    path = folder / "config.json"
    if not folder.is_dir():
        raise CheckpointError(
            f"{folder}: no such run folder. Pass a folder written by pretrain (it holds "
            "config.json and model.weights.h5)."
        )
    if not path.exists():
        raise CheckpointError(
            f"{folder} holds no config.json, so it is not a run folder: {RETRAIN}."
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON ({error}): {RETRAIN}.") from error
    if not isinstance(record, dict) or not isinstance(record.get("model"), dict):
        raise CheckpointError(
            f'{path} has no "model" section: it was not written by gpt_lesson\'s pretrain, '
            f"or by another version of it; {RETRAIN}."
        )
    try:
        return GPTConfig(**record["model"])
    except TypeError as error:  # fields this version does not know, or lacks
        raise CheckpointError(
            f"{path}: its model section does not fit this version's GPTConfig ({error}); it "
            f"was written by another version of gpt_lesson: {RETRAIN}."
        ) from error
    except ValueError as error:  # GPTConfig's own checks
        raise CheckpointError(f"{path}: {error}") from error


def load_weights(model: keras.Model, path: Path, config: GPTConfig) -> None:
    """Load ``path`` into ``model``, with a message for a missing, damaged or misfit file."""
    if not path.exists():
        raise CheckpointError(
            f"{path} is missing: no epoch of this run has finished yet (the weights are "
            f"written at each epoch's end). Resume the run, or {RETRAIN}."
        )
    try:
        model.load_weights(path)
    except OSError as error:  # h5py: truncated file, not an HDF5 file
        reason = str(error).splitlines()[0]
        raise CheckpointError(f"{path} cannot be read ({reason}): {RETRAIN}.") from error
    except ValueError as error:
        raise CheckpointError(
            f"{path} does not fit the model of its config.json ({config}): the weights were "
            "saved by a model of another shape. Keep each run's weights with the config.json "
            f"written beside them, or {RETRAIN}."
        ) from error


def read_vocabulary(path: Path) -> Vocabulary | None:
    """The trimmed vocabulary in ``path``; None when the run uses GPT-2's ids as they are."""
    if not path.exists():
        return None
    try:
        return Vocabulary.load(path)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as error:
        raise CheckpointError(f"{path} is not a list of ids ({error}): {RETRAIN}.") from error


def load_checkpoint(folder: str | Path) -> Checkpoint:
    """The model saved in a run folder, rebuilt from its ``config.json``."""
    folder = Path(folder)
    config = read_model_config(folder)
    model = build_gpt(config)
    load_weights(model, folder / "model.weights.h5", config)
    vocabulary = read_vocabulary(folder / "vocabulary.json")
    if vocabulary is not None and vocabulary.size != config.vocab_size:
        raise CheckpointError(
            f"{folder / 'vocabulary.json'} holds {vocabulary.size:,} ids but the model has "
            f"{config.vocab_size:,} outputs: the files come from different runs; {RETRAIN}."
        )
    return Checkpoint(model, config, vocabulary)
