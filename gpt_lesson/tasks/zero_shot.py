"""Zero-shot CoLA: the pre-trained language model alone, with no fine-tuning (chapter 5).

The paper's heuristic: a sentence is acceptable when its average token log-probability
under the language model exceeds a threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from gpt_lesson.pretraining.objectives import token_nll
from gpt_lesson.tasks.batches import Encoded, pad_batch
from gpt_lesson.tasks.transformations import language_model_labels


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
        nll, mask = token_nll(labels, language_model(ids, training=False), pad)
        nll, mask = ops.convert_to_numpy(nll), ops.convert_to_numpy(mask)
        scores[rows] = -nll.sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
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


def continuation_log_probabilities(
    language_model: keras.Model,
    contexts: Sequence[Sequence[int]],
    continuations: Sequence[Sequence[int]],
    pad: int,
    batch_size: int = 128,
) -> np.ndarray:
    """For each pair, the average log-probability per token (nats) of the continuation's
    tokens given the context before them: the paper's zero-shot score for a candidate
    answer (Story Cloze, chapter 6). Each context holds at least one token."""
    if any(len(context) < 1 for context in contexts):
        raise ValueError("every context needs at least one token to condition on")
    rows = [
        np.asarray([*c, *t], dtype=np.int32) for c, t in zip(contexts, continuations, strict=True)
    ]
    scores = np.zeros(len(rows), np.float32)
    order = np.argsort([len(r) for r in rows], kind="stable")
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        ids = pad_batch([rows[i][:-1] for i in chosen], pad)
        labels = np.full_like(ids, pad)
        for row, i in enumerate(chosen):
            first = (
                len(contexts[i]) - 1
            )  # the position that predicts the continuation's first token
            labels[row, first : len(rows[i]) - 1] = rows[i][first + 1 :]
        nll, mask = token_nll(labels, language_model(ids, training=False), pad)
        nll, mask = ops.convert_to_numpy(nll), ops.convert_to_numpy(mask)
        scores[chosen] = -nll.sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
    return scores
