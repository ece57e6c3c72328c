"""The masked LM loss and its reports, checked against NumPy computed by hand."""

import math

import keras
import numpy as np
import pytest

from gpt_lesson.pretraining.objectives import (
    MaskedAccuracy,
    MaskedLMLoss,
    bits_per_character,
    masked_accuracy,
    masked_lm_loss,
    perplexity,
)

PAD = 9


def numpy_masked_nll(labels: np.ndarray, logits: np.ndarray, pad_id: int) -> float:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
    keep = labels != pad_id
    return float(-(picked * keep).sum() / keep.sum())


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 10)).astype("float32") * 3
    labels = rng.integers(0, 9, (3, 5)).astype("int32")
    labels[2, 3:] = PAD
    return labels, logits


def test_loss_matches_numpy_and_ignores_pad(batch):
    labels, logits = batch
    expected = numpy_masked_nll(labels, logits, PAD)
    assert float(masked_lm_loss(labels, logits, PAD)) == pytest.approx(expected, rel=1e-5)
    assert float(MaskedLMLoss(PAD)(labels, logits)) == pytest.approx(expected, rel=1e-5)
    changed = logits.copy()
    changed[2, 3:] += 100.0  # logits at pad labels must not matter
    assert float(masked_lm_loss(labels, changed, PAD)) == pytest.approx(expected, rel=1e-5)


def test_keras_ignore_class_loss_is_the_same_loss(batch):
    """Keras' own masked cross-entropy gives the same value as the book's two forms."""
    labels, logits = batch
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD)
    assert float(keras_loss(labels, logits)) == pytest.approx(
        float(masked_lm_loss(labels, logits, PAD)), rel=1e-6
    )
    assert float(keras_loss(labels, logits)) == pytest.approx(
        float(MaskedLMLoss(PAD)(labels, logits)), rel=1e-6
    )


def test_uniform_logits_cost_ln_vocab():
    labels = np.array([[1, 2, 3]], dtype="int32")
    logits = np.zeros((1, 3, 50_260), dtype="float32")
    assert float(masked_lm_loss(labels, logits, PAD)) == pytest.approx(math.log(50_260))


def test_accuracy_counts_hits_among_non_pad(batch):
    labels, logits = batch
    keep = labels != PAD
    expected = ((logits.argmax(-1) == labels) & keep).sum() / keep.sum()
    assert float(masked_accuracy(labels, logits, PAD)) == pytest.approx(expected)
    metric = MaskedAccuracy(PAD)
    metric.update_state(labels, logits)
    assert float(metric.result()) == pytest.approx(expected)


def test_perplexity_and_bits_per_character():
    assert perplexity(math.log(7.0)) == pytest.approx(7.0)
    assert bits_per_character(total_nats=100 * math.log(2), num_characters=50) == pytest.approx(2.0)
