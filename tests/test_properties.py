"""Properties of the masked loss, for any logits, labels and padding (hypothesis).

The tokenizer's round trip (``decode(encode(s)) == s`` for any string) and the window and
shift pipeline (every token but the first is a label exactly once) are property tests
too; they live beside their examples in ``test_tokenizer.py`` and ``test_pipeline.py``.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gpt_lesson.pretraining.objectives import MaskedLMLoss, masked_lm_loss

VOCAB, PAD = 7, 6


@st.composite
def batches(draw):
    """(labels, logits): any shape up to 4 x 6, labels 0..6 with 6 the pad id."""
    batch, length = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    labels = draw(hnp.arrays(np.int32, (batch, length), elements=st.integers(0, VOCAB - 1)))
    logits = draw(
        hnp.arrays(np.float32, (batch, length, VOCAB), elements=st.floats(-20, 20, width=32))
    )
    return labels, logits


def numpy_loss(labels: np.ndarray, logits: np.ndarray) -> float:
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
    keep = labels != PAD
    return float(-(picked * keep).sum() / max(keep.sum(), 1))


@settings(max_examples=60, deadline=None)
@given(batches())
def test_loss_is_the_mean_nll_over_non_pad_labels(batch):
    labels, logits = batch
    expected = numpy_loss(labels, logits)
    assert float(masked_lm_loss(labels, logits, PAD)) == pytest.approx(expected, rel=1e-4, abs=1e-5)
    # The Keras loss (weighted per position, for tf.distribute) gives the same number.
    assert float(MaskedLMLoss(PAD)(labels, logits)) == pytest.approx(expected, rel=1e-4, abs=1e-5)


@settings(max_examples=40, deadline=None)
@given(batches(), st.floats(-50, 50))
def test_logits_at_pad_labels_and_a_shift_of_all_logits_do_not_matter(batch, shift):
    labels, logits = batch
    loss = float(masked_lm_loss(labels, logits, PAD))
    changed = logits + np.float32(shift)  # softmax is invariant to a common shift
    changed[labels == PAD] = 0.0  # and the loss never reads pad positions
    assert float(masked_lm_loss(labels, changed, PAD)) == pytest.approx(loss, rel=1e-4, abs=1e-4)
    assert loss >= 0.0


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 6))
def test_all_pad_batches_cost_nothing_and_uniform_logits_cost_ln_vocab(batch, length):
    pads = np.full((batch, length), PAD, np.int32)
    logits = np.zeros((batch, length, VOCAB), np.float32)
    assert float(masked_lm_loss(pads, logits, PAD)) == 0.0
    labels = np.zeros((batch, length), np.int32)
    assert float(masked_lm_loss(labels, logits, PAD)) == pytest.approx(np.log(VOCAB), rel=1e-6)
