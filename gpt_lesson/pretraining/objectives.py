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


def token_nll(labels, logits, pad_id: int):
    """Per position, -log p(label | context) in nats where the label is not ``pad_id`` (0
    where it is), and the mask (1 or 0): every loss and score of the book is built on it."""
    nll = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    mask = ops.cast(ops.not_equal(labels, pad_id), nll.dtype)
    return nll * mask, mask


def masked_lm_loss(labels, logits, pad_id: int):
    """Mean -log p(label | context) in nats over the positions whose label is not ``pad_id``.

    Keras' ``SparseCategoricalCrossentropy(from_logits=True, ignore_class=pad_id)`` gives
    the same value (``tests/pretraining/test_objectives.py``)."""
    nll, mask = token_nll(labels, logits, pad_id)
    return ops.sum(nll) / ops.maximum(ops.sum(mask), 1.0)


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
        nll, mask = token_nll(y_true, y_pred, self.pad_id)
        positions = ops.cast(ops.size(mask), nll.dtype)
        return nll * positions / ops.maximum(ops.sum(mask), 1.0)

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


def matthews_correlation(labels, predictions, num_classes: int = 2) -> float:
    """Matthews correlation coefficient of class predictions (GLUE's metric for CoLA).

    For two classes MCC = (TP·TN − FP·FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)), in [−1, 1]:
    1 is perfect, 0 is no better than chance, whatever the class balance. For K classes,
    Gorodkin's R_K from the confusion matrix C (s samples, c right, t_k true and p_k
    predicted of class k): (c·s − Σ p_k t_k) / sqrt((s² − Σ p_k²)(s² − Σ t_k²)), which is the
    same number for K = 2. When a factor of the denominator is 0 (e.g. every prediction is
    one class) the correlation is undefined and, as in scikit-learn, reported as 0.
    """
    matrix = confusion_matrix(labels, predictions, num_classes).astype(float)
    true, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    samples, right = matrix.sum(), np.trace(matrix)
    denominator = math.sqrt((samples**2 - predicted @ predicted) * (samples**2 - true @ true))
    return 0.0 if denominator == 0 else float((right * samples - predicted @ true) / denominator)
