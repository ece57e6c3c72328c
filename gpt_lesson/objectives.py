"""The language-modelling objective L1 and the numbers that report it.

The model outputs logits z; the probability of the next token v is softmax(z)_v. The
loss is the mean negative log-likelihood, in nats, of each label given its context,
over the positions whose label is not padding. Minimising it maximises L1 (chapter 3).
"""

from __future__ import annotations

import math

import keras
from keras import ops


def masked_lm_loss(labels, logits, pad_id: int):
    """Mean -log p(label | context) in nats over the positions whose label is not ``pad_id``."""
    nll = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    mask = ops.cast(ops.not_equal(labels, pad_id), nll.dtype)
    return ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)


def masked_accuracy(labels, logits, pad_id: int):
    """Fraction of non-pad positions where the most likely token is the label."""
    predictions = ops.cast(ops.argmax(logits, axis=-1), labels.dtype)
    mask = ops.cast(ops.not_equal(labels, pad_id), "float32")
    hits = ops.cast(ops.equal(predictions, labels), "float32") * mask
    return ops.sum(hits) / ops.maximum(ops.sum(mask), 1.0)


class MaskedLMLoss(keras.losses.Loss):
    """``masked_lm_loss`` as a Keras loss, for ``model.compile``."""

    def __init__(self, pad_id: int, name: str = "masked_lm_loss") -> None:
        super().__init__(name=name, reduction="sum_over_batch_size")
        self.pad_id = pad_id

    def call(self, y_true, y_pred):
        return masked_lm_loss(y_true, y_pred, self.pad_id)

    def get_config(self) -> dict:
        return {"pad_id": self.pad_id, "name": self.name}


class MaskedAccuracy(keras.metrics.MeanMetricWrapper):
    """``masked_accuracy`` as a Keras metric, averaged over batches."""

    def __init__(self, pad_id: int, name: str = "masked_accuracy") -> None:
        super().__init__(fn=masked_accuracy, name=name, pad_id=pad_id)
        self.pad_id = pad_id

    def get_config(self) -> dict:
        return {"pad_id": self.pad_id, "name": self.name}


def perplexity(loss_nats: float) -> float:
    """exp(loss): the number of equally likely tokens the model is as unsure as."""
    return math.exp(loss_nats)


def bits_per_character(total_nats: float, num_characters: int) -> float:
    """Total nats over a text's tokens / its characters / ln 2: comparable across tokenizers."""
    return total_nats / num_characters / math.log(2)
