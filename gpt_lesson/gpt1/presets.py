"""A trained model saved as a KerasHub preset, and loaded back with one clear error per bad file.

A run folder written by ``pretrain`` (``gpt_lesson.pretraining.train``) is a KerasHub preset, so
``GPT1CausalLM.from_preset(folder)`` loads it like any KerasHub model: ``config.json`` (the
backbone's configuration), ``model.weights.h5``, ``task.json``, ``preprocessor.json``,
``tokenizer.json`` with the tokenizer's files under ``assets/tokenizer/``, and
``metadata.json``. A trimmed tokenizer's config (``tokenizer.json``) holds which GPT-2 id
each of its ids stands for; presets saved before it did keep that list in ``gpt2_ids.json``,
which still loads. Beside them the run keeps ``run.json`` (the ``GPTConfig`` and
``TrainConfig`` it was trained with) and its history.

:func:`save_preset` writes a preset whole or not at all; :func:`load_task`, the one loader
of both kinds of preset (a language model, :func:`load_checkpoint`, and a fine-tuned
classifier, ``gpt_lesson.gpt1.classifier.load_classifier``), turns every way the files can be
missing or damaged into a :class:`CheckpointError` that names the file, says what is wrong
and what to do, so that the command line prints it in one line.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import keras_hub
import numpy as np

from gpt_lesson.config import GPTConfig
from gpt_lesson.gpt1.backbone import GPT1Backbone
from gpt_lesson.gpt1.causal_lm import GPT1CausalLM
from gpt_lesson.tokenizer.vocabulary import Vocabulary

if TYPE_CHECKING:  # tokenizers need TensorFlow; the checkpoints' weights do not
    from gpt_lesson.tokenizer.gpt2 import BookGPT2Tokenizer

RETRAIN = "train again with `python -m gpt_lesson pretrain --out FOLDER`"
PRESET_FILES = (
    "metadata.json",
    "config.json",
    "task.json",
    "preprocessor.json",
    "tokenizer.json",
    "assets/tokenizer/vocabulary.json",
    "assets/tokenizer/merges.txt",
)
WEIGHTS = "model.weights.h5"
GPT2_IDS = "gpt2_ids.json"  # the GPT-2 ids of presets saved before tokenizer.json held them
BACKBONE_FIELDS = ("name", "trainable", "dtype")  # what Keras adds to GPTConfig's fields


class CheckpointError(ValueError):
    """A preset or run folder that cannot be loaded."""


@dataclass(frozen=True)
class Checkpoint:
    """A trained model with what it needs to be used: its config and its vocabulary."""

    model: GPT1CausalLM
    config: GPTConfig
    vocabulary: Vocabulary | None  # None: the model's ids are GPT-2's ids themselves

    @property
    def tokenizer(self) -> BookGPT2Tokenizer | None:
        """The model's own tokenizer (trimmed like its vocabulary), when it has one."""
        preprocessor = self.model.preprocessor
        return None if preprocessor is None else preprocessor.tokenizer

    def to_model_ids(self, gpt2_ids) -> np.ndarray:
        ids = np.asarray(gpt2_ids, dtype=np.int32)
        return ids if self.vocabulary is None else self.vocabulary.compact(ids)

    def to_gpt2_ids(self, model_ids) -> np.ndarray:
        ids = np.asarray(model_ids)
        return ids if self.vocabulary is None else self.vocabulary.expand(ids)


def save_preset(task: keras_hub.models.Task, folder: str | Path) -> None:
    """``task.save_to_preset(folder)``, whole or not at all.

    The preset is written into a temporary folder beside ``folder`` first; only when every
    file is written are they moved into ``folder`` (each by an atomic rename), so a save
    that fails leaves ``folder`` as it was. Files of ``folder`` that are not the preset's
    (a run's history, its resume state) are kept.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.preset-"))
    try:
        task.save_to_preset(str(staging))
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                target = folder / path.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@dataclass(frozen=True)
class PresetKind:
    """A kind of preset this package writes: the KerasHub task it holds, and what the error
    messages tell whoever passes a folder that is not one."""

    task: type[keras_hub.models.Task]
    written_by: str  # what writes one, e.g. "`python -m gpt_lesson pretrain --out FOLDER`"
    no_folder: str  # the message for a folder that does not exist, after "{folder}: "


CAUSAL_LM = PresetKind(
    GPT1CausalLM,
    written_by="`python -m gpt_lesson pretrain --out FOLDER`",
    no_folder="no such run folder. Pass a folder written by pretrain or save_preset (it "
    "holds config.json and model.weights.h5).",
)


def load_task(folder: str | Path, kind: PresetKind) -> keras_hub.models.Task:
    """The ``kind.task`` saved in ``folder``, with one clear error per bad file: each file
    is checked before KerasHub reads it, and what KerasHub refuses is explained."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: {kind.no_folder}")
    config = read_backbone_config(folder)
    check_preset_files(folder)
    check_task_class(folder, kind)
    task = from_preset(kind.task, folder)
    check_same_config(task.backbone, config, folder)
    return task


