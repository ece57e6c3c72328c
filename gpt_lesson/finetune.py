"""Supervised fine-tuning: input transformations, the classification head and L3 (chapter 5).

GPT-1's second stage keeps the pre-trained Transformer and adds one linear layer W_y that
reads the final hidden state h at a special *extract* token: P(y | x) = softmax(h W_y).
Its loss is L2 = -log P(y | x). The paper also keeps the language-model loss L1 on the
task's own text as an auxiliary objective, so the model is trained on

    L3 = L2 + λ · L1        (λ = 0.5 in the paper),

through the same tied embedding W_e that pre-training used as its output layer.

Tasks whose input is not one text are turned into token sequences the model can read
(the paper's *input transformations*): every sequence starts with a start token and ends
with the extract token, and two texts are joined by a delimiter token.

Ids here are GPT-2's, extended by one new id, the delimiter (50,260). The start token is
the seed's ``<|start|>`` and the extract token its ``<|end|>`` (the paper's Figure 1 calls
its end token "Extract"); neither appears in pre-training, and like the delimiter they
get fresh N(0, 0.02) embeddings when a checkpoint is extended (:func:`extend_checkpoint`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from gpt_lesson import pipeline
from gpt_lesson.config import GPTConfig
from gpt_lesson.model import build_gpt
from gpt_lesson.objectives import (
    MaskedAccuracy,
    MaskedLMLoss,
    confusion_matrix,
    matthews_correlation,
)
from gpt_lesson.tokenizer import SPECIAL_TOKENS
from gpt_lesson.train import Checkpoint
from gpt_lesson.vocabulary import Vocabulary


@dataclass(frozen=True)
class SpecialIds:
    """The tokens the transformations add, as GPT-2 ids (extended by the delimiter)."""

    start: int = SPECIAL_TOKENS["<|start|>"]
    delimiter: int = 50_260
    extract: int = SPECIAL_TOKENS["<|end|>"]
    pad: int = SPECIAL_TOKENS["<|pad|>"]
    unknown: int = 50_261  # only where a task maps unseen tokens to one id (chapter 5, ex. 4)

    @property
    def fresh(self) -> tuple[int, ...]:
        """The ids whose embeddings fine-tuning initialises anew (never seen in pre-training)."""
        return (self.start, self.delimiter, self.extract)


SPECIAL = SpecialIds()


# --- Input transformations (the paper's Figure 1, right) -------------------------------


def classification_input(
    text: Sequence[int], special: SpecialIds = SPECIAL, max_length: int | None = None
) -> list[int]:
    """start, text, extract; a text too long for ``max_length`` ids keeps its beginning."""
    if max_length is not None:
        if max_length < 3:
            raise ValueError(f"max_length must leave room for one token, got {max_length}.")
        text = text[: max_length - 2]
    return [special.start, *text, special.extract]


def entailment_input(
    premise: Sequence[int], hypothesis: Sequence[int], special: SpecialIds = SPECIAL
) -> list[int]:
    """start, premise, delimiter, hypothesis, extract: one sequence, one prediction."""
    return [special.start, *premise, special.delimiter, *hypothesis, special.extract]


def similarity_inputs(
    first: Sequence[int], second: Sequence[int], special: SpecialIds = SPECIAL
) -> tuple[list[int], list[int]]:
    """Both orders, since similarity has none: the paper adds the two final hidden
    states element-wise before the linear layer."""
    return entailment_input(first, second, special), entailment_input(second, first, special)


def multiple_choice_inputs(
    context: Sequence[int], answers: Sequence[Sequence[int]], special: SpecialIds = SPECIAL
) -> list[list[int]]:
    """One sequence per answer, start, context, delimiter, answer, extract; the paper
    scores each with the linear layer and takes a softmax over the answers."""
    if not answers:
        raise ValueError("multiple_choice_inputs needs at least one answer.")
    return [entailment_input(context, answer, special) for answer in answers]


def language_model_labels(sequence: np.ndarray, extract: int, pad: int) -> np.ndarray:
    """Next-token labels for L1 on the text: position i predicts token i+1; the special
    tokens are not text, so predicting the extract token (and anything after) is masked."""
    labels = np.append(np.asarray(sequence[1:]), pad).astype(np.int32)
    labels[labels == extract] = pad
    return labels


# --- The vocabulary, grown by the task's tokens ----------------------------------------


def extend_checkpoint(
    checkpoint: Checkpoint, new_gpt2_ids: Sequence[int], special: SpecialIds = SPECIAL, seed=0
) -> tuple[Checkpoint, int]:
    """The checkpoint with output units for ``new_gpt2_ids`` and the special tokens too.

    Every weight is copied, except the embedding rows of ids the checkpoint lacked and of
    the special tokens, which are drawn from N(0, 0.02) like the model's own
    initialisation. Returns the new checkpoint and how many ids were added.
    """
    config = checkpoint.config
    old_ids = (
        checkpoint.vocabulary.gpt2_ids
        if checkpoint.vocabulary is not None
        else tuple(range(config.vocab_size))
    )
    vocabulary = Vocabulary(tuple(sorted({*old_ids, *map(int, new_gpt2_ids), *special.fresh})))
    grown = GPTConfig(**{**config.__dict__, "vocab_size": vocabulary.size})
    model = build_gpt(grown)
    for layer in checkpoint.model.layers:
        if layer.weights and layer.name not in ("embedding", "token_embedding"):
            model.get_layer(layer.name).set_weights(layer.get_weights())

    old_tokens, positions = checkpoint.model.get_layer("embedding").get_weights()
    rng = np.random.default_rng(seed)
    tokens = rng.normal(0.0, config.initializer_range, (vocabulary.size, config.hidden_dim))
    kept = np.setdiff1d(np.asarray(old_ids), np.asarray(special.fresh))
    tokens[vocabulary.compact(kept)] = old_tokens[np.searchsorted(np.asarray(old_ids), kept)]
    model.get_layer("embedding").set_weights([tokens.astype(old_tokens.dtype), positions])
    return Checkpoint(model, grown, vocabulary), vocabulary.size - len(old_ids)


# --- The classifier: W_y on the hidden state at the extract token -----------------------


class ExtractState(keras.layers.Layer):
    """The hidden state at the (first) extract token of each sequence: (batch, d)."""

    def __init__(self, extract_id: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.extract_id = extract_id

    def call(self, hidden, token_ids):
        is_extract = ops.cast(ops.equal(token_ids, self.extract_id), "int32")
        position = ops.one_hot(ops.argmax(is_extract, axis=1), ops.shape(token_ids)[1])
        return ops.einsum("bt,btd->bd", ops.cast(position, hidden.dtype), hidden)

    def get_config(self) -> dict:
        return {**super().get_config(), "extract_id": self.extract_id}


def final_hidden_layer(config: GPTConfig) -> str:
    """The layer whose output feeds W_e: the final layer norm (pre-LN) or the last block."""
    return "final_layer_norm" if config.normalize_first else f"decoder_{config.num_layers - 1}"


def build_classifier(
    language_model: keras.Model,
    config: GPTConfig,
    extract_id: int,
    num_classes: int = 2,
    dropout: float = 0.1,
) -> keras.Model:
    """ids -> {"label": class logits (batch, classes), "lm": LM logits (batch, seq, V)}.

    The head is dropout then a linear layer W_y initialised N(0, 0.02); the LM logits are
    the pre-trained model's own, through the tied embedding W_e, for the auxiliary L1.
    """
    token_ids = language_model.input
    hidden = language_model.get_layer(final_hidden_layer(config)).output
    state = ExtractState(extract_id, name="extract_state")(hidden, token_ids)
    state = keras.layers.Dropout(dropout, name="head_dropout")(state)
    class_logits = keras.layers.Dense(
        num_classes,
        kernel_initializer=keras.initializers.RandomNormal(stddev=config.initializer_range),
        name="classification_head",
    )(state)
    outputs = {"label": class_logits, "lm": language_model.output}
    return keras.Model(token_ids, outputs, name="gpt_classifier")


# --- Data: short sentences, padded per batch -------------------------------------------


@dataclass(frozen=True)
class Encoded:
    """Transformed sequences (model ids, without padding) and their labels."""

    sequences: tuple[np.ndarray, ...]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.sequences)


BUCKET_WIDTH = 8


def bucket_boundaries(max_length: int, width: int = BUCKET_WIDTH) -> list[int]:
    """Upper length limits of the buckets: 9, 17, 25, ... up to ``max_length``."""
    return list(range(width + 1, max_length + 1, width))


def classification_dataset(
    data: Encoded,
    batch_size: int,
    pad: int,
    extract: int,
    shuffle: bool,
    seed: int = 0,
    fixed_shapes: bool = False,
) -> tf.data.Dataset:
    """Batches of (ids, {"label", "lm"}) with sequences of similar length together.

    ``bucket_by_sequence_length`` pads each batch only to its longest sequence, so the
    few long sentences do not make every batch long: dynamic padding. With
    ``fixed_shapes``, every batch of a bucket is padded to the bucket's limit instead,
    so that XLA compiles one program per bucket (the batches are the same ones).
    """
    labels_lm = [language_model_labels(s, extract, pad) for s in data.sequences]

    def examples():
        for ids, label, lm in zip(data.sequences, data.labels, labels_lm, strict=True):
            yield ids, {"label": np.int32(label), "lm": lm}

    signature = (
        tf.TensorSpec((None,), tf.int32),
        {"label": tf.TensorSpec((), tf.int32), "lm": tf.TensorSpec((None,), tf.int32)},
    )
    dataset = tf.data.Dataset.from_generator(examples, output_signature=signature).cache()
    if shuffle:
        dataset = dataset.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    longest = max(len(s) for s in data.sequences)
    # Padding to a limit needs one above the longest sequence (and gives the same buckets).
    boundaries = bucket_boundaries(longest + (BUCKET_WIDTH if fixed_shapes else 0))
    dataset = dataset.bucket_by_sequence_length(
        element_length_func=lambda ids, targets: tf.shape(ids)[0],
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padding_values=(pad, {"label": 0, "lm": pad}),
        pad_to_bucket_boundary=fixed_shapes,
    )
    return pipeline.prefetched(dataset)


def pad_batch(sequences: Sequence[np.ndarray], pad: int) -> np.ndarray:
    """Sequences right-padded with ``pad`` to the longest of them."""
    batch = np.full((len(sequences), max(len(s) for s in sequences)), pad, dtype=np.int32)
    for row, sequence in enumerate(sequences):
        batch[row, : len(sequence)] = sequence
    return batch


def predict_probabilities(
    classifier: keras.Model, sequences: Sequence[np.ndarray], pad: int, batch_size: int = 128
) -> np.ndarray:
    """P(y | x) for every sequence, in the given order; batches of similar lengths."""
    order = np.argsort([len(s) for s in sequences], kind="stable")
    probabilities = np.zeros((len(sequences), classifier.output["label"].shape[-1]), np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        logits = classifier(pad_batch([sequences[i] for i in rows], pad), training=False)["label"]
        probabilities[rows] = ops.convert_to_numpy(ops.softmax(logits))
    return probabilities


def evaluate(classifier: keras.Model, data: Encoded, pad: int) -> dict:
    """MCC, accuracy, confusion matrix and the predictions of a classifier on ``data``."""
    predictions = predict_probabilities(classifier, data.sequences, pad).argmax(axis=1)
    return {
        "mcc": float(matthews_correlation(data.labels, predictions)),
        "accuracy": float(np.mean(predictions == data.labels)),
        "confusion": confusion_matrix(data.labels, predictions).tolist(),
        "predictions": predictions.tolist(),
    }


# --- Training: AdamW, warmup then linear decay, L3 --------------------------------------


@dataclass(frozen=True)
class FinetuneConfig:
    """How to fine-tune: the paper's choices (section 4.1) unless a comment says otherwise."""

    learning_rate: float = 6.25e-5
    batch_size: int = 32
    epochs: int = 3
    warmup_fraction: float = 0.002  # linear warmup over 0.2% of the steps, then linear decay
    lm_weight: float = 0.5  # λ in L3 = L2 + λ·L1
    head_dropout: float = 0.1
    weight_decay: float = 0.01  # as in pre-training
    clipnorm: float = 1.0  # as in chapter 3's pre-training
    pretrained: bool = True  # False: the same model from random weights (the ablation's "a")
    seed: int = 0
    max_steps: int | None = None  # stop early (quick runs); None: all epochs
    evaluations_per_epoch: int = 4  # points of the validation curve

    def __post_init__(self) -> None:
        if self.learning_rate <= 0 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError("learning_rate must be > 0, batch_size and epochs at least 1.")
        if self.lm_weight < 0:
            raise ValueError(f"lm_weight (λ) must be >= 0, got {self.lm_weight}.")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}.")


