"""Chapter 6's machinery on a tiny random model: the play's tasks encoded as the paper's
transformations, the zero-shot score against a direct computation, blocks transferred,
and one fine-tuning run on a labelled subset."""

import dataclasses

import keras
import numpy as np
import pytest

from gpt_lesson.config import GPTConfig
from gpt_lesson.gpt1.causal_lm import build_gpt
from gpt_lesson.gpt1.presets import Checkpoint
from gpt_lesson.tasks import transfer
from gpt_lesson.tasks.fine_tuning import FinetuneConfig, starting_model
from gpt_lesson.tasks.play_tasks import CHOICES
from gpt_lesson.tasks.transformations import SPECIAL
from gpt_lesson.tasks.zero_shot import best_threshold, continuation_log_probabilities
from gpt_lesson.tokenizer.vocabulary import Vocabulary

CONFIG = GPTConfig(
    vocab_size=1003, sequence_length=24, hidden_dim=8, num_layers=2, num_heads=2,
    intermediate_dim=16,
)  # fmt: skip


@pytest.fixture(scope="module")
def small_checkpoint():
    """A tiny random model whose vocabulary is GPT-2's first 1,000 ids and the specials."""
    keras.utils.set_random_seed(0)
    vocabulary = Vocabulary((*range(1000), SPECIAL.pad, SPECIAL.start, SPECIAL.extract))
    return Checkpoint(build_gpt(CONFIG), CONFIG, vocabulary)


@pytest.fixture(scope="module")
def follows(small_checkpoint, tokenizer):
    return transfer.prepare_play_task(small_checkpoint, tokenizer, "follows")


def test_an_encoded_pair_is_start_premise_delimiter_hypothesis_extract(follows, tokenizer):
    room = CONFIG.sequence_length - 3
    pairs = zip(follows.examples["test"], follows.encoded["test"].sequences, strict=True)
    for example, ids in list(pairs)[:50]:
        gpt2 = follows.checkpoint.to_gpt2_ids(ids).tolist()
        first, second = (tokenizer.encode(text) for text in example.texts)
        first, second = transfer.fit_texts([first, second], room)
        assert gpt2 == [SPECIAL.start, *first, SPECIAL.delimiter, *second, SPECIAL.extract]
        assert len(gpt2) <= CONFIG.sequence_length
    assert follows.encoded["test"].labels.tolist() == [e.label for e in follows.examples["test"]]


def test_a_multiple_choice_example_holds_one_sequence_per_candidate(small_checkpoint, tokenizer):
    data = transfer.prepare_play_task(small_checkpoint, tokenizer, "next line")
    example = data.encoded["train"].sequences[0]
    assert example.shape[0] == CHOICES and data.encoded["train"].combine == "choose"


def test_fitting_texts_keeps_the_context_s_end_and_the_answer_s_start():
    context, answer = list(range(30)), list(range(100, 110))
    fitted_context, fitted_answer = transfer.fit_texts([context, answer], room=20)
    assert fitted_context == context[-10:] and fitted_answer == answer
    assert transfer.fit_texts([list(range(9))], room=5) == [[0, 1, 2, 3, 4]]
    assert transfer.fit_texts([[1, 2], [3]], room=5) == [[1, 2], [3]]


def test_continuation_scores_equal_a_direct_computation(small_checkpoint):
    model, pad = small_checkpoint.model, 1000
    contexts, continuations = [[5, 6, 7], [8]], [[9, 10], [11, 12, 13]]
    scores = continuation_log_probabilities(model, contexts, continuations, pad)
    for context, continuation, score in zip(contexts, continuations, scores, strict=True):
        ids = np.array([[*context, *continuation]])
        log_p = keras.ops.convert_to_numpy(keras.ops.log_softmax(model(ids), axis=-1))[0]
        picked = [log_p[len(context) - 1 + i, token] for i, token in enumerate(continuation)]
        assert score == pytest.approx(np.mean(picked), abs=1e-5)
    with pytest.raises(ValueError, match="at least one token"):
        continuation_log_probabilities(model, [[]], [[1]], pad)


