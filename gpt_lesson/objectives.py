"""The language-modelling objective L1 and the numbers that report it.

The model outputs logits z; the probability of the next token v is softmax(z)_v. The
loss is the mean negative log-likelihood, in nats, of each label given its context,
over the positions whose label is not padding. Minimising it maximises L1 (chapter 3).
For fine-tuning (chapter 5): the confusion matrix and the Matthews correlation.
"""

from __future__ import annotations

import math

import keras
import numpy as np
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
        # One value per position, weighted so that Keras' "sum over batch size" reduction
        # gives the masked mean. (Returning the mean itself, a scalar, would skip the
        # division by the number of replicas Keras makes under tf.distribute, and two
        # replicas would then take steps on twice the gradient.)
        nll = ops.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), nll.dtype)
        positions = ops.cast(ops.size(mask), nll.dtype)
        return nll * mask * positions / ops.maximum(ops.sum(mask), 1.0)

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


def confusion_matrix(labels, predictions, num_classes: int = 2) -> np.ndarray:
    """Counts ``matrix[true, predicted]``: row = the label, column = the model's answer."""
    labels, predictions = np.asarray(labels, dtype=int), np.asarray(predictions, dtype=int)
    if labels.shape != predictions.shape:
        raise ValueError(f"{labels.shape} labels but {predictions.shape} predictions.")
    if labels.size and (
        min(labels.min(), predictions.min()) < 0
        or max(labels.max(), predictions.max()) >= num_classes
    ):
        raise ValueError(f"labels and predictions must lie in 0..{num_classes - 1}.")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def matthews_correlation(labels, predictions) -> float:
    """Matthews correlation coefficient of binary predictions (GLUE's metric for CoLA).

    MCC = (TP·TN − FP·FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)), in [−1, 1]: 1 is perfect,
    0 is no better than chance, whatever the class balance. When a factor of the
    denominator is 0 (e.g. every prediction is one class) the correlation is undefined
    and, as in scikit-learn, reported as 0 instead of NaN.
    """
    (tn, fp), (fn, tp) = confusion_matrix(labels, predictions, num_classes=2).astype(float)
    denominator = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if denominator == 0 else float((tp * tn - fp * fn) / denominator)
