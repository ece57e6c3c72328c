"""Every diagnostic passes on a healthy case and fails on the fault it is meant to find."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from gpt_lesson import blog, diagnostics
from gpt_lesson.config import GPTConfig
from gpt_lesson.objectives import masked_accuracy

PAD = 9
TINY = GPTConfig(
    vocab_size=10, sequence_length=8, hidden_dim=16, num_layers=2, num_heads=2, intermediate_dim=32
)


def windows(count: int = 4, length: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    ids = np.random.default_rng(seed).integers(0, PAD, size=count * (length + 1))
    framed = ids.reshape(count, length + 1)
    return framed[:, :-1], framed[:, 1:]


def tiny_model(recipe: blog.Recipe = blog.FIXED) -> keras.Model:
    keras.utils.set_random_seed(0)
    return blog.build_blog_model(TINY, recipe)


def logits_loss(labels, logits):
    return blog.make_masked_loss(PAD, from_logits=True)(labels, logits)


def test_shifted_labels_pass_and_unshifted_fail():
    inputs, labels = windows()
    assert diagnostics.labels_are_shifted_inputs(inputs, labels, PAD).passed
    check = diagnostics.labels_are_shifted_inputs(inputs, inputs, PAD)
    assert not check.passed
    assert "ids[1:]" in check.detail


def test_shifted_labels_ignore_padding_and_catch_shape_mismatch():
    inputs, labels = windows()
    labels = labels.copy()
    labels[:, -3:] = PAD
    assert diagnostics.labels_are_shifted_inputs(inputs, labels, PAD).passed
    assert not diagnostics.labels_are_shifted_inputs(inputs, labels[:, :-1], PAD).passed


def test_padding_mask_hiding_real_tokens_fails_and_names_them():
    inputs = np.array([[3, 0, 5, PAD], [0, 0, 2, PAD]])
    assert diagnostics.padding_mask_hides(inputs, inputs != PAD, PAD).passed
    check = diagnostics.padding_mask_hides(inputs, inputs != 0, PAD, decode=lambda i: "!")
    assert not check.passed
    assert "hides 3 real tokens" in check.detail
    assert "0 '!' x3" in check.detail
    assert "2 of them left visible" in check.detail


def test_majority_baseline_is_the_commonest_label_share():
    labels = np.array([[1, 1, 1, 2], [3, 1, PAD, PAD]])
    ids, shares = diagnostics.label_shares(labels, PAD)
    assert ids[0] == 1 and shares[0] == pytest.approx(4 / 6)
    assert not diagnostics.beats_majority_baseline(labels, 4 / 6, PAD).passed
    assert diagnostics.beats_majority_baseline(labels, 0.9, PAD).passed


def test_initial_loss_is_uniform_for_small_init_and_not_for_large():
    inputs, labels = windows()
    model = tiny_model()
    check = diagnostics.initial_loss_matches_uniform(model, inputs, labels, PAD, from_logits=True)
    assert check.passed, check.detail
    assert f"ln(10) = {math.log(10):.3f}" in check.detail
    output = model.get_layer("output")
    output.kernel.assign(output.kernel * 300.0)
    assert not diagnostics.initial_loss_matches_uniform(
        model, inputs, labels, PAD, from_logits=True
    ).passed


def test_prediction_collapse_detects_a_constant_output():
    inputs, _ = windows()
    model = tiny_model()
    assert diagnostics.prediction_collapse(model, inputs, from_logits=True).passed
    output = model.get_layer("output")
    output.kernel.assign(tf.zeros_like(output.kernel))
    output.bias.assign(tf.one_hot(4, 10) * 5.0)
    check = diagnostics.prediction_collapse(model, inputs, from_logits=True)
    assert not check.passed
    assert "100.0% of positions predict 4" in check.detail


def test_masked_metric_check_catches_a_metric_that_ignores_its_mask():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, PAD, size=(4, 8))
    labels[:, 5:] = PAD
    outputs = rng.normal(size=(4, 8, 10)).astype("float32")
    outputs[:, 5:, PAD] = 100.0  # padding positions "predicted" right: counts only if unmasked
    good = diagnostics.masked_metric_matches_numpy(
        lambda y, p: masked_accuracy(y, p, PAD), labels, outputs, PAD
    )
    assert good.passed, good.detail

    def unmasked(y, p):
        return tf.reduce_mean(tf.cast(tf.argmax(p, -1) == tf.cast(y, tf.int64), tf.float32))

    assert not diagnostics.masked_metric_matches_numpy(unmasked, labels, outputs, PAD).passed
    seed_metric = diagnostics.masked_metric_matches_numpy(
        lambda y, p: blog.masked_accuracy(y, p, PAD), labels, outputs, PAD
    )
    assert seed_metric.passed
    # The seed's metric with its default pad id (50257) does not mask this data's padding.
    assert not diagnostics.masked_metric_matches_numpy(
        blog.masked_accuracy, labels, outputs, PAD
    ).passed


def test_gradient_norms_cover_every_layer_and_flag_a_frozen_one():
    batches = [windows(seed=s) for s in range(3)]
    model = tiny_model()
    check = diagnostics.gradient_norms(model, logits_loss, keras.optimizers.Adam(1e-3), batches)
    assert check.passed, check.detail
    for layer in ("embedding", "decoder_0", "decoder_1", "output"):
        assert layer in check.detail

    model = tiny_model()
    output = model.get_layer("output")
    output.kernel.assign(tf.zeros_like(output.kernel))  # blocks every gradient below it
    dead = diagnostics.gradient_norms(model, logits_loss, keras.optimizers.Adam(0.0), batches)
    assert not dead.passed
    assert "vanishing in embedding, decoder_0, decoder_1" in dead.detail


def test_learning_rate_range_finds_a_falling_loss_and_flags_a_useless_range():
    batches = [windows(count=8, seed=s) for s in range(30)]
    check = diagnostics.learning_rate_range(tiny_model(), logits_loss, batches, 1e-4, 1e-1)
    assert check.passed, check.detail
    tiny_rates = diagnostics.learning_rate_range(tiny_model(), logits_loss, batches, 1e-12, 1e-11)
    assert not tiny_rates.passed


def test_overfitting_one_batch_works_with_a_good_recipe_and_not_with_lr_zero():
    batch = windows(count=2)
    model = tiny_model()
    check = diagnostics.overfits_one_batch(
        model, logits_loss, keras.optimizers.Adam(1e-2), batch, steps=150
    )
    assert check.passed, check.detail
    frozen = diagnostics.overfits_one_batch(
        tiny_model(), logits_loss, keras.optimizers.Adam(0.0), batch, steps=5
    )
    assert not frozen.passed
    assert "cannot even memorise" in frozen.detail


def test_check_prints_its_verdict():
    assert str(diagnostics.Check("x", False, "why")) == "[FAIL] x: why"