def test_zero_shot_scores_every_split_and_thresholds_on_train_only(small_checkpoint, tokenizer):
    from gpt_lesson.tasks.play_tasks import read_task

    examples = read_task("corrupted", transfer.held_out_text())
    examples = {split: rows[:40] for split, rows in examples.items()}
    model = build_gpt(dataclasses.replace(CONFIG, vocab_size=tokenizer.vocab_size))
    encode = transfer.Encoder(tokenizer)
    result = transfer.zero_shot(model, encode, "corrupted", examples)
    assert set(result) == {"threshold", "test"} and 0.0 <= result["test"]["accuracy"] <= 1.0
    train_scores = transfer.zero_shot_scores(model, encode, "corrupted", examples["train"])
    labels = np.array([e.label for e in examples["train"]])
    assert result["threshold"] == best_threshold(train_scores, labels)
    chosen = transfer.zero_shot_scores(model, encode, "next line", read_task(
        "next line", transfer.held_out_text())["test"][:5])  # fmt: skip
    assert chosen.shape == (5, CHOICES)


def test_transferring_some_blocks_keeps_them_and_draws_the_rest(small_checkpoint):
    config = FinetuneConfig(transfer_blocks=1, seed=3)
    keras.utils.set_random_seed(3)
    model = starting_model(small_checkpoint, config)
    source = small_checkpoint.model.backbone
    for name, kept in (("embedding", True), ("decoder_0", True), ("decoder_1", False)):
        same = [
            np.array_equal(a, b)
            for a, b in zip(
                model.backbone.get_layer(name).get_weights(),
                source.get_layer(name).get_weights(),
                strict=True,
            )
            if a.std() > 0  # layer norms start at ones and zeros in both
        ]
        assert all(same) if kept else not any(same)
    with pytest.raises(ValueError, match=r"transfer_blocks must be in \[0, 2\]"):
        starting_model(small_checkpoint, FinetuneConfig(transfer_blocks=3))


def test_one_run_trains_on_the_subset_and_scores_the_test_split(follows):
    config = FinetuneConfig(max_steps=2, epochs=1, batch_size=8, seed=1)
    run = transfer.run_once(follows, config, size=16)
    assert run["size"] == 16 and run["steps"] == 2 and run["task"] == "follows"
    assert len(run["test"]["predictions"]) == len(follows.examples["test"])
    assert "predictions" not in run["validation"]
    assert 0.0 <= run["test"]["accuracy"] <= 1.0


def test_too_few_examples_still_train_at_least_min_steps(follows):
    config = FinetuneConfig(min_steps=5, epochs=1, batch_size=8, seed=1)
    assert transfer.run_once(follows, config, size=8)["steps"] == 5


def test_a_threshold_from_a_few_labels_separates_scores_that_separate():
    rng = np.random.default_rng(0)
    train_labels, test_labels = rng.integers(0, 2, 400), rng.integers(0, 2, 300)
    scores = {"train": train_labels + rng.normal(0, 0.1, 400), "test": test_labels + 0.0}
    labels = {"train": train_labels, "test": test_labels}
    rows = transfer.threshold_curve(scores, labels, [8, None], seeds=[0, 1, 2])
    assert [row["size"] for row in rows] == [8, 400]
    assert all(value == 1.0 for row in rows for value in row["values"])
    noise = {"train": rng.normal(size=400), "test": rng.normal(size=300)}
    (row,) = transfer.threshold_curve(noise, labels, [None], seeds=[0])
    assert abs(row["values"][0] - 0.5) < 0.1  # scores that know nothing give chance


def test_next_line_zero_shot_reports_the_plain_heuristic_beside_its_own(
    small_checkpoint, tokenizer
):
    from gpt_lesson.tasks.play_tasks import read_task

    examples = {
        s: rows[:30] for s, rows in read_task("next line", transfer.held_out_text()).items()
    }
    model = build_gpt(dataclasses.replace(CONFIG, vocab_size=tokenizer.vocab_size))
    result = transfer.zero_shot(model, transfer.Encoder(tokenizer), "next line", examples)
    assert set(result) == {"test", "plain"}
    assert all(0.0 <= result[key]["accuracy"] <= 1.0 for key in result)
