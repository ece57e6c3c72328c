"""Fine-tuning: the input transformations, the grown vocabulary, the head at the extract
token, L3 = L2 + λ·L1, MCC and the zero-shot threshold, checked against hand computations."""

import dataclasses
import math

import keras
import numpy as np
import pytest

from gpt_lesson.config import GPTConfig
from gpt_lesson.gpt1.causal_lm import build_gpt
from gpt_lesson.gpt1.classifier import (
    GPT1Classifier,
    as_text_classifier,
    build_classifier,
    extend_checkpoint,
)
from gpt_lesson.gpt1.presets import Checkpoint
from gpt_lesson.pretraining.objectives import (
    MaskedLMLoss,
    confusion_matrix,
    masked_lm_loss,
    matthews_correlation,
)
from gpt_lesson.tasks.batches import Encoded, classification_dataset
from gpt_lesson.tasks.fine_tuning import (
    FinetuneConfig,
    evaluate,
    finetune,
    starting_model,
)
from gpt_lesson.tasks.transformations import (
    SPECIAL,
    classification_input,
    entailment_input,
    language_model_labels,
    multiple_choice_inputs,
    pad_and_extract,
    similarity_inputs,
)
from gpt_lesson.tasks.zero_shot import best_threshold
from gpt_lesson.tokenizer.vocabulary import Vocabulary

S, D, E = SPECIAL.start, SPECIAL.delimiter, SPECIAL.extract
TINY = GPTConfig(
    vocab_size=12, sequence_length=16, hidden_dim=8, num_layers=1, num_heads=2,
    intermediate_dim=16, normalize_first=True,
)  # fmt: skip


def test_classification_input_wraps_and_truncates():
    assert classification_input([5, 6, 7]) == [S, 5, 6, 7, E]
    assert classification_input([5, 6, 7, 8], max_length=4) == [S, 5, 6, E]
    with pytest.raises(ValueError, match="max_length"):
        classification_input([5], max_length=2)


def test_two_text_transformations():
    assert entailment_input([1, 2], [3]) == [S, 1, 2, D, 3, E]
    assert similarity_inputs([1], [2, 3]) == ([S, 1, D, 2, 3, E], [S, 2, 3, D, 1, E])
    assert multiple_choice_inputs([1], [[2], [3, 4]]) == [[S, 1, D, 2, E], [S, 1, D, 3, 4, E]]
    with pytest.raises(ValueError, match="at least one answer"):
        multiple_choice_inputs([1], [])


def test_language_model_labels_cover_the_text_only():
    labels = language_model_labels(np.array([S, 5, 6, E]), extract=E, pad=SPECIAL.pad)
    assert labels.tolist() == [5, 6, SPECIAL.pad, SPECIAL.pad]


def test_mcc_and_confusion_by_hand():
    labels = [1, 1, 1, 0, 0, 1]
    predictions = [1, 0, 1, 0, 1, 1]  # TP 3, FN 1, TN 1, FP 1
    assert confusion_matrix(labels, predictions).tolist() == [[1, 1], [1, 3]]
    expected = (3 * 1 - 1 * 1) / math.sqrt(4 * 4 * 2 * 2)  # 2 / 8
    assert matthews_correlation(labels, predictions) == pytest.approx(0.25)
    assert matthews_correlation(labels, predictions) == pytest.approx(expected)
    assert matthews_correlation([0, 1, 1], [0, 1, 1]) == pytest.approx(1.0)
    assert matthews_correlation([0, 1, 1], [1, 0, 0]) == pytest.approx(-1.0)


def test_mcc_of_three_classes_by_hand():
    labels = [0, 0, 1, 1, 2, 2]
    predictions = [0, 1, 1, 1, 2, 0]  # right 4 of 6; true 2, 2, 2; predicted 2, 3, 1
    expected = (4 * 6 - (2 * 2 + 3 * 2 + 1 * 2)) / math.sqrt((36 - (4 + 9 + 1)) * (36 - 12))
    assert matthews_correlation(labels, predictions, 3) == pytest.approx(expected)
    assert matthews_correlation(labels, labels, 3) == pytest.approx(1.0)


