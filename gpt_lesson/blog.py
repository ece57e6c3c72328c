"""The blog's GPT-1, faithfully: the code path chapter 4 reproduces, diagnoses and fixes.

The seed trained a 12-layer post-LN decoder (KerasHub ``TransformerDecoder`` blocks, each
called with ``decoder_padding_mask = x != 0``) with a separate ``Dense`` softmax output,
a masked cross-entropy on those probabilities, Keras' default Adam (constant learning
rate 1e-3, no clipping) and windows of [start] + 63 tokens + [end]. Its token stream is
not GPT-2's: the ids it printed split the space off every word (``" the"`` becomes
``" "`` + ``"the"``), which :func:`seed_token_ids` reproduces.

Every choice is one field of :class:`Recipe`, so chapter 4 can change one factor at a
time; :data:`BLOG` is the seed, :data:`FIXED` the repaired recipe. :func:`run_recipe`
trains a recipe for a number of steps and returns its per-step curves.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import keras_hub
import numpy as np
import regex
import tensorflow as tf

from gpt_lesson import pipeline
from gpt_lesson.config import PRESETS, GPTConfig
from gpt_lesson.tokenizer import GPT2_PATTERN, tiktoken_reference
from gpt_lesson.vocabulary import Vocabulary

PAD_ID, START_ID, END_ID = 50257, 50258, 50259
SEED_WINDOW = 63  # tokens per window before the start and end ids are added
SEED_BATCH_SIZE = 16


def seed_pieces(text: str) -> list[str]:
    """GPT-2's pieces, with the space that starts a word split off as a piece of its own."""
    pieces = []
    for piece in regex.findall(GPT2_PATTERN, text):
        if len(piece) > 1 and piece[0] == " " and not piece[1].isspace():
            pieces.extend((" ", piece[1:]))
        else:
            pieces.append(piece)
    return pieces


def seed_token_ids(text: str) -> np.ndarray:
    """Token ids as the seed's tokenizer produced them: GPT-2's merges applied to
    :func:`seed_pieces`, so every word's leading space is id 220 on its own."""
    reference = tiktoken_reference()
    pieces = seed_pieces(text)
    ids_of = {piece: reference.encode_ordinary(piece) for piece in set(pieces)}
    return np.asarray([i for piece in pieces for i in ids_of[piece]], dtype=np.int32)


@dataclass(frozen=True)
class Recipe:
    """The blog's training choices; each field is one factor chapter 4 varies."""

    normalize_first: bool = False  # False: post-LN, KerasHub's default (as in the seed)
    softmax_output: bool = True  # Dense(softmax) and a loss on probabilities
    mask_hides_id_zero: bool = True  # decoder_padding_mask = x != 0 hides every "!"
    end_token: bool = True  # [start] + 63 tokens + [end]; False: [start] + 64 tokens
    learning_rate: float = 1e-3  # Keras' default for "adam"
    warmup_steps: int = 0  # linear warmup to learning_rate, then constant
    clipnorm: float | None = None  # gradient clipping by global norm
    tied_output: bool = False  # the output projection is the token embedding transposed


BLOG = Recipe()
FIXED = Recipe(
    normalize_first=True,
    softmax_output=False,
    mask_hides_id_zero=False,
    end_token=False,
    learning_rate=1e-3,
    warmup_steps=100,
    clipnorm=1.0,
)

# Chapter 4's one-factor experiments: the seed with exactly one choice changed.
EXPERIMENTS: dict[str, Recipe] = {
    "blog": BLOG,
    "warmup": dataclasses.replace(BLOG, warmup_steps=100),
    "pre-LN": dataclasses.replace(BLOG, normalize_first=True),
    "logits": dataclasses.replace(BLOG, softmax_output=False),
    "clipnorm 1": dataclasses.replace(BLOG, clipnorm=1.0),
    "mask fixed": dataclasses.replace(BLOG, mask_hides_id_zero=False),
    "no end token": dataclasses.replace(BLOG, end_token=False),
    "all fixes": FIXED,
    "all fixes, lr 2.5e-4": dataclasses.replace(FIXED, learning_rate=2.5e-4),  # the paper's
}


@dataclass(frozen=True)
class Plan:
    """How big and how long chapter 4's experiments are under a profile."""

    config: GPTConfig  # the model of the one-factor experiments
    steps: int
    seeds: tuple[int, ...]
    full_config: GPTConfig  # the size at which the main results are confirmed
    full_steps: int
    jit_compile: bool = True  # XLA pays for itself only over hundreds of steps


# The experiments' model: the seed's depth, heads ratio and framing, 8x narrower, so that
# every experiment runs with two seeds on a CPU; the main ones are confirmed at full size.
SMALL = GPTConfig(
    sequence_length=64, hidden_dim=64, num_layers=12, num_heads=4, intermediate_dim=128
)
TINY = GPTConfig(sequence_length=64, hidden_dim=16, num_layers=2, num_heads=2, intermediate_dim=32)
PLANS: dict[str, Plan] = {
    "default": Plan(SMALL, steps=250, seeds=(0, 1), full_config=PRESETS["blog"], full_steps=120),
    "quick": Plan(TINY, steps=12, seeds=(0,), full_config=TINY, full_steps=6, jit_compile=False),
}


