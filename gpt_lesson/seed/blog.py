"""The blog's GPT-1, faithfully: the code path chapter 4 reproduces, diagnoses and fixes.

The seed trained a 12-layer post-LN decoder (KerasHub ``TransformerDecoder`` blocks, each
called with ``decoder_padding_mask = x != 0``) with a separate ``Dense`` softmax output,
a masked cross-entropy on those probabilities, Keras' default Adam (constant learning
rate 1e-3, no clipping) and windows of [start] + 63 tokens + [end]. Its token stream is
not GPT-2's: the ids it printed split the space off every word (``" the"`` becomes
``" "`` + ``"the"``), which :func:`seed_token_ids` reproduces.

Every choice is one field of :class:`Recipe`, so chapter 4 can change one factor at a
time; :data:`BLOG` is the seed. :func:`train_recipe`
trains a recipe for a number of steps and records its per-step curves
(``gpt_lesson.seed.study`` runs chapter 4's grid of recipes with it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import keras
import keras_hub
import numpy as np
import regex
import tensorflow as tf

from gpt_lesson.config import GPTConfig
from gpt_lesson.optimization import warmup_cosine
from gpt_lesson.pretraining import pipeline
from gpt_lesson.seed.layer_probe import LayerProbe, log_probabilities
from gpt_lesson.tokenizer.gpt2 import GPT2_PATTERN, tiktoken_reference
from gpt_lesson.tokenizer.special_tokens import SPECIAL_TOKENS
from gpt_lesson.tokenizer.vocabulary import Vocabulary

PAD_ID, START_ID, END_ID = (SPECIAL_TOKENS[t] for t in ("<|pad|>", "<|start|>", "<|end|>"))
SEED_WINDOW = 63  # tokens per window before the start and end ids are added: the seed's batch(63)
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
    decay_to_zero_at: int | None = None  # cosine decay after the warmup, 0 at this step
    clipnorm: float | None = None  # gradient clipping by global norm
    tied_output: bool = False  # the output projection is the token embedding transposed
    initializer_range: float | None = None  # None: KerasHub's defaults; paper: N(0, 0.02)
    shuffle: bool = False  # the seed reads its windows in text order


BLOG = Recipe()


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


def seed_batches(
    inputs: np.ndarray,
    labels: np.ndarray,
    batch_size: int = SEED_BATCH_SIZE,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    """One pass over the windows in batches (the last one shorter): in text order, as in
    the seed, or with ``shuffle_seed`` in an order that seed fixes, new on every pass."""
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(inputs), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size)


def seed_dataset(
    inputs: np.ndarray,
    labels: np.ndarray,
    batch_size: int = SEED_BATCH_SIZE,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    """:func:`seed_batches` repeated forever, each pass reshuffled if ``shuffle_seed`` is set."""
    return pipeline.prefetched(seed_batches(inputs, labels, batch_size, shuffle_seed).repeat())


def build_blog_model(config: GPTConfig, recipe: Recipe = BLOG) -> keras.Model:
    """The seed's model: untied embedding, post-LN blocks masked with ``x != 0``, softmax.

    ``config`` gives the sizes (the ``blog`` preset is the seed's own); KerasHub's
    default initialisers are kept, as the seed did not set any, unless the recipe asks
    for the paper's N(0, ``initializer_range``).
    """
    embeddings, kernel = {}, {}
    if recipe.initializer_range is not None:
        normal = keras.initializers.RandomNormal(stddev=recipe.initializer_range)
        embeddings, kernel = {"embeddings_initializer": normal}, {"kernel_initializer": normal}
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedding = keras_hub.layers.TokenAndPositionEmbedding(
        vocabulary_size=config.vocab_size,
        sequence_length=config.sequence_length,
        embedding_dim=config.hidden_dim,
        name="embedding",  # its reverse projection is used only with tied_output
        **embeddings,
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
            **kernel,
        )(x, decoder_padding_mask=padding_mask)
    if recipe.normalize_first:
        x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_layer_norm")(x)
    activation = "softmax" if recipe.softmax_output else None
    if recipe.tied_output:
        outputs = embedding.token_embedding(x, reverse=True)
        if activation:
            outputs = keras.layers.Activation(activation, name="softmax")(outputs)
    else:
        outputs = keras.layers.Dense(
            config.vocab_size, activation=activation, name="output", **kernel
        )(x)
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
    """Constant; or a linear warmup to the recipe's rate, then constant or (with
    ``decay_to_zero_at``) a cosine decay that reaches 0 at that step, the paper's shape."""
    if recipe.warmup_steps == 0 and recipe.decay_to_zero_at is None:
        return recipe.learning_rate
    if recipe.decay_to_zero_at is None:  # final fraction 1: constant after the warmup
        return warmup_cosine(recipe.learning_rate, recipe.warmup_steps, 1, final_fraction=1.0)
    decay_steps = recipe.decay_to_zero_at - recipe.warmup_steps
    return warmup_cosine(recipe.learning_rate, recipe.warmup_steps, decay_steps)


