"""CoLA: the reader, the validation split, the encoding for a checkpoint, the baselines
and a missing checkpoint, pre-trained first (the command line: tests/test_cli.py)."""

import keras
import numpy as np
import pytest

from gpt_lesson.config import PRESETS, TRAINING, GPTConfig
from gpt_lesson.data import read_cola
from gpt_lesson.gpt1.causal_lm import build_gpt
from gpt_lesson.gpt1.presets import Checkpoint, load_checkpoint
from gpt_lesson.tasks import cola
from gpt_lesson.tasks.intervals import welch_difference
from gpt_lesson.tasks.transformations import SPECIAL
from gpt_lesson.tokenizer.vocabulary import Vocabulary


def test_read_cola_sizes_and_labels():
    sizes = {"train": 8551, "dev": 527, "dev_out_of_domain": 516}
    for split, size in sizes.items():
        data = read_cola(split)
        assert len(data) == len(data.labels) == size
        assert set(data.labels) == {0, 1}
    assert read_cola("dev").sentences[0] == "The sailors rode the breeze clear of the rocks."
    with pytest.raises(ValueError, match="known splits"):
        read_cola("test")


def test_validation_is_carved_from_train_without_overlap():
    train = read_cola("train")
    kept, held_out = cola.carve_validation(train, fraction=0.1, seed=0)
    assert len(kept) + len(held_out) == len(train) and len(held_out) == 855
    assert sorted(kept.sentences + held_out.sentences) == sorted(train.sentences)
    assert cola.carve_validation(train, 0.1, 0)[1] == held_out  # reproducible


@pytest.fixture(scope="module")
def small_checkpoint():
    """A tiny random model whose vocabulary is GPT-2's first 1,000 ids."""
    config = GPTConfig(
        vocab_size=1003, sequence_length=24, hidden_dim=8, num_layers=1, num_heads=2,
        intermediate_dim=16,
    )  # fmt: skip
    keras.utils.set_random_seed(0)
    vocabulary = Vocabulary((*range(1000), SPECIAL.pad, SPECIAL.start, SPECIAL.extract))
    return Checkpoint(build_gpt(config), config, vocabulary)


@pytest.fixture(scope="module")
def cola_data(small_checkpoint, tokenizer):
    """CoLA for the tiny model, its vocabulary grown by every CoLA token."""
    return cola.prepare_cola(small_checkpoint, tokenizer)


def test_prepare_cola_transforms_and_counts_new_tokens(cola_data, tokenizer):
    dev = cola_data.encoded["dev"]
    sentence = read_cola("dev").sentences[0]
    expected = [SPECIAL.start, *tokenizer.encode(sentence), SPECIAL.extract]
    assert cola_data.checkpoint.to_gpt2_ids(dev.sequences[0]).tolist() == expected
    assert all(len(s) <= 24 for split in cola_data.encoded.values() for s in split.sequences)
    assert cola_data.truncated > 0  # a context of 24 cannot hold every sentence
    tokens = [t for s in read_cola("dev").sentences for t in tokenizer.encode(s)]
    assert cola_data.tokens_added["dev"] == pytest.approx(np.mean([t >= 1000 for t in tokens]))
    assert cola_data.checkpoint.config.vocab_size == 1003 + cola_data.added_ids


def test_prepare_cola_can_map_unseen_tokens_to_one_unknown_id(
    small_checkpoint, cola_data, tokenizer
):
    unknown = cola.prepare_cola(small_checkpoint, tokenizer, unseen="unknown")
    sentence = read_cola("dev").sentences[0]
    expected = [t if t < 1000 else SPECIAL.unknown for t in tokenizer.encode(sentence)]
    ids = unknown.checkpoint.to_gpt2_ids(unknown.encoded["dev"].sequences[0]).tolist()
    assert ids == [SPECIAL.start, *expected, SPECIAL.extract]
    assert unknown.added_ids == 2  # the unknown id and the delimiter
    assert unknown.tokens_added == cola_data.tokens_added  # counted before the mapping
    with pytest.raises(ValueError, match="unseen must be"):
        cola.prepare_cola(small_checkpoint, tokenizer, unseen="drop")