def seed_windows(ids: np.ndarray, recipe: Recipe = BLOG) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, labels), each (windows, 64): non-overlapping windows framed like the seed."""
    window = SEED_WINDOW if recipe.end_token else SEED_WINDOW + 1
    count = len(ids) // window
    body = np.asarray(ids[: count * window], dtype=np.int32).reshape(count, window)
    columns = [np.full((count, 1), START_ID, np.int32), body]
    if recipe.end_token:
        columns.append(np.full((count, 1), END_ID, np.int32))
    framed = np.concatenate(columns, axis=1)
    return framed[:, :-1], framed[:, 1:]


def seed_dataset(
    inputs: np.ndarray, labels: np.ndarray, batch_size: int = SEED_BATCH_SIZE
) -> tf.data.Dataset:
    """Batches in text order, unshuffled, as in the seed; repeated forever."""
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(batch_size)
    return pipeline.prefetched(dataset.repeat())


def build_blog_model(config: GPTConfig, recipe: Recipe = BLOG) -> keras.Model:
    """The seed's model: untied embedding, post-LN blocks masked with ``x != 0``, softmax.

    ``config`` gives the sizes (the ``blog`` preset is the seed's own); KerasHub's
    default initialisers are kept, as the seed did not set any.
    """
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedding = keras_hub.layers.TokenAndPositionEmbedding(
        vocabulary_size=config.vocab_size,
        sequence_length=config.sequence_length,
        embedding_dim=config.hidden_dim,
        name="embedding",  # its reverse projection is used only with tied_output
    )
    x = embedding(token_ids)
    hidden = PAD_ID if not recipe.mask_hides_id_zero else 0
    padding_mask = keras.ops.not_equal(token_ids, hidden)
    for index in range(config.num_layers):
        x = keras_hub.layers.TransformerDecoder(
            intermediate_dim=config.intermediate_dim,
            num_heads=config.num_heads,
            dropout=config.dropout,
            normalize_first=recipe.normalize_first,
            name=f"decoder_{index}",
        )(x, decoder_padding_mask=padding_mask)
    if recipe.normalize_first:
        x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_layer_norm")(x)
    activation = "softmax" if recipe.softmax_output else None
    if recipe.tied_output:
        outputs = embedding.token_embedding(x, reverse=True)
        if activation:
            outputs = keras.layers.Activation(activation, name="softmax")(outputs)
    else:
        outputs = keras.layers.Dense(config.vocab_size, activation=activation, name="output")(x)
    return keras.Model(token_ids, outputs, name="blog_gpt")


def make_masked_loss(pad_id: int, from_logits: bool):
    """The seed's masked loss: per-token cross-entropy, summed over non-pad labels / count."""
    per_token = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, reduction=None)

    def masked_loss(labels, predictions):
        loss = per_token(labels, predictions)
        mask = tf.cast(labels != pad_id, loss.dtype)
        return tf.reduce_sum(loss * mask) / tf.reduce_sum(mask)

    return masked_loss


def masked_accuracy(labels, predictions, pad_id: int = PAD_ID):
    """The seed's masked accuracy: argmax == label over non-pad labels."""
    predicted = tf.argmax(predictions, axis=2)
    labels = tf.cast(labels, predicted.dtype)
    hits = tf.cast((labels == predicted) & (labels != pad_id), tf.float32)
    return tf.reduce_sum(hits) / tf.reduce_sum(tf.cast(labels != pad_id, tf.float32))


def learning_rate(recipe: Recipe) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """Constant, or linear warmup to the recipe's rate and constant after it."""
    if recipe.warmup_steps == 0:
        return recipe.learning_rate
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        warmup_target=recipe.learning_rate,
        warmup_steps=recipe.warmup_steps,
        decay_steps=1,
        alpha=1.0,  # no decay after the warmup: only the warmup is the factor here
    )


def compile_blog_model(
    model: keras.Model, recipe: Recipe, pad_id: int = PAD_ID, jit_compile: bool | str = "auto"
) -> keras.Model:
    """``model.compile`` with the seed's loss and metric and Adam as the recipe says."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate(recipe), clipnorm=recipe.clipnorm),
        loss=make_masked_loss(pad_id, from_logits=not recipe.softmax_output),
        metrics=[keras.metrics.MeanMetricWrapper(masked_accuracy, name="masked_accuracy")],
        jit_compile=jit_compile,
    )
    return model


class StepLog(keras.callbacks.Callback):
    """Records the loss and masked accuracy of every training batch (not running means)."""

    def __init__(self) -> None:
        super().__init__()
        self.loss: list[float] = []
        self.accuracy: list[float] = []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.loss.append(float(logs["loss"]))
        self.accuracy.append(float(logs["masked_accuracy"]))


class BatchMetrics(keras.callbacks.Callback):
    """Resets the metrics before each batch, so the logs hold that batch's values alone."""

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        for metric in self.model.metrics:
            metric.reset_state()


