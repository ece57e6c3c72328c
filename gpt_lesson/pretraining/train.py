"""Pre-training with Keras ``fit``: AdamW, warmup + cosine, clipping (``gpt_lesson.optimization``),
checkpoints, resume.

One run writes into its own folder:

- a KerasHub preset of the model after the last finished epoch (``config.json``,
  ``model.weights.h5``, the tokenizer, ...; see ``gpt_lesson.gpt1.presets``), written whole
  or not at all, so ``GPT1CausalLM.from_preset(folder)`` loads it; a trimmed tokenizer's
  ``tokenizer.json`` holds the GPT-2 ids the model's outputs stand for;
- ``run.json``: the model's ``GPTConfig`` and the ``TrainConfig``;
- ``history.csv``: loss, accuracy, validation loss and bits per character per epoch;
- ``steps.csv``: each step's training loss and number of examples (both read back by
  ``gpt_lesson.pretraining.history``);
- ``resume.npz``: the whole training state, so a killed run resumes exactly where it was
  (see ``gpt_lesson.pretraining.resume``);
- ``summary.json``: what the run reached, written when it ends.

Under a ``tf.distribute`` strategy (``gpt_lesson.pretraining.distribute``) the model and optimizer
are built in its scope and ``fit`` splits every batch across the replicas.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gpt_lesson._files import replaced_atomically, write_json
from gpt_lesson._keras_hub import mean_sums
from gpt_lesson.config import GPTConfig, TrainConfig
from gpt_lesson.data import read_text
from gpt_lesson.gpt1.causal_lm import GPT1CausalLM, build_gpt
from gpt_lesson.gpt1.causal_lm_preprocessor import GPT1CausalLMPreprocessor
from gpt_lesson.gpt1.presets import save_preset
from gpt_lesson.optimization import StopAfter, make_optimizer, make_schedule
from gpt_lesson.pretraining import pipeline, resume
from gpt_lesson.pretraining.distribute import run_folder
from gpt_lesson.pretraining.history import HISTORY, STEPS, last_epoch_logs
from gpt_lesson.pretraining.objectives import (
    MaskedAccuracy,
    MaskedLMLoss,
    bits_per_character,
    token_nll,
)
from gpt_lesson.tokenizer.gpt2 import BookGPT2Tokenizer, spellable
from gpt_lesson.tokenizer.vocabulary import Vocabulary

RUN_RECORD = "run.json"  # the GPTConfig and TrainConfig a run was trained with


@dataclass(frozen=True)
class LMData:
    """Token ids of the training and validation texts, and the validation text's length."""

    train_ids: np.ndarray
    validation_ids: np.ndarray
    validation_characters: int


def load_shakespeare(tokenizer: BookGPT2Tokenizer) -> LMData:
    """Tiny Shakespeare, split by characters (last 10% for validation), as token ids."""
    split = pipeline.split_text(read_text("shakespeare"))
    return LMData(
        train_ids=pipeline.token_ids(split.train, tokenizer),
        validation_ids=pipeline.token_ids(split.validation, tokenizer),
        validation_characters=len(split.validation),
    )