class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """0 -> peak linearly over ``warmup_steps``, then linearly down to 0 at ``total_steps``."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int) -> None:
        self.peak, self.warmup_steps, self.total_steps = peak, warmup_steps, total_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = self.peak * step / max(self.warmup_steps, 1)
        remaining = (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1)
        return ops.where(step < self.warmup_steps, warmup, self.peak * ops.maximum(remaining, 0.0))

    def get_config(self) -> dict:
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
        }


class ValidationCurve(keras.callbacks.Callback):
    """Every ``every`` steps, records the step, the running training losses L2 and L1 and
    the validation MCC and L2, so short runs still get a curve."""

    def __init__(self, data: Encoded, pad: int, every: int) -> None:
        super().__init__()
        self.data, self.pad, self.every = data, pad, max(every, 1)
        self.points: list[dict] = []
        self.step, self.logs = 0, {}

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step, self.logs = self.step + 1, logs or {}
        if self.step % self.every == 0:
            self.record(self.logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        if not self.points or self.points[-1]["step"] != self.step:
            self.record(self.logs)  # the end of training, if it fell between two points

    def record(self, logs: dict) -> None:
        probabilities = predict_probabilities(self.model, self.data.sequences, self.pad)
        picked = probabilities[np.arange(len(self.data)), self.data.labels]
        self.points.append(
            {
                "step": self.step,
                "train_l2": float(logs.get("label_loss", math.nan)),
                "train_l1": float(logs.get("lm_loss", math.nan)),
                "val_l2": float(-np.mean(np.log(np.maximum(picked, 1e-12)))),
                "val_mcc": matthews_correlation(self.data.labels, probabilities.argmax(axis=1)),
            }
        )


class StepLimit(keras.callbacks.Callback):
    """Stops training after ``steps`` batches (for quick runs)."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps, self.done = steps, 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.done += 1
        if self.done >= self.steps:
            self.model.stop_training = True


