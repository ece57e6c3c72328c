"""Supervised fine-tuning with L3 = L2 + λ·L1, and the classifier's scores (chapter 5).

The classifier (``gpt_lesson.gpt1.classifier``) gives P(y | x); its loss is L2 = -log P(y | x).
The paper also keeps the language-model loss L1 on the task's own text as an auxiliary
objective, so the model is trained on

    L3 = L2 + λ · L1        (λ = 0.5 in the paper),

through the same tied embedding W_e that pre-training used as its output layer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from gpt_lesson.gpt1.causal_lm import build_gpt
from gpt_lesson.gpt1.classifier import FineTuningClassifier, build_classifier
from gpt_lesson.gpt1.presets import Checkpoint
from gpt_lesson.optimization import StopAfter, make_optimizer, warmup_linear
from gpt_lesson.pretraining.objectives import (
    MaskedAccuracy,
    MaskedLMLoss,
    confusion_matrix,
    matthews_correlation,
)
from gpt_lesson.tasks.batches import Encoded, classification_dataset, pad_batch
from gpt_lesson.tasks.transformations import SPECIAL, SpecialIds, pad_and_extract

# --- Scores of a classifier -------------------------------------------------------------


def predict_probabilities(
    classifier: keras.Model, sequences: Sequence[np.ndarray], pad: int, batch_size: int = 128
) -> np.ndarray:
    """P(y | x) for every example, in the given order; batches of similar lengths."""
    order = np.argsort([np.shape(s)[-1] for s in sequences], kind="stable")
    parts = []
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        logits = classifier(pad_batch([sequences[i] for i in rows], pad), training=False)["label"]
        parts.append(ops.convert_to_numpy(ops.softmax(logits)))
    probabilities = np.zeros((len(sequences), parts[0].shape[1]), np.float32)
    probabilities[order] = np.concatenate(parts)
    return probabilities


def evaluate(classifier: keras.Model, data: Encoded, pad: int) -> dict:
    """MCC, accuracy, confusion matrix and the predictions of a classifier on ``data``."""
    probabilities = predict_probabilities(classifier, data.sequences, pad)
    predictions, classes = probabilities.argmax(axis=1), probabilities.shape[1]
    return {
        "mcc": float(matthews_correlation(data.labels, predictions, classes)),
        "accuracy": float(np.mean(predictions == data.labels)),
        "confusion": confusion_matrix(data.labels, predictions, classes).tolist(),
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
    # With ``pretrained``: how many blocks, from the bottom, keep their pre-trained weights
    # (the embeddings always do); the rest start from random weights. None: every block.
    transfer_blocks: int | None = None
    seed: int = 0
    max_steps: int | None = None  # stop early (quick runs); None: all epochs
    min_steps: int = 0  # more epochs, when a small training set would give fewer steps
    evaluations_per_epoch: int = 4  # points of the validation curve

    def __post_init__(self) -> None:
        if self.learning_rate <= 0 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError("learning_rate must be > 0, batch_size and epochs at least 1.")
        if self.lm_weight < 0:
            raise ValueError(f"lm_weight (λ) must be >= 0, got {self.lm_weight}.")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}.")


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
                "val_mcc": matthews_correlation(
                    self.data.labels, probabilities.argmax(axis=1), probabilities.shape[1]
                ),
            }
        )


@dataclass(frozen=True)
class FinetuneResult:
    """A fine-tuned classifier, its validation curve and how long it trained."""

    classifier: FineTuningClassifier  # its backbone and head: the fine-tuned model
    curve: list[dict]
    steps: int
    minutes: float


def starting_model(checkpoint: Checkpoint, config: FinetuneConfig) -> keras.Model:
    """A copy of the checkpoint's model, or the same architecture from random weights, or
    (``config.transfer_blocks``) its embeddings and lowest blocks on random upper blocks."""
    model = build_gpt(checkpoint.config)
    if not config.pretrained:
        return model
    if config.transfer_blocks is None:
        model.set_weights(checkpoint.model.get_weights())
        return model
    if not 0 <= config.transfer_blocks <= checkpoint.config.num_layers:
        raise ValueError(
            f"transfer_blocks must be in [0, {checkpoint.config.num_layers}], "
            f"got {config.transfer_blocks}."
        )
    names = ["embedding", *(f"decoder_{i}" for i in range(config.transfer_blocks))]
    for name in names:
        source = checkpoint.model.backbone.get_layer(name)
        model.backbone.get_layer(name).set_weights(source.get_weights())
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

    The labels are classes 0..K-1, any K of 2 or more (the head has K outputs).
    ``checkpoint`` must already hold every id of the data (see
    ``gpt_lesson.gpt1.classifier.extend_checkpoint``); it is not changed: training works on a
    copy of its weights. ``compiled`` pads each
    bucket to a fixed length and runs the step under XLA; on the CPUs measured so far it is
    no faster (``benchmarks/finetune_step.py``), so the default pads per batch, eagerly.
    """
    pad, extract = pad_and_extract(checkpoint, special)
    keras.utils.set_random_seed(config.seed)
    classes = max(2, int(max(train.labels.max(), validation.labels.max())) + 1)
    language_model = starting_model(checkpoint, config)
    classifier = build_classifier(
        language_model,
        checkpoint.config,
        extract,
        num_classes=classes,
        dropout=config.head_dropout,
        combine=train.combine,
    )
    dataset = classification_dataset(
        train, config.batch_size, pad, extract, True, config.seed, fixed_shapes=compiled
    )
    # Buckets fill differently every epoch, so the number of batches varies a little: fit
    # counts "epochs" of the first epoch's length over the repeated stream.
    steps_per_epoch = int(dataset.reduce(0, lambda count, _: count + 1))
    epochs = max(config.epochs, math.ceil(config.min_steps / steps_per_epoch))
    total = steps_per_epoch * epochs
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    classifier.compile(
        optimizer=make_optimizer(
            classifier, warmup_linear(config.learning_rate, config.warmup_fraction, total), config
        ),
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
    # evaluations_per_epoch points in each of config.epochs' worth of steps, however many run
    every = steps_per_epoch * epochs // (config.evaluations_per_epoch * config.epochs)
    curve = ValidationCurve(validation, pad, every)
    callbacks: list[keras.callbacks.Callback] = [curve]
    if config.max_steps is not None:
        callbacks.append(StopAfter(steps=config.max_steps))
    start = time.monotonic()
    classifier.fit(
        dataset.repeat(),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the dataset shuffles itself
    )
    minutes = (time.monotonic() - start) / 60.0
    return FinetuneResult(classifier, curve.points, curve.step, minutes)