def test_mcc_of_one_class_predictions_is_zero_not_nan():
    assert matthews_correlation([0, 1, 1, 1], [1, 1, 1, 1]) == 0.0
    assert matthews_correlation([1, 1], [1, 1]) == 0.0  # one class in the labels too
    with pytest.raises(ValueError, match="lie in 0..1"):
        confusion_matrix([0, 2], [0, 1])


def test_best_threshold_separates_and_agrees_with_mcc():
    scores = np.array([-3.0, -2.5, -1.0, -0.5, -2.0, -0.2])
    labels = np.array([0, 0, 1, 1, 0, 1])
    cut = best_threshold(scores, labels)
    assert -2.0 < cut < -1.0
    assert matthews_correlation(labels, (scores > cut).astype(int)) == pytest.approx(1.0)


@pytest.fixture
def small_checkpoint():
    keras.utils.set_random_seed(0)
    vocabulary = Vocabulary((3, 7, 9, 11, 20, 30, 40, 50, SPECIAL.pad, S, E, 50_300))
    return Checkpoint(build_gpt(TINY), TINY, vocabulary)


def test_row_a_starts_from_the_same_random_weights_whatever_the_checkpoint_learned(
    small_checkpoint,
):
    """pretrained=False reads only the checkpoint's config: two checkpoints of one
    architecture but other weights give row (a) the same start, so its runs carry over from
    one checkpoint's ablation to the next (cola_ablation --reuse-rows a)."""
    keras.utils.set_random_seed(1)
    other = Checkpoint(build_gpt(TINY), TINY, small_checkpoint.vocabulary)
    starts = {}
    for pretrained in (False, True):
        config = FinetuneConfig(pretrained=pretrained)
        for name, checkpoint in (("small", small_checkpoint), ("other", other)):
            keras.utils.set_random_seed(config.seed)  # as finetune does
            starts[pretrained, name] = starting_model(checkpoint, config).get_weights()
    for a, b in zip(starts[False, "small"], starts[False, "other"], strict=True):
        np.testing.assert_array_equal(a, b)
    for learned, copied in zip(other.model.get_weights(), starts[True, "other"], strict=True):
        np.testing.assert_array_equal(learned, copied)
    assert not np.array_equal(starts[True, "small"][0], starts[True, "other"][0])