def steps_per_epoch(num_tokens: int, config: GPTConfig, recipe: TrainConfig) -> int:
    """Batches per pass over ``num_tokens`` with windows of the context length."""
    windows = -(-(num_tokens - 1) // config.sequence_length)
    steps = -(-windows // recipe.batch_size)
    return min(steps, recipe.max_steps_per_epoch or steps)


def make_nats_step(model: keras.Model, pad_id: int, jit_compile: bool = True):
    """A compiled function: (inputs, labels) -> (total nats over non-pad labels, their count)."""

    @tf.function(jit_compile=jit_compile)
    def batch_nats(inputs, labels):
        nll, mask = token_nll(labels, model(inputs, training=False), pad_id)
        return tf.reduce_sum(nll), tf.reduce_sum(mask)

    return batch_nats


def validation_nats(nats_step, dataset: tf.data.Dataset) -> tuple[float, int]:
    """Total negative log-likelihood (nats) over a dataset's non-pad labels, and their count."""
    total, count = 0.0, 0.0
    for inputs, labels in dataset:
        nats, labelled = nats_step(inputs, labels)
        total, count = total + float(nats), count + float(labelled)
    return total, int(count)


def text_nats_and_bits(
    model: keras.Model, ids: np.ndarray, characters: int, pad_id: int, batch_size: int = 32
) -> tuple[float, float]:
    """Nats per token and bits per character of a text (its model ids, and its length in
    characters) under a language model, in windows of the model's context: the held-out
    measure of chapter 3, for any text (chapters 5 and 6)."""
    context = model.backbone.gpt_config.sequence_length
    windows = pipeline.lm_windows(ids, context, batch_size, pad_id, shuffle=False)
    nats, tokens = validation_nats(make_nats_step(model, pad_id, jit_compile=False), windows)
    return nats / tokens, bits_per_character(nats, characters)


class ValidationBitsPerCharacter(keras.callbacks.Callback):
    """Adds the exact validation loss (nats/token), bits per character and the minutes since
    the start to each epoch's logs.

    Keras' own ``val_loss`` averages per-batch means, which over-weights a short last
    batch; this sums nats over every validation token instead.
    """

    def __init__(
        self, dataset: tf.data.Dataset, num_characters: int, pad_id: int, jit_compile: bool
    ) -> None:
        super().__init__()
        self.dataset, self.num_characters, self.pad_id = dataset, num_characters, pad_id
        self.jit_compile, self.nats_step = jit_compile, None
        self.start = time.monotonic()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.start = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.nats_step is None:  # compiled once, reused every epoch
            self.nats_step = make_nats_step(self.model, self.pad_id, self.jit_compile)
        nats, tokens = validation_nats(self.nats_step, self.dataset)
        logs = logs if logs is not None else {}
        logs["minutes"] = (time.monotonic() - self.start) / 60.0  # training + validation
        logs["val_loss"] = nats / tokens
        logs["val_bits_per_char"] = bits_per_character(nats, self.num_characters)
        logs["learning_rate"] = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )


class PresetCheckpoint(keras.callbacks.Callback):
    """Saves the model as a preset (with its tokenizer) after every epoch, whole or not at
    all (``save_preset``), so the folder always holds the last good, loadable model."""

    def __init__(self, folder: Path, tokenizer: BookGPT2Tokenizer) -> None:
        super().__init__()
        self.folder, self.tokenizer = folder, tokenizer

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        save_preset(with_preprocessor(self.model, self.tokenizer), self.folder)


class StepLosses(keras.callbacks.Callback):
    """Appends each step's own training loss (and batch size) to ``steps.csv``.

    Keras reports the epoch's running mean; the sums behind it (its loss tracker's total
    and count), read before and after a batch, give that batch's mean loss exactly (to
    float32 rounding).
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path, self.before = path, None

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.before = self._totals()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        (total, count), (total_before, count_before) = self._totals(), self.before
        if count <= count_before:  # Keras reset the tracker at an epoch's start
            total_before = count_before = 0.0
        step = int(self.model.optimizer.iterations.numpy())
        examples = count - count_before  # Keras weights the mean by the batch's size
        loss = (total - total_before) / examples
        new = not self.path.exists()
        with self.path.open("a", encoding="utf-8") as file:
            file.write("step,loss,examples\n" if new else "")
            file.write(f"{step},{loss!r},{examples:g}\n")

    def _totals(self) -> tuple[float, float]:
        tracker = next(metric for metric in self.model.metrics if metric.name == "loss")
        return mean_sums(tracker)


class WeightSnapshots(keras.callbacks.Callback):
    """Saves the weights at chosen training steps and at every epoch's end, as
    ``folder/step-NNNNNN.weights.h5``: the points at which chapter 6 measures what the
    model has learnt so far. A snapshot already on disk is kept (a resumed run)."""

    def __init__(self, folder: Path, steps: Sequence[int]) -> None:
        super().__init__()
        self.folder, self.steps = Path(folder), frozenset(steps)

    def on_train_begin(self, logs: dict | None = None) -> None:
        if 0 in self.steps:
            self.save()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if int(self.model.optimizer.iterations.numpy()) in self.steps:
            self.save()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.save()

    def save(self) -> None:
        path = snapshot_path(self.folder, int(self.model.optimizer.iterations.numpy()))
        if not path.exists():
            with replaced_atomically(path, suffix=".weights.h5") as temporary:
                self.model.save_weights(temporary)


def snapshot_path(folder: Path, step: int) -> Path:
    """Where ``WeightSnapshots`` keeps the weights after ``step`` training steps."""
    return Path(folder) / f"step-{step:06d}.weights.h5"


def with_preprocessor(model: GPT1CausalLM, tokenizer: BookGPT2Tokenizer) -> GPT1CausalLM:
    """The same network (shared weights) with a preprocessor, to save and generate text.

    The training model has none: ``fit`` would otherwise run it over the token ids.
    """
    sequence_length = model.backbone.gpt_config.sequence_length
    return GPT1CausalLM(model.backbone, GPT1CausalLMPreprocessor(tokenizer, sequence_length))


def check_corpus(data: LMData, config: GPTConfig) -> None:
    """Refuse texts too short to learn from: training needs one whole window (a context and
    the token after it), validation one (input, label) pair."""
    window = config.sequence_length + 1
    if len(data.train_ids) < window:
        raise ValueError(
            f"The training text is {len(data.train_ids)} tokens long, shorter than one window "
            f"of sequence_length + 1 = {window} tokens (a context and the next token). Use a "
            "longer text, or a model with a shorter context (the quick preset's is 32)."
        )
    if len(data.validation_ids) < 2:
        raise ValueError(
            f"The validation text is {len(data.validation_ids)} tokens long; it needs at least "
            "2 for one (input, label) pair. Use a longer text (validation is its last 10%)."
        )


def check_same_run(folder: Path, config: GPTConfig) -> None:
    """Refuse to resume (and so overwrite) a run folder that holds a model of another shape."""
    path = folder / RUN_RECORD
    if not path.exists():
        return
    saved = json.loads(path.read_text(encoding="utf-8"))["model"]
    changed = {k: (v, getattr(config, k)) for k, v in saved.items() if getattr(config, k) != v}
    if changed:
        what = ", ".join(f"{k}: {old} there, {new} now" for k, (old, new) in changed.items())
        raise ValueError(
            f"{folder} holds a run of another model ({what}), so it cannot be resumed with "
            "this one and was left untouched. Train into a new folder (--out), or delete "
            f"{folder} to start over."
        )


def save_run_config(folder: Path, config: GPTConfig, recipe: TrainConfig) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    record = {"model": dataclasses.asdict(config), "train": dataclasses.asdict(recipe)}
    write_json(folder / RUN_RECORD, record, indent=2)


@dataclass(frozen=True)
class ModelCorpus:
    """The texts as the model sees them: its token ids, its pad id and its tokenizer
    (GPT-2's, or trimmed to the ids the corpus uses)."""

    train_ids: np.ndarray
    validation_ids: np.ndarray
    pad_id: int
    tokenizer: BookGPT2Tokenizer

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size


def model_corpus(data: LMData, tokenizer: BookGPT2Tokenizer, trim: bool) -> ModelCorpus:
    """``data`` as it is, or (``trim``) renumbered to a tokenizer trimmed to the ids the
    corpus uses, which stays able to spell any text (see ``gpt_lesson.tokenizer.vocabulary``)."""
    if not trim:
        return ModelCorpus(data.train_ids, data.validation_ids, tokenizer.pad_id, tokenizer)
    specials = (tokenizer.pad_id, tokenizer.start_id, tokenizer.end_id)
    used = Vocabulary.used_by(data.train_ids, data.validation_ids, always=specials)
    trimmed = tokenizer.trimmed(spellable(tokenizer, used.gpt2_ids))
    return ModelCorpus(
        trimmed.kept.compact(data.train_ids),
        trimmed.kept.compact(data.validation_ids),
        trimmed.pad_id,
        trimmed,
    )


def train_windows(corpus: ModelCorpus, config: GPTConfig, recipe: TrainConfig) -> tf.data.Dataset:
    """The training text as endless shuffled batches of windows (shifted at random, or cut
    at fixed places)."""
    length, batch, pad = config.sequence_length, recipe.batch_size, corpus.pad_id
    if recipe.shift_windows:
        return pipeline.shifted_lm_windows(corpus.train_ids, length, batch, pad, seed=recipe.seed)
    return pipeline.lm_windows(
        corpus.train_ids, length, batch, pad, shuffle=True, seed=recipe.seed
    ).repeat()


def compiled_model(
    config: GPTConfig,
    recipe: TrainConfig,
    pad_id: int,
    total_steps: int,
    strategy: tf.distribute.Strategy,
) -> GPT1CausalLM:
    """A fresh model, compiled with the masked loss and AdamW on the recipe's schedule, in
    ``strategy``'s scope."""
    with strategy.scope():
        model = build_gpt(config)
        schedule = make_schedule(recipe, total_steps)
        model.compile(
            optimizer=make_optimizer(model, schedule, recipe),
            loss=MaskedLMLoss(pad_id),
            metrics=[MaskedAccuracy(pad_id)],
            weighted_metrics=None,  # KerasHub's default adds an unmasked accuracy
            jit_compile=recipe.jit_compile,
        )
    return model


def run_callbacks(
    folder: Path, data: LMData, corpus: ModelCorpus, config: GPTConfig, recipe: TrainConfig
) -> list[keras.callbacks.Callback]:
    """Exact validation numbers, the atomic checkpoint, the history (the resume state is
    saved by ``resume.fit_resumably``, after these)."""
    length, batch, pad = config.sequence_length, recipe.batch_size, corpus.pad_id
    validation_set = pipeline.lm_windows(corpus.validation_ids, length, batch, pad, shuffle=False)
    return [
        ValidationBitsPerCharacter(
            validation_set, data.validation_characters, pad, recipe.jit_compile
        ),
        PresetCheckpoint(folder, corpus.tokenizer),
        keras.callbacks.CSVLogger(str(folder / HISTORY), append=True),
        StepLosses(folder / STEPS),
    ]


def stop_callbacks(recipe: TrainConfig) -> list[keras.callbacks.Callback]:
    """The recipe's time limit, if it has one."""
    return [] if recipe.max_minutes is None else [StopAfter(minutes=recipe.max_minutes)]


def write_summary(
    folder: Path,
    histories: Sequence[keras.callbacks.History],
    steps: int,
    minutes: float,
    model: keras.Model,
) -> dict:
    """What the run reached (``summary.json``): epochs, time, size and the last epoch's logs."""
    summary = {
        "epochs_run": sum(len(history.epoch) for history in histories),
        "steps_per_epoch": steps,
        "minutes": minutes,
        "parameters": model.count_params(),
        **last_epoch_logs(folder / HISTORY),
    }
    write_json(folder / "summary.json", summary, indent=2)
    return summary


def pretrain(
    config: GPTConfig,
    recipe: TrainConfig,
    data: LMData,
    tokenizer: BookGPT2Tokenizer,
    folder: str | Path,
    verbose: int | str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    strategy: tf.distribute.Strategy | None = None,
) -> dict:
    """Train a fresh model (or resume the run in ``folder``) and return its summary.

    ``callbacks`` are added after the run's own (validation, checkpoint, history).
    ``strategy`` (default: the current one, a single device) decides where training runs;
    ``recipe.batch_size`` is the global batch, split across its replicas.
    """
    strategy = strategy or tf.distribute.get_strategy()
    folder = run_folder(Path(folder), strategy)
    folder.mkdir(parents=True, exist_ok=True)
    check_corpus(data, config)
    keras.utils.set_random_seed(recipe.seed)
    corpus = model_corpus(data, tokenizer, recipe.trim_vocabulary)
    if recipe.trim_vocabulary:
        config = dataclasses.replace(config, vocab_size=corpus.vocab_size)
    steps = steps_per_epoch(len(corpus.train_ids), config, recipe)
    model = compiled_model(config, recipe, corpus.pad_id, steps * recipe.epochs, strategy)
    check_same_run(folder, config)  # before anything in the folder is written
    save_run_config(folder, config, recipe)
    callbacks = [
        *run_callbacks(folder, data, corpus, config, recipe),
        *callbacks,
        *stop_callbacks(recipe),
    ]
    start = time.monotonic()
    histories = resume.fit_resumably(
        model,
        lambda: train_windows(corpus, config, recipe),
        folder,
        recipe.epochs,
        steps,
        recipe.save_every,
        callbacks,
        verbose,
    )
    return write_summary(folder, histories, steps, (time.monotonic() - start) / 60.0, model)