def predicted_entropy(labels, outputs, pad_id: int = PAD_ID, from_logits: bool = False):
    """Mean entropy (nats) of the predicted next-token distribution over non-pad labels:
    ln(V) for a uniform guess, the labels' unigram entropy or less for a collapsed model."""
    log_p = log_probabilities(outputs, from_logits)
    entropy = -tf.reduce_sum(tf.exp(log_p) * log_p, axis=-1)
    keep = tf.cast(labels != pad_id, entropy.dtype)
    return tf.reduce_sum(entropy * keep) / tf.reduce_sum(keep)


def compile_blog_model(
    model: keras.Model,
    recipe: Recipe,
    pad_id: int = PAD_ID,
    jit_compile: bool | str = "auto",
    entropy: bool = False,
) -> keras.Model:
    """``model.compile`` with the seed's loss and metric and Adam as the recipe says; with
    ``entropy``, also the entropy of the predictions (a metric the seed did not have)."""
    from_logits = not recipe.softmax_output
    metrics = [
        keras.metrics.MeanMetricWrapper(masked_accuracy, name="masked_accuracy", pad_id=pad_id)
    ]
    if entropy:
        metrics.append(
            keras.metrics.MeanMetricWrapper(
                predicted_entropy, name="entropy", pad_id=pad_id, from_logits=from_logits
            )
        )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate(recipe), clipnorm=recipe.clipnorm),
        loss=make_masked_loss(pad_id, from_logits=from_logits),
        metrics=metrics,
        jit_compile=jit_compile,
    )
    return model


class StepLog(keras.callbacks.Callback):
    """Records the loss, masked accuracy and prediction entropy of every training batch."""

    def __init__(self) -> None:
        super().__init__()
        self.loss: list[float] = []
        self.accuracy: list[float] = []
        self.entropy: list[float] = []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.loss.append(float(logs["loss"]))
        self.accuracy.append(float(logs["masked_accuracy"]))
        self.entropy.append(float(logs["entropy"]))


class BatchMetrics(keras.callbacks.Callback):
    """Resets the metrics before each batch, so the logs hold that batch's values alone."""

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        for metric in self.model.metrics:
            metric.reset_state()


@dataclass(frozen=True)
class Windows:
    """The seed's (inputs, labels) windows, renumbered when the vocabulary is trimmed."""

    inputs: np.ndarray
    labels: np.ndarray
    pad_id: int
    vocabulary: Vocabulary | None  # None: the ids are GPT-2's own
    held_out: tuple[np.ndarray, np.ndarray] | None = None  # (inputs, labels) no run trains on

    def sized(self, config: GPTConfig) -> GPTConfig:
        """``config`` with as many outputs as these windows' vocabulary has."""
        if self.vocabulary is None:
            return config
        return dataclasses.replace(config, vocab_size=self.vocabulary.size)


def frame(
    ids: np.ndarray, recipe: Recipe = BLOG, trim_vocabulary: bool = False, held_out: float = 0.0
) -> Windows:
    """The seed's windows of ``ids``; ``trim_vocabulary`` renumbers them to the ids they
    use (the experiments' cost lever: a smaller output layer, the same label frequencies);
    ``held_out`` keeps that share of the text, at its end, apart as held-out windows."""
    cut = len(ids) - int(len(ids) * held_out)
    inputs, labels = seed_windows(ids[:cut], recipe)
    kept = seed_windows(ids[cut:], recipe) if held_out else None
    if not trim_vocabulary:
        return Windows(inputs, labels, PAD_ID, None, kept)
    streams = (inputs, labels, *(kept or ()))
    vocabulary = Vocabulary.used_by(
        *(stream.ravel() for stream in streams), always=(PAD_ID, START_ID, END_ID)
    )
    pad = int(vocabulary.compact(np.array([PAD_ID]))[0])
    if kept is not None:
        kept = tuple(vocabulary.compact(stream) for stream in kept)
    return Windows(vocabulary.compact(inputs), vocabulary.compact(labels), pad, vocabulary, kept)


def train_recipe(
    recipe: Recipe,
    config: GPTConfig,
    windows: Windows,
    steps: int,
    seed: int = 0,
    jit_compile: bool | str = True,
    probe_steps: tuple[int, ...] = (),
    callbacks: tuple[keras.callbacks.Callback, ...] = (),
) -> tuple[keras.Model, StepLog, LayerProbe]:
    """A fresh seed-style model trained ``steps`` batches with ``recipe``: the model, its
    step log, and the layer probe's measurements at ``probe_steps`` (gradients on the
    first batch, Adam's steps, the output change); ``callbacks`` also watch the training
    (a held-out evaluation, say). ``seed`` fixes the weights, the dropout and, if the
    recipe shuffles, the batch order."""
    keras.utils.set_random_seed(seed)
    model = build_blog_model(windows.sized(config), recipe)
    compile_blog_model(model, recipe, windows.pad_id, jit_compile, entropy=True)
    log = StepLog()
    probe_batch = (windows.inputs[:SEED_BATCH_SIZE], windows.labels[:SEED_BATCH_SIZE])
    probe = LayerProbe(
        probe_steps, probe_batch, model.loss, windows.pad_id, not recipe.softmax_output
    )
    model.fit(
        seed_dataset(windows.inputs, windows.labels, shuffle_seed=seed if recipe.shuffle else None),
        epochs=1,
        steps_per_epoch=steps,
        callbacks=[BatchMetrics(), log, probe, *callbacks],
        shuffle=False,  # the dataset orders its own batches
        verbose=0,
    )
    return model, log, probe