def test_extend_checkpoint_keeps_old_rows_and_draws_new_ones(small_checkpoint):
    extended, added = extend_checkpoint(small_checkpoint, [7, 8, 25], seed=1)
    assert added == 3  # 8, 25 and the delimiter
    old = small_checkpoint.model.backbone.get_layer("embedding").get_weights()[0]
    new = extended.model.backbone.get_layer("embedding").get_weights()[0]
    for gpt2_id in (3, 7, 50):  # kept, same vector
        np.testing.assert_array_equal(
            new[extended.to_model_ids([gpt2_id])[0]],
            old[small_checkpoint.to_model_ids([gpt2_id])[0]],
        )
    for gpt2_id in (8, 25, D, S, E):  # new, or special: redrawn, N(0, 0.02)
        row = new[extended.to_model_ids([gpt2_id])[0]]
        assert 0 < np.abs(row).max() < 0.2
    assert not np.allclose(
        new[extended.to_model_ids([S])[0]], old[small_checkpoint.to_model_ids([S])[0]]
    )
    block = "decoder_0"
    for kept, copied in zip(
        small_checkpoint.model.backbone.get_layer(block).get_weights(),
        extended.model.backbone.get_layer(block).get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(kept, copied)


def test_head_reads_the_hidden_state_at_the_extract_token(small_checkpoint):
    extended, _ = extend_checkpoint(small_checkpoint, [], seed=0)
    extract, pad = (int(i) for i in extended.to_model_ids([E, SPECIAL.pad]))
    classifier = build_classifier(extended.model, extended.config, extract, dropout=0.0)
    ids = np.array([extended.to_model_ids([S, 3, 7, E, SPECIAL.pad, SPECIAL.pad])])
    hidden = np.asarray(extended.model.backbone(ids))[0, 3]  # position of the extract token
    kernel, bias = classifier.head.w_y.get_weights()
    outputs = classifier(ids)
    np.testing.assert_allclose(outputs["label"][0], hidden @ kernel + bias, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs["lm"], extended.model(ids), rtol=1e-5, atol=1e-6)
    # Padding after the extract token does not change the answer (causal attention).
    shorter = classifier(ids[:, :4])["label"]
    np.testing.assert_allclose(shorter, outputs["label"], rtol=1e-5, atol=1e-6)


def test_the_text_classifier_is_the_fine_tuned_backbone_and_head_not_a_copy(
    small_checkpoint, tokenizer
):
    extended, _ = extend_checkpoint(small_checkpoint, [], seed=0)
    _, extract = pad_and_extract(extended)
    trained = build_classifier(extended.model, extended.config, extract)
    classifier = as_text_classifier(trained, tokenizer, ("no", "yes"))
    assert classifier.head is trained.head and classifier.backbone is trained.backbone
    ids = np.array([extended.to_model_ids([S, 3, 7, E])])
    np.testing.assert_array_equal(classifier(ids), trained(ids)["label"])
    assert classifier.get_config()["num_classes"] == 2 and classifier.labels == ("no", "yes")
    several = build_classifier(extended.model, extended.config, extract, combine="sum")
    with pytest.raises(ValueError, match="reads one text"):
        as_text_classifier(several, tokenizer, ("no", "yes"))
    with pytest.raises(ValueError, match="not 3"):
        GPT1Classifier(trained.backbone, 3, extract, head=trained.head)


def test_training_loss_is_l2_plus_lambda_l1(small_checkpoint):
    extended, _ = extend_checkpoint(small_checkpoint, [], seed=0)
    extract, pad = (int(i) for i in extended.to_model_ids([E, SPECIAL.pad]))
    sequences = tuple(
        extended.to_model_ids(classification_input(text))
        for text in ([3, 7], [9, 11, 20], [30], [40, 50, 3, 7])
    )
    data = Encoded(sequences, np.array([1, 0, 1, 0], dtype=np.int32))
    dataset = classification_dataset(data, 4, pad, extract, shuffle=False)
    assert dataset.options().autotune.enabled is False  # see pipeline.prefetched
    keras.utils.set_random_seed(0)
    classifier = build_classifier(extended.model, extended.config, extract, dropout=0.0)
    lam = 0.5
    classifier.compile(
        loss={
            "label": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "lm": MaskedLMLoss(pad),
        },
        loss_weights={"label": 1.0, "lm": lam},
    )
    batches = 0
    for ids, targets in dataset:  # one batch per length bucket
        outputs = classifier(ids, training=False)
        l2 = keras.losses.sparse_categorical_crossentropy(
            targets["label"], outputs["label"], from_logits=True
        )
        l1 = masked_lm_loss(targets["lm"], outputs["lm"], pad)
        expected = float(np.mean(l2)) + lam * float(l1)
        loss = float(classifier.compute_loss(ids, targets, outputs))
        assert loss == pytest.approx(expected, rel=1e-5)
        assert float(l1) > 0 and float(np.mean(l2)) > 0
        batches += 1
    assert batches >= 1


def test_fixed_shapes_pad_to_the_bucket_limit_and_leave_the_loss_unchanged(small_checkpoint):
    """``fixed_shapes`` (for XLA) pads each batch to its bucket's limit: the same batches,
    and the same L3, since the loss masks padding and causal attention never reads it."""
    extended, _ = extend_checkpoint(small_checkpoint, [], seed=0)
    extract, pad = (int(i) for i in extended.to_model_ids([E, SPECIAL.pad]))
    texts = ([3], [9, 11], [30, 40, 50, 3, 7, 9, 11], [3, 7, 9, 11, 20, 30, 40, 50, 3, 7])
    sequences = tuple(extended.to_model_ids(classification_input(t)) for t in texts)
    data = Encoded(sequences, np.array([1, 0, 1, 0], dtype=np.int32))
    keras.utils.set_random_seed(0)
    classifier = build_classifier(extended.model, extended.config, extract, dropout=0.0)
    classifier.compile(
        loss={
            "label": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "lm": MaskedLMLoss(pad),
        },
        loss_weights={"label": 1.0, "lm": 0.5},
    )
    per_batch, fixed = (
        list(classification_dataset(data, 2, pad, extract, shuffle=False, fixed_shapes=f))
        for f in (False, True)
    )
    assert [ids.shape[1] for ids, _ in per_batch] == [4, 12]  # the longest in the batch
    assert [ids.shape[1] for ids, _ in fixed] == [8, 16]  # the bucket's limit (9, 17) - 1
    for (ids, targets), (padded, padded_targets) in zip(per_batch, fixed, strict=True):
        length = ids.shape[1]
        np.testing.assert_array_equal(padded[:, :length], ids)
        assert np.all(padded[:, length:] == pad)
        loss = classifier.compute_loss(ids, targets, classifier(ids, training=False))
        padded_loss = classifier.compute_loss(
            padded, padded_targets, classifier(padded, training=False)
        )
        assert float(padded_loss) == pytest.approx(float(loss), rel=1e-5)


def test_finetune_takes_any_number_of_classes(small_checkpoint):
    """Three classes, told apart by the text's last token: the head has three outputs and
    a few epochs make it better than chance."""
    extended, _ = extend_checkpoint(small_checkpoint, [], seed=0)
    last = {0: 3, 1: 7, 2: 9}
    labels = np.array([i % 3 for i in range(48)], dtype=np.int32)
    sequences = tuple(
        extended.to_model_ids(classification_input([11, 20, last[int(label)]])) for label in labels
    )
    data = Encoded(sequences, labels)
    config = FinetuneConfig(learning_rate=1e-2, batch_size=16, epochs=10, lm_weight=0.0)
    result = finetune(extended, data, data, config)
    assert result.classifier(np.array([sequences[0]]))["label"].shape == (1, 3)
    scores = evaluate(result.classifier, data, int(extended.to_model_ids([SPECIAL.pad])[0]))
    assert np.asarray(scores["confusion"]).shape == (3, 3)
    assert scores["mcc"] > 0.3


def test_finetune_learns_a_separable_toy_task(small_checkpoint):
    """Label = the text's last token (3 or 7): a few steps must lower L2 on it."""
    extended, _ = extend_checkpoint(small_checkpoint, [], seed=0)
    rng = np.random.default_rng(0)
    labels = np.array([i % 2 for i in range(64)], dtype=np.int32)
    texts = [
        [*rng.choice([9, 11, 20, 30, 40, 50], size=rng.integers(1, 5)), 3 if label else 7]
        for label in labels
    ]
    sequences = tuple(extended.to_model_ids(classification_input(t)) for t in texts)
    data = Encoded(sequences, labels)
    config = FinetuneConfig(learning_rate=1e-2, batch_size=16, epochs=16, lm_weight=0.5)
    result = finetune(extended, data, data, config)
    assert result.steps == 64
    assert [point["step"] for point in result.curve][-1] == 64
    first, last = result.curve[0], result.curve[-1]
    assert last["val_l2"] < first["val_l2"] - 0.05  # the training examples, re-scored
    assert last["val_mcc"] > 0.0
    assert np.isfinite(result.curve[-1]["train_l1"]) and np.isfinite(result.curve[-1]["train_l2"])
    # The checkpoint itself was not trained.
    np.testing.assert_array_equal(
        extended.model.backbone.get_layer("decoder_0").get_weights()[0],
        small_checkpoint.model.backbone.get_layer("decoder_0").get_weights()[0],
    )


def test_finetune_config_refuses_bad_values():
    with pytest.raises(ValueError, match="lm_weight"):
        FinetuneConfig(lm_weight=-1.0)
    with pytest.raises(ValueError, match="warmup_fraction"):
        dataclasses.replace(FinetuneConfig(), warmup_fraction=1.5)
