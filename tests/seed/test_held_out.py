"""Held-out evaluation: every run judged on the same text, at the same steps."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gpt_lesson.config import GPTConfig
from gpt_lesson.data import read_text
from gpt_lesson.seed import blog, held_out

CONFIG = GPTConfig(
    sequence_length=64, hidden_dim=16, num_layers=1, num_heads=2, intermediate_dim=16
)


@pytest.fixture(scope="module")
def seed_ids() -> np.ndarray:
    return blog.seed_token_ids(read_text("shakespeare"))[:20_000]


def test_held_out_windows_come_from_the_end_of_the_text_and_share_its_vocabulary(seed_ids):
    windows = blog.frame(seed_ids, trim_vocabulary=True, held_out=0.1)
    everything = blog.frame(seed_ids, trim_vocabulary=False, held_out=0.1)
    inputs, labels = everything.held_out
    cut = len(seed_ids) - 2_000
    tail, _ = blog.seed_windows(seed_ids[cut:])
    np.testing.assert_array_equal(inputs, tail)  # the last tenth, framed on its own
    trained, _ = blog.seed_windows(seed_ids[:cut])
    np.testing.assert_array_equal(everything.inputs, trained)  # no held-out token trained on
    compact_inputs, compact_labels = windows.held_out
    np.testing.assert_array_equal(windows.vocabulary.expand(compact_labels), labels)
    assert compact_inputs.max() < windows.vocabulary.size
    assert blog.frame(seed_ids).held_out is None


def test_evaluation_steps_are_regular_dense_at_the_start_and_end_at_the_run_s_end():
    assert held_out.evaluation_steps(350, 100) == (0, 10, 20, 50, 100, 200, 300, 350)
    assert held_out.evaluation_steps(12, 4) == (0, 4, 8, 10, 12)


def test_the_evaluation_matches_a_direct_computation_at_each_chosen_step(seed_ids):
    windows = blog.frame(seed_ids, trim_vocabulary=True, held_out=0.1)
    inputs, labels = windows.held_out
    evaluation = held_out.HeldOutEvaluation(
        (0, 3), inputs, labels, windows.pad_id, from_logits=False, batch_size=7
    )
    model, _, _ = blog.train_recipe(
        blog.BLOG, CONFIG, windows, steps=3, jit_compile=False, callbacks=(evaluation,)
    )
    record = evaluation.record()
    assert record["steps"] == [0, 3]
    assert record["entropy"][0] == pytest.approx(np.log(windows.vocabulary.size), abs=0.05)
    probabilities = model.predict(inputs, verbose=0)  # the model after its 3 steps
    keep = labels != windows.pad_id
    picked = np.take_along_axis(probabilities, labels[..., None], axis=-1)[..., 0]
    predicted = probabilities.argmax(-1)
    ids, counts = np.unique(labels[keep], return_counts=True)
    assert record["loss"][1] == pytest.approx(-np.log(picked[keep]).mean(), rel=1e-4)
    assert record["accuracy"][1] == pytest.approx((predicted == labels)[keep].mean(), abs=1e-6)
    majority = ids[counts.argmax()]
    assert record["predicts_majority"][1] == pytest.approx(
        (predicted == majority)[keep].mean(), abs=1e-6
    )
    entropy = -(probabilities * np.log(np.maximum(probabilities, 1e-30))).sum(-1)
    assert record["entropy"][1] == pytest.approx(entropy[keep].mean(), rel=1e-4)


def test_a_model_that_predicts_one_token_is_judged_by_the_held_out_labels_alone():
    labels = np.array([[1, 1, 2, 3, 9, 9]])
    inputs = np.zeros_like(labels)
    one_token = keras.Sequential(
        [keras.Input((None,), dtype="int32"), keras.layers.Embedding(10, 10)]
    )
    one_token.layers[0].embeddings.assign(tf.one_hot(tf.fill([10], 1), 10) * 20.0)
    evaluation = held_out.HeldOutEvaluation((0,), inputs, labels, pad_id=9, from_logits=True)
    evaluation.set_model(one_token)
    evaluation.on_train_begin()
    evaluation.evaluate(0)
    record = evaluation.record()
    assert record["accuracy"] == [pytest.approx(0.5)]  # two of the four labels are 1
    assert record["predicts_majority"] == [pytest.approx(1.0)]
