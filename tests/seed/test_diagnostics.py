"""Every diagnostic passes on a healthy case and fails on the fault it is meant to find."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from gpt_lesson.config import GPTConfig
from gpt_lesson.pretraining.objectives import masked_accuracy
from gpt_lesson.seed import blog, diagnostics
from gpt_lesson.seed.layer_probe import LayerProbe, adam_terms

PAD = 9
TINY = GPTConfig(
    vocab_size=10, sequence_length=8, hidden_dim=16, num_layers=2, num_heads=2, intermediate_dim=32
)


def windows(count: int = 4, length: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    ids = np.random.default_rng(seed).integers(0, PAD, size=count * (length + 1))
    framed = ids.reshape(count, length + 1)
    return framed[:, :-1], framed[:, 1:]


# A recipe that learns: pre-LN, logits, the mask on the pad id.
HEALTHY = blog.Recipe(normalize_first=True, softmax_output=False, mask_hides_id_zero=False)


def tiny_model(recipe: blog.Recipe = HEALTHY) -> keras.Model:
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


def test_checks_make_a_table_of_run_check_verdict_and_evidence():
    inputs, labels = windows()
    checks = [
        ("shifted", diagnostics.labels_are_shifted_inputs(inputs, labels, PAD)),
        ("unshifted", diagnostics.labels_are_shifted_inputs(inputs, inputs, PAD)),
    ]
    table = diagnostics.check_table(checks)
    assert table.header == ("run on", "check", "verdict", "evidence")
    assert [row[:3] for row in table.rows] == [
        ("shifted", "labels are shifted inputs", "pass"),
        ("unshifted", "labels are shifted inputs", "FAIL"),
    ]
    assert table.rows[1][3] == checks[1][1].detail


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
    check = diagnostics.beats_majority_baseline(labels, 0.9, PAD, decode=lambda i: "xyz"[i - 1])
    assert check.passed
    evidence = check.evidence  # what plots.plot_token_shares draws
    assert evidence.what == "label" and evidence.accuracy == 0.9 and evidence.entropy is None
    assert evidence.names == ("'x'", "'y'", "'z'")
    np.testing.assert_allclose(evidence.shares, [4 / 6, 1 / 6, 1 / 6])


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
    assert check.evidence.what == "prediction" and check.evidence.names == ("4",)
    assert check.evidence.entropy < 0.5 and check.evidence.accuracy is None


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


def probe_of(model: keras.Model, learning_rate: float, steps: int = 4, scale: float = 1.0) -> dict:
    """A LayerProbe record of ``steps`` training steps of ``model`` on random windows,
    its loss multiplied by ``scale`` (a tiny scale makes every gradient tiny)."""
    inputs, labels = windows(count=8)

    def loss(labels, logits):
        return scale * logits_loss(labels, logits)

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    probe = LayerProbe(range(steps), (inputs, labels), loss, PAD, from_logits=True)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(4).repeat()
    model.fit(dataset, steps_per_epoch=steps, callbacks=[probe], shuffle=False, verbose=0)
    return probe.record()


def test_layer_probe_measures_every_layer_at_every_chosen_step():
    record = probe_of(tiny_model(), 1e-3)
    assert record["steps"] == [0, 1, 2, 3]
    assert record["layers"] == ["embedding", "decoder_0", "decoder_1", "final_layer_norm", "output"]
    norms, ratios = np.array(record["gradient_norm"]), np.array(record["update_ratio"])
    assert norms.shape == ratios.shape == (4, 5)
    assert (norms > 0).all() and (ratios > 0).all()
    # Adam's first step moves every weight by about the learning rate: |dW| / |W| is small.
    assert (ratios < 0.1).all()
    still = probe_of(tiny_model(), 0.0)
    assert (np.array(still["update_ratio"]) == 0).all()
    assert still["output_kl"] == pytest.approx([0.0] * 4, abs=1e-6)  # no step, no change
    assert all(kl > 0 for kl in record["output_kl"])
    assert record["learning_rate"] == pytest.approx([1e-3] * 4)


def test_adam_s_first_step_moves_every_weight_by_the_learning_rate():
    record = probe_of(tiny_model(), 1e-3, steps=1)
    blocks = [i for i, layer in enumerate(record["layers"]) if layer.startswith("decoder_")]
    step, share = np.array(record["step_per_lr"])[0], np.array(record["epsilon_share"])[0]
    # m̂ / √v̂ = g / |g| = ±1 for each weight whose gradient is well above ε
    assert step[blocks] == pytest.approx(1.0, abs=0.05)
    assert (share[blocks] < 0.05).all()
    first, second = (np.array(record[k])[0] for k in ("first_moment", "root_second_moment"))
    assert first[blocks] == pytest.approx(second[blocks], rel=1e-3)  # both RMS |g|
    sizes = [layer.count_params() for layer in tiny_model().layers if layer.weights]
    assert record["sizes"] == sizes


def test_gradients_far_below_epsilon_make_epsilon_set_the_step():
    record = probe_of(tiny_model(), 1e-3, steps=1, scale=1e-9)
    blocks = [i for i, layer in enumerate(record["layers"]) if layer.startswith("decoder_")]
    assert (np.array(record["epsilon_share"])[0, blocks] > 0.95).all()
    assert (np.array(record["step_per_lr"])[0, blocks] < 0.05).all()


def test_a_remembered_second_moment_shrinks_the_step_without_epsilon():
    """Large gradients, then tiny ones: √v̂ still holds the large ones (β2 = 0.999), so the
    step is far below both 1 (a fresh Adam) and g / ε (an ε-limited step)."""
    weight = keras.Variable(np.zeros(3, dtype="float32"))
    optimizer = keras.optimizers.Adam(1e-3)
    for gradient in [1.0] * 20 + [1e-8] * 200:
        optimizer.apply_gradients([(np.full(3, gradient, dtype="float32"), weight)])
    terms = adam_terms(optimizer, [weight])
    root_v, share = terms["root_second_moment"][0], terms["epsilon_share"][0]
    step = terms["first_moment"][0] / (root_v + optimizer.epsilon)
    assert (share < 1e-4).all()
    assert (step < 1e-6).all() and (step < 1e-8 / optimizer.epsilon / 1000).all()


def test_gradient_check_passes_a_healthy_model_and_flags_a_blocked_one():
    healthy = diagnostics.gradients_reach_every_layer(probe_of(tiny_model(), 1e-3))
    assert healthy.passed, healthy.detail
    model = tiny_model()
    output = model.get_layer("output")
    output.kernel.assign(tf.zeros_like(output.kernel))  # blocks every gradient below it
    blocked = diagnostics.gradients_reach_every_layer(probe_of(model, 0.0))
    assert not blocked.passed
    assert "at step 3 embedding gets 0.0e+00 of the largest" in blocked.detail
    assert "stopped learning" in blocked.detail
    assert "already starved at step 0 (the initialisation)" in blocked.detail


def test_gradient_check_says_a_layer_healthy_at_step_0_vanished_during_training():
    layers = ["embedding", "decoder_0", "decoder_1", "output"]
    probe = {
        "steps": [0, 20, 999],
        "layers": layers,
        "gradient_norm": [[0.5, 0.4, 0.6, 1.0], [0.05, 0.02, 0.3, 1.0], [1e-6, 2e-6, 0.1, 1.0]],
    }
    check = diagnostics.gradients_reach_every_layer(probe)
    assert not check.passed
    assert check.detail.startswith("at step 999 embedding gets 1.0e-06 of the largest")
    assert "(at step 0 decoder_0 gets 4.0e-01)" in check.detail
    assert "vanished during training (every layer got its share at step 0)" in check.detail
    assert "initialisation" not in check.detail


def test_range_test_suggests_from_the_smoothed_curve_not_the_diverging_tail():
    rates = np.geomspace(1e-6, 1e-1, 100)
    log_rate = np.log10(rates)
    # Flat, then falling fastest near 3e-3, then a noisy, diverging tail past 2e-2.
    losses = 8.0 - 3.0 / (1 + np.exp(-(log_rate + 2.5) * 4))
    tail = rates > 2e-2
    losses[tail] += np.linspace(0, 6, tail.sum()) + np.random.default_rng(0).normal(
        0, 1.5, tail.sum()
    )
    _, stop, suggested = diagnostics.range_test_choice(list(losses))
    assert 1e-3 < rates[suggested] < 1e-2
    assert 1e-2 < rates[stop] < 5e-2
    assert suggested < stop
    # The first edition's rule, the steepest point of a 5-step mean over the whole curve,
    # lands in the diverging tail on this very curve.
    five_step = np.convolve(losses, np.ones(5) / 5, mode="same")
    old_choice = int(np.argmin(np.gradient(five_step)[2:-2])) + 2
    assert rates[old_choice] > 2e-2 and old_choice > stop


def test_learning_rate_range_finds_a_falling_loss_and_flags_a_useless_range():
    batches = [windows(count=8, seed=s) for s in range(30)]
    check = diagnostics.learning_rate_range(tiny_model(), logits_loss, batches, 1e-4, 1e-1)
    assert check.passed, check.detail
    test = check.evidence  # what plots.plot_range_test draws
    assert len(test.rates) == len(test.losses) == 30 and len(test.smooth) == 30 - 5 + 1
    assert test.offset == 2 and test.suggested < test.stop
    assert f"falls fastest at lr {test.rates[test.suggested]:.1e}" in check.detail
    tiny_rates = diagnostics.learning_rate_range(tiny_model(), logits_loss, batches, 1e-12, 1e-11)
    assert not tiny_rates.passed


def test_overfitting_one_batch_passes_a_learning_model_and_fails_a_frozen_one():
    batch = windows(count=2)
    check = diagnostics.overfits_one_batch(
        tiny_model(), logits_loss, keras.optimizers.Adam(1e-2), batch, steps=150, pad_id=PAD
    )
    assert check.passed, check.detail
    fit = check.evidence  # what plots.plot_one_batch_fit draws
    assert len(fit.losses) == 150 and fit.losses[-1] < fit.target == fit.label_entropy / 2
    frozen = diagnostics.overfits_one_batch(
        tiny_model(), logits_loss, keras.optimizers.Adam(0.0), batch, steps=5, pad_id=PAD
    )
    assert not frozen.passed
    assert "cannot even memorise" in frozen.detail


def test_overfitting_one_batch_fails_a_model_that_learned_only_label_frequencies():
    inputs, labels = windows(count=2)
    model = tiny_model()
    output = model.get_layer("output")
    output.kernel.assign(tf.zeros_like(output.kernel))
    output.kernel.trainable = False  # only the bias learns: the unigram model, no context
    check = diagnostics.overfits_one_batch(
        model, logits_loss, keras.optimizers.Adam(1e-1), (inputs, labels), steps=150, pad_id=PAD
    )
    assert not check.passed, check.detail


def test_check_prints_its_verdict():
    assert str(diagnostics.Check("x", False, "why")) == "[FAIL] x: why"