def make_optimizer(model: keras.Model, config: FinetuneConfig, total_steps: int):
    """AdamW on the warmup + linear-decay schedule; no decay on vectors; clipped gradients."""
    warmup = max(1, math.ceil(config.warmup_fraction * total_steps))
    optimizer = keras.optimizers.AdamW(
        learning_rate=WarmupLinearDecay(config.learning_rate, warmup, total_steps),
        weight_decay=config.weight_decay,
        clipnorm=config.clipnorm,
    )
    optimizer.exclude_from_weight_decay(
        var_list=[v for v in model.trainable_variables if len(v.shape) < 2]
    )
    return optimizer


@dataclass(frozen=True)
class FinetuneResult:
    """A fine-tuned classifier, its validation curve and how long it trained."""

    classifier: keras.Model
    curve: list[dict]
    steps: int
    minutes: float


def starting_model(checkpoint: Checkpoint, config: FinetuneConfig) -> keras.Model:
    """A copy of the checkpoint's model, or the same architecture from random weights."""
    model = build_gpt(checkpoint.config)
    if config.pretrained:
        model.set_weights(checkpoint.model.get_weights())
    return model


def finetune(
    checkpoint: Checkpoint,
    train: Encoded,
    validation: Encoded,
    config: FinetuneConfig,
    special: SpecialIds = SPECIAL,
    verbose: int | str = 0,
    compiled: bool = False,
) -> FinetuneResult:
    """Train a classifier on ``train`` with L3 = L2 + λ·L1, recording a validation curve.

    ``checkpoint`` must already hold every id of the data (see :func:`extend_checkpoint`);
    it is not changed: training works on a copy of its weights. ``compiled`` pads each
    bucket to a fixed length and runs the step under XLA; on the CPUs measured so far it is
    no faster (``benchmarks/finetune_step.py``), so the default pads per batch, eagerly.
    """
    pad, extract = (int(i) for i in checkpoint.to_model_ids([special.pad, special.extract]))
    keras.utils.set_random_seed(config.seed)
    classifier = build_classifier(
        starting_model(checkpoint, config), checkpoint.config, extract, dropout=config.head_dropout
    )
    dataset = classification_dataset(
        train, config.batch_size, pad, extract, True, config.seed, fixed_shapes=compiled
    )
    # Buckets fill differently every epoch, so the number of batches varies a little: fit
    # counts "epochs" of the first epoch's length over the repeated stream.
    steps_per_epoch = int(dataset.reduce(0, lambda count, _: count + 1))
    total = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    classifier.compile(
        optimizer=make_optimizer(classifier, config, total),
        loss={
            "label": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "lm": MaskedLMLoss(pad),
        },
        loss_weights={"label": 1.0, "lm": config.lm_weight},
        # With a metric per output, Keras also logs each output's loss: label_loss (L2)
        # and lm_loss (L1, logged even when λ = 0).
        metrics={
            "label": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            "lm": [MaskedAccuracy(pad)],
        },
        jit_compile=compiled,  # without fixed shapes, XLA would compile every new shape
    )
    curve = ValidationCurve(validation, pad, steps_per_epoch // config.evaluations_per_epoch)
    callbacks: list[keras.callbacks.Callback] = [curve]
    if config.max_steps is not None:
        callbacks.append(StepLimit(config.max_steps))
    start = time.monotonic()
    classifier.fit(
        dataset.repeat(),
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the dataset shuffles itself
    )
    minutes = (time.monotonic() - start) / 60.0
    return FinetuneResult(classifier, curve.points, curve.step, minutes)


# --- Zero-shot: the pre-trained LM alone ------------------------------------------------


def mean_log_probabilities(
    language_model: keras.Model, data: Encoded, extract: int, pad: int, batch_size: int = 128
) -> np.ndarray:
    """Each sequence's average log-probability per text token under the language model
    (nats): the paper's zero-shot score for CoLA, higher for likelier sentences."""
    scores = np.zeros(len(data), np.float32)
    order = np.argsort([len(s) for s in data.sequences], kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids = pad_batch([data.sequences[i] for i in rows], pad)
        labels = pad_batch(
            [language_model_labels(data.sequences[i], extract, pad) for i in rows], pad
        )
        log_probabilities = ops.log_softmax(language_model(ids, training=False), axis=-1)
        picked = np.take_along_axis(
            ops.convert_to_numpy(log_probabilities), labels[..., None], axis=-1
        )[..., 0]
        mask = labels != pad
        scores[rows] = (picked * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
    return scores


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold t maximising the MCC of "acceptable (1) when score > t" on these labels.

    Candidates are the midpoints between consecutive distinct scores; the confusion
    counts of all of them come from one sort, so this is fast for thousands of scores.
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    distinct = np.unique(scores)
    if len(distinct) < 2:
        return float(distinct[0]) if len(distinct) else 0.0
    cuts = (distinct[:-1] + distinct[1:]) / 2
    positives, negatives = np.sort(scores[labels == 1]), np.sort(scores[labels == 0])
    tp = len(positives) - np.searchsorted(positives, cuts, side="right")
    fp = len(negatives) - np.searchsorted(negatives, cuts, side="right")
    fn, tn = len(positives) - tp, len(negatives) - fp
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn).astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        mcc = np.where(denominator > 0, (tp * tn - fp * fn) / denominator, 0.0)
    return float(cuts[int(np.argmax(mcc))])