def test_majority_baseline_scores_zero_mcc(cola_data):
    baseline = cola.majority_baseline(cola_data)
    assert baseline["majority_label"] == 1
    assert baseline["dev"]["mcc"] == 0.0
    assert baseline["dev"]["accuracy"] == pytest.approx(365 / 527)


def test_zero_shot_threshold_comes_from_train(cola_data):
    result = cola.zero_shot(cola_data)
    assert np.isfinite(result["threshold"])
    assert result["train"]["mcc"] > 0.0  # the best cut on the split it was chosen on
    assert -1.0 <= result["dev_out_of_domain"]["mcc"] <= 1.0


def test_summarise_gives_mean_and_std_per_row():
    runs = [
        {"row": row, **{s: {"mcc": value} for s in cola.EVALUATION_SPLITS}}
        for row in cola.ABLATION_ROWS
        for value in (0.1, 0.3)
    ]
    majority = {s: {"mcc": 0.0} for s in cola.EVALUATION_SPLITS}
    table = cola.summarise({"runs": runs, "majority": majority})
    assert [row["row"] for row in table] == ["majority class", *cola.ABLATION_ROWS]
    assert table[1]["dev_mean"] == pytest.approx(0.2)
    assert table[1]["dev_std"] == pytest.approx(np.std([0.1, 0.3], ddof=1))


def test_a_missing_checkpoint_is_pre_trained_first_with_the_profile_s_preset(
    tmp_path, tokenizer, monkeypatch, capsys
):
    monkeypatch.setenv("GPT_LESSON_PROFILE", "quick")
    folder = tmp_path / "pretrained"
    cola.pretrain_if_missing(folder, tokenizer)
    assert "pre-training the 'quick' preset there first" in capsys.readouterr().out
    assert load_checkpoint(folder).config.hidden_dim == PRESETS["quick"].hidden_dim
    assert (folder / "history.csv").read_text().count("\n") == 1 + TRAINING["quick"].epochs
    cola.pretrain_if_missing(folder, tokenizer)  # now there is one: not trained again
    assert "pre-training" not in capsys.readouterr().out


def test_plots_show_the_numbers_they_are_given():
    from gpt_lesson.figures import plots

    matrix = np.array([[5, 2], [1, 9]])
    figure = plots.plot_confusion_matrix(matrix, ["0", "1"], "test")
    np.testing.assert_array_equal(figure.axes[0].images[0].get_array(), matrix)
    with pytest.raises(ValueError, match="class names"):
        plots.plot_confusion_matrix(matrix, ["0", "1", "2"], "test")

    rows = [
        {"row": "a", "dev_mean": 0.1, "dev_std": 0.02},
        {"row": "b", "dev_mean": -0.05, "dev_std": 0.01},
    ]
    figure = plots.plot_ablation(rows, {"dev": "dev"})
    heights = [bar.get_height() for bar in figure.axes[0].patches]
    assert heights == pytest.approx([0.1, -0.05])

    curves = {"run": [{"step": 1, "train_l2": 0.7, "train_l1": 5.0, "val_mcc": 0.1}]}
    figure = plots.plot_finetuning_curves(curves)
    assert figure.axes[1].lines[0].get_ydata().tolist() == [0.1]


def test_compare_with_paper_gives_welch_intervals_over_seeds():
    def runs(name, scores):
        return [{"row": name, "seed": i, "dev": {"mcc": mcc}} for i, mcc in enumerate(scores)]

    every_run = [
        *runs("(a) no pre-training, λ = 0.5", [0.02, 0.05, 0.08]),
        *runs("(b) pre-trained, λ = 0", [0.15, 0.19, 0.23]),
        *runs("(c) pre-trained, λ = 0.5", [0.12, 0.15, 0.18]),
    ]
    pretraining, auxiliary = cola.compare_with_paper(every_run)
    assert pretraining["ours"] == pytest.approx(0.10) and pretraining["same_sign"]
    expected = welch_difference([0.12, 0.15, 0.18], [0.02, 0.05, 0.08])
    assert (pretraining["low"], pretraining["high"]) == pytest.approx((expected.low, expected.high))
    assert pretraining["decided"] and pretraining["seeds"] == (3, 3)
    assert auxiliary["ours"] == pytest.approx(-0.04) and auxiliary["same_sign"]
    assert not auxiliary["decided"]  # the interval holds zero