def read_backbone_config(folder: Path) -> GPTConfig:
    """The ``GPTConfig`` in a preset's ``config.json``, checked for shape and values."""
    path = folder / "config.json"
    if not path.exists():
        raise CheckpointError(
            f"{folder} holds no config.json, so it is not a preset or run folder: {RETRAIN}."
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON ({error}): {RETRAIN}.") from error
    if not isinstance(record, dict) or record.get("class_name") != "GPT1Backbone":
        raise CheckpointError(
            f"{path} does not describe a GPT1Backbone: it was not written by gpt_lesson, or "
            f"by an earlier version of it (whose run folders were not presets); {RETRAIN}."
        )
    fields = {k: v for k, v in record.get("config", {}).items() if k not in BACKBONE_FIELDS}
    try:
        return GPTConfig(**fields)
    except TypeError as error:  # fields this version does not know, or lacks
        raise CheckpointError(
            f"{path}: its config does not fit this version's GPTConfig ({error}); it was "
            f"written by another version of gpt_lesson: {RETRAIN}."
        ) from error
    except ValueError as error:  # GPTConfig's own checks
        raise CheckpointError(f"{path}: {error}") from error


def check_preset_files(folder: Path) -> None:
    """Refuse a folder that lacks one of the preset's files, naming it."""
    for name in PRESET_FILES:
        if not (folder / name).exists():
            raise CheckpointError(
                f"{folder / name} is missing, so {folder} is not a whole preset (save it again "
                f"with save_preset, or {RETRAIN})."
            )
    if not (folder / WEIGHTS).exists():
        raise CheckpointError(
            f"{folder / WEIGHTS} is missing: no epoch of this run has finished yet (the "
            f"weights are written at each epoch's end). Resume the run, or {RETRAIN}."
        )


def check_task_class(folder: Path, kind: PresetKind) -> None:
    """Refuse a preset whose ``task.json`` holds another kind of model than ``kind.task``
    (KerasHub would build that from its backbone without a word)."""
    try:
        record = json.loads((folder / "task.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{folder / 'task.json'} is not valid JSON ({error}).") from error
    task = record.get("class_name") if isinstance(record, dict) else None
    if task != kind.task.__name__:
        raise CheckpointError(
            f"{folder} holds a {task}, not a {kind.task.__name__}: pass a folder written by "
            f"{kind.written_by}."
        )


def from_preset(cls: type[keras_hub.models.Task], folder: Path) -> keras_hub.models.Task:
    """``cls.from_preset(folder)``, with a message for weights that are damaged or misfit."""
    try:
        return cls.from_preset(str(folder))
    except OSError as error:  # h5py: truncated file, not an HDF5 file
        reason = str(error).splitlines()[0]
        raise CheckpointError(
            f"{folder / WEIGHTS} cannot be read ({reason}): {RETRAIN}."
        ) from error
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(
            f"{folder} cannot be loaded ({str(error).splitlines()[0][:200]}): its files do "
            "not fit together (weights saved by a model of another shape, or a file edited "
            f"by hand). Keep a preset's files together as save_preset wrote them, or {RETRAIN}."
        ) from error


def check_same_config(backbone: GPT1Backbone, config: GPTConfig, folder: Path) -> None:
    """Refuse a preset whose ``config.json`` and ``task.json`` describe different models
    (KerasHub builds the model from ``task.json``)."""
    if backbone.gpt_config != config:
        raise CheckpointError(
            f"{folder}: config.json and task.json describe different models ({config} and "
            f"{backbone.gpt_config}): a file was edited by hand or comes from another save. "
            f"Keep a preset's files together as save_preset wrote them, or {RETRAIN}."
        )


def read_vocabulary(model: GPT1CausalLM, folder: Path) -> Vocabulary | None:
    """The GPT-2 ids of a trimmed vocabulary, which its tokenizer holds (or, in a preset
    saved before it did, ``gpt2_ids.json``); None when the model uses GPT-2's ids as they are."""
    tokenizer = None if model.preprocessor is None else model.preprocessor.tokenizer
    kept = getattr(tokenizer, "kept", None)  # GPT-1's tokenizer is never trimmed
    if kept is not None:
        return kept
    return read_gpt2_ids(folder, model.backbone.gpt_config.vocab_size)


def read_gpt2_ids(folder: Path, model_vocab_size: int) -> Vocabulary | None:
    """The GPT-2 ids of ``gpt2_ids.json`` (presets saved before the tokenizer held them);
    None when there is no such file."""
    path = folder / GPT2_IDS
    if not path.exists():
        return None
    try:
        vocabulary = Vocabulary.load(path)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as error:
        raise CheckpointError(f"{path} is not a list of ids ({error}): {RETRAIN}.") from error
    if vocabulary.size != model_vocab_size:
        raise CheckpointError(
            f"{path} holds {vocabulary.size:,} ids but the model has {model_vocab_size:,} "
            f"outputs: the files come from different runs; {RETRAIN}."
        )
    return vocabulary


def load_checkpoint(folder: str | Path) -> Checkpoint:
    """The model saved in a preset or run folder, with its tokenizer and vocabulary."""
    model = load_task(folder, CAUSAL_LM)
    config = model.backbone.gpt_config
    return Checkpoint(model, config, read_vocabulary(model, Path(folder)))


def is_preset(folder: Path) -> bool:
    """Whether ``folder`` holds a whole preset with weights (e.g. a finished epoch)."""
    return all((folder / name).exists() for name in (*PRESET_FILES, WEIGHTS))