@dataclass(frozen=True)
class Curves:
    """Per-step loss (nats) and masked accuracy of one training run."""

    name: str
    seed: int
    loss: tuple[float, ...]
    accuracy: tuple[float, ...]
    seconds: float

    @classmethod
    def from_record(cls, record: dict) -> Curves:
        """Curves from their JSON form (lists back to tuples)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in record.items()})

    def tail(self, steps: int = 50) -> tuple[float, float]:
        """Mean loss and accuracy over the last ``steps`` steps: where the run ended up."""
        return float(np.mean(self.loss[-steps:])), float(np.mean(self.accuracy[-steps:]))


@dataclass(frozen=True)
class Windows:
    """The seed's (inputs, labels) windows, renumbered when the vocabulary is trimmed."""

    inputs: np.ndarray
    labels: np.ndarray
    pad_id: int
    vocabulary: Vocabulary | None  # None: the ids are GPT-2's own

    def sized(self, config: GPTConfig) -> GPTConfig:
        """``config`` with as many outputs as these windows' vocabulary has."""
        if self.vocabulary is None:
            return config
        return dataclasses.replace(config, vocab_size=self.vocabulary.size)


def frame(ids: np.ndarray, recipe: Recipe = BLOG, trim_vocabulary: bool = False) -> Windows:
    """The seed's windows of ``ids``; ``trim_vocabulary`` renumbers them to the ids they
    use (the experiments' cost lever: a smaller output layer, the same label frequencies)."""
    inputs, labels = seed_windows(ids, recipe)
    if not trim_vocabulary:
        return Windows(inputs, labels, PAD_ID, None)
    vocabulary = Vocabulary.used_by(
        inputs.ravel(), labels.ravel(), always=(PAD_ID, START_ID, END_ID)
    )
    pad = int(vocabulary.compact(np.array([PAD_ID]))[0])
    return Windows(vocabulary.compact(inputs), vocabulary.compact(labels), pad, vocabulary)


def train_recipe(
    recipe: Recipe,
    config: GPTConfig,
    windows: Windows,
    steps: int,
    seed: int = 0,
    jit_compile: bool | str = True,
) -> tuple[keras.Model, StepLog]:
    """A fresh seed-style model trained ``steps`` batches with ``recipe``; its step log."""
    keras.utils.set_random_seed(seed)
    model = build_blog_model(windows.sized(config), recipe)
    compile_blog_model(model, recipe, windows.pad_id, jit_compile)
    log = StepLog()
    model.fit(
        seed_dataset(windows.inputs, windows.labels),
        epochs=1,
        steps_per_epoch=steps,
        callbacks=[BatchMetrics(), log],
        verbose=0,
    )
    return model, log


def run_recipe(
    name: str,
    recipe: Recipe,
    config: GPTConfig,
    ids: np.ndarray,
    steps: int,
    seed: int = 0,
    trim_vocabulary: bool = False,
    cache: str | Path | None = None,
    jit_compile: bool | str = True,
) -> Curves:
    """Train ``recipe`` from scratch for ``steps`` batches of the GPT-2 id stream ``ids``
    and return its curves.

    With ``cache``, a finished run is stored as JSON there and read back instead of
    retrained when the same name, seed, steps, config and recipe ask again.
    """
    path = None
    key = {
        "config": dataclasses.asdict(config),
        "recipe": dataclasses.asdict(recipe),
        "trim_vocabulary": trim_vocabulary,
    }
    if cache is not None:
        path = Path(cache) / f"{name}-seed{seed}-steps{steps}.json"
        cached = _cached_run(Path(cache), name, seed, steps, key)
        if cached is not None:
            return cached
    start = time.monotonic()
    windows = frame(ids, recipe, trim_vocabulary)
    _, log = train_recipe(recipe, config, windows, steps, seed, jit_compile)
    seconds = time.monotonic() - start
    curves = Curves(name, seed, tuple(log.loss), tuple(log.accuracy), seconds)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"key": key, "curves": dataclasses.asdict(curves)}
        path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return curves


def _cached_run(folder: Path, name: str, seed: int, steps: int, key: dict) -> Curves | None:
    """A stored run of ``name`` with this key and at least ``steps`` steps, cut to ``steps``.

    Cutting is exact: nothing in a run depends on how many steps it will take (the data
    order, the dropout draws and the learning rate of step t are the same), so the first
    ``steps`` steps of a longer run are the shorter run.
    """
    for path in sorted(folder.glob(f"{glob.escape(name)}-seed{seed}-steps*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        curves = Curves.from_record(record["curves"])
        if record["key"] == key and len(curves.loss) >= steps:
            return dataclasses.replace(
                curves,
                loss=curves.loss[:steps],
                accuracy=curves.accuracy[:steps],
                seconds=curves.seconds
                * steps
                / len(curves.loss),  # an estimate: the share of steps
            )
    return None
