"""The book's framing gives correctly shifted (inputs, labels), and ids are cached safely."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_lesson.pretraining import pipeline

PAD = 50257


def test_validation_is_the_last_tenth_of_the_characters():
    text = "abcdefghij" * 10
    split = pipeline.split_text(text, validation_fraction=0.1)
    assert split.train + split.validation == text
    assert len(split.validation) == 10
    with pytest.raises(ValueError, match="validation_fraction"):
        pipeline.split_text(text, validation_fraction=1.5)


@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(min_value=2, max_value=300),
    sequence_length=st.integers(min_value=1, max_value=17),
    batch_size=st.integers(min_value=1, max_value=5),
)
def test_lm_windows_label_every_token_but_the_first_exactly_once(
    length, sequence_length, batch_size
):
    ids = np.arange(1, length + 1, dtype=np.int32)
    dataset = pipeline.lm_windows(ids, sequence_length, batch_size, pad_id=0, shuffle=False)
    inputs = np.concatenate([x.numpy() for x, _ in dataset])
    labels = np.concatenate([y.numpy() for _, y in dataset])
    assert inputs.shape[1] == sequence_length
    real = labels != 0
    np.testing.assert_array_equal(labels[real], ids[1:])  # each next token, once, in order
    np.testing.assert_array_equal(labels[real] - 1, inputs[real])  # label = input shifted
    # Positions whose label is pad: the last real token, then padding.
    padded = int((~real).sum())
    expected = [ids[-1]] + [0] * (padded - 1) if padded else []
    np.testing.assert_array_equal(inputs[~real], expected)


def test_lm_windows_shuffle_reorders_whole_windows_reproducibly():
    ids = np.arange(1, 16 * 10 + 2, dtype=np.int32)
    first = [x.numpy() for x, _ in pipeline.lm_windows(ids, 16, 4, pad_id=0, shuffle=True, seed=3)]
    again = [x.numpy() for x, _ in pipeline.lm_windows(ids, 16, 4, pad_id=0, shuffle=True, seed=3)]
    windows = np.concatenate(first)
    np.testing.assert_array_equal(np.concatenate(again), windows)
    assert not np.array_equal(windows[:, 0], np.sort(windows[:, 0]))
    np.testing.assert_array_equal(np.sort(windows.ravel()), ids[:-1])


def test_lm_windows_refuse_a_corpus_without_one_pair():
    with pytest.raises(ValueError, match="at least 2 tokens"):
        pipeline.lm_windows(np.array([5], dtype=np.int32), 8, 2, pad_id=0, shuffle=False)


def passes_of(dataset: tf.data.Dataset, steps: int, passes: int) -> list[tuple[np.ndarray, ...]]:
    """The first ``passes`` passes of an endless stream, ``steps`` batches each."""
    batches = list(dataset.take(steps * passes).as_numpy_iterator())
    return [
        tuple(
            np.concatenate([batch[i] for batch in batches[p * steps : (p + 1) * steps]])
            for i in (0, 1)
        )
        for p in range(passes)
    ]


@settings(max_examples=20, deadline=None)
@given(
    length=st.integers(min_value=2, max_value=200),
    sequence_length=st.integers(min_value=2, max_value=12),
    batch_size=st.integers(min_value=1, max_value=5),
)
def test_shifted_windows_cut_each_pass_at_a_new_place_and_label_every_token_once(
    length, sequence_length, batch_size
):
    ids = np.arange(1, length + 1, dtype=np.int32)
    windows = -(-(length - 1) // sequence_length)
    steps = -(-windows // batch_size)  # what train.steps_per_epoch counts
    dataset = pipeline.shifted_lm_windows(ids, sequence_length, batch_size, pad_id=0, seed=1)
    firsts = set()
    for inputs, labels in passes_of(dataset, steps, passes=4):
        assert inputs.shape == (windows, sequence_length)
        real = labels != 0
        next_token = np.where(inputs[real] == length, 1, inputs[real] + 1)  # across the seam
        np.testing.assert_array_equal(labels[real], next_token)
        first = int(np.setdiff1d(ids, labels[real])[0])  # the one token no label names
        np.testing.assert_array_equal(np.sort(labels[real]), np.setdiff1d(ids, [first]))
        firsts.add(first)
    if length > 2 * sequence_length:
        assert len(firsts) > 1  # the cut moves (four passes at one offset: odds below 1 in 8)


def test_shifted_windows_are_the_same_stream_for_the_same_seed():
    ids = np.arange(1, 16 * 10 + 2, dtype=np.int32)
    first, again, other = (
        passes_of(pipeline.shifted_lm_windows(ids, 16, 4, pad_id=0, seed=seed), 3, 2)
        for seed in (3, 3, 4)
    )
    for (x, y), (x_again, y_again) in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, x_again)
        np.testing.assert_array_equal(y, y_again)
    assert not all(
        np.array_equal(x, x_other) for (x, _), (x_other, _) in zip(first, other, strict=True)
    )


class CountingTokenizer:
    """Stands in for the GPT-2 tokenizer: one id per character, and counts its calls."""

    calls = 0

    def __call__(self, text: tf.Tensor) -> tf.Tensor:
        CountingTokenizer.calls += 1
        return tf.strings.unicode_decode(text, "UTF-8")


def test_token_ids_are_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("GPT_LESSON_DATA_DIR", str(tmp_path))
    tokenizer = CountingTokenizer()
    first = pipeline.token_ids("hello", tokenizer)
    calls = CountingTokenizer.calls
    second = pipeline.token_ids("hello", tokenizer)
    np.testing.assert_array_equal(first, [104, 101, 108, 108, 111])
    np.testing.assert_array_equal(second, first)
    assert CountingTokenizer.calls == calls  # read from the cache, not tokenized again
    assert [p.suffix for p in (tmp_path / "tokens").iterdir()] == [".npy"]  # no temp file left


def test_the_pipelines_prefetch_the_same_batches_with_the_autotuner_off():
    from gpt_lesson.seed import blog

    ids = np.arange(300, dtype=np.int32)
    windows = pipeline.lm_windows(ids, 8, 4, PAD, shuffle=True)
    seed = blog.seed_dataset(ids[:256].reshape(4, 64), ids[1:257].reshape(4, 64))
    for dataset in (windows, seed):
        assert dataset.options().autotune.enabled is False
    plain = tf.data.Dataset.range(10).batch(3)
    prefetched = pipeline.prefetched(plain)
    assert prefetched.options().autotune.enabled is False
    assert [b.tolist() for b in prefetched.as_numpy_iterator()] == [
        b.tolist() for b in plain.as_numpy_iterator()
    ]
