"""The tokenizer is GPT-2's: same pieces as encoder.py's regex, same ids as tiktoken."""

import unicodedata

import numpy as np
import pytest
import regex
import tensorflow as tf
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_lesson.data import read_text
from gpt_lesson.tokenizer.gpt2 import (
    GPT2_PATTERN,
    read_merges,
    read_vocabulary,
    spellable,
    split_into_pieces,
    tiktoken_reference,
)

HARD_CASES = [
    "2018",
    "1234567",
    "3.14159",
    "In 2018, 1234567 people computed 3.14159.",
    "a  b   c    d",
    "tabs\t\tand\ttabs",
    "line\n\n\nbreaks\r\n",
    "\n\nFirst Citizen:",
    "  leading spaces",
    "trailing spaces   ",
    "I'm sure they've said we'll go, can't you? 'Tis O'Brien's.",
    "  'sand and 's",
    "café naïve résumé Ünïcödé",
    "日本語のテキストと中文",
    "emoji 😀👍🏽 family 👨‍👩‍👧!",
    "non\u00a0breaking\u00a0 spaces\u2009thin\u3000ideographic",
    "vertical\x0btab, next\x85line, sep\u2028",
    "NUL\x00byte and \x01\x00.",
    "६ devanagari digit zero",
    "<|endoftext|> is text here",
    " ",
    "",
]


@pytest.fixture(scope="module")
def reference() -> tiktoken.Encoding:
    return tiktoken_reference()


@pytest.fixture(scope="module")
def graph_encode(tokenizer):
    """The tokenizer's graph path, traced once for scalar strings."""
    return tf.function(tokenizer, input_signature=[tf.TensorSpec([], tf.string)])


def test_special_ids_follow_gpt2_vocabulary(tokenizer):
    assert (tokenizer.pad_id, tokenizer.start_id, tokenizer.end_id) == (50257, 50258, 50259)
    assert tokenizer.vocab_size == 50260
    assert tokenizer.decode([50258, 464, 50257, 50259]) == "<|start|>The<|pad|><|end|>"


def test_whole_corpus_matches_reference_on_both_paths(
    tokenizer, graph_encode, reference, shakespeare
):
    expected = reference.encode_ordinary(shakespeare)
    assert len(expected) == 338_025
    assert tokenizer.encode(shakespeare) == expected
    assert graph_encode(tf.constant(shakespeare)).numpy().tolist() == expected


@pytest.mark.parametrize("text", HARD_CASES, ids=repr)
def test_hard_case_matches_reference(text, tokenizer, graph_encode, reference):
    expected = reference.encode_ordinary(text)
    assert tokenizer.encode(text) == expected
    assert graph_encode(tf.constant(text)).numpy().tolist() == expected
    assert tokenizer.decode(expected) == text


@pytest.mark.parametrize("text", HARD_CASES, ids=repr)
def test_graph_pieces_equal_gpt2_regex(text):
    pieces = split_into_pieces(tf.constant([text])).to_list()[0]
    assert [piece.decode("utf-8") for piece in pieces] == regex.findall(GPT2_PATTERN, text)


def test_batch_inside_tf_data_gives_the_eager_ids(tokenizer):
    dataset = tf.data.Dataset.from_tensor_slices(HARD_CASES).batch(5).map(tokenizer)
    batched = [row for batch in dataset for row in batch.to_list()]
    assert batched == [tokenizer.encode(text) for text in HARD_CASES]


def _stable(char: str) -> bool:
    """Assigned since Unicode 3.2 with the same category: every regex engine agrees on it."""
    category = unicodedata.category(char)
    return category not in ("Cn", "Cs") and unicodedata.ucd_3_2_0.category(char) == category


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_decode_inverts_encode_for_any_string(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(codec="utf-8").filter(_stable)))
def test_both_paths_match_reference_on_random_text(tokenizer, graph_encode, reference, text):
    expected = reference.encode_ordinary(text)
    assert tokenizer.encode(text) == expected
    assert graph_encode(tf.constant(text)).numpy().tolist() == expected


@pytest.fixture(scope="module")
def corpus() -> str:
    return read_text("shakespeare")


@pytest.fixture(scope="module")
def trimmed(tokenizer, corpus):
    """The tokenizer trimmed as pre-training trims it: the corpus's tokens, spellable."""
    used = {*tokenizer.encode(corpus), tokenizer.pad_id, tokenizer.start_id, tokenizer.end_id}
    vocabulary = spellable(tokenizer, sorted(used))
    small = tokenizer.trimmed(vocabulary)
    return small, vocabulary, tf.function(small, input_signature=[tf.TensorSpec([], tf.string)])


def test_a_trimmed_vocabulary_keeps_bytes_specials_and_merge_ancestors(tokenizer, trimmed):
    small, vocabulary, _ = trimmed
    assert small.vocab_size == vocabulary.size
    assert {tokenizer.id_to_token(i) for i in range(256)} <= set(small.get_vocabulary())
    assert (small.pad_id, small.start_id, small.end_id) == tuple(
        int(i) for i in vocabulary.compact([tokenizer.pad_id, tokenizer.start_id, tokenizer.end_id])
    )
    kept = set(small.get_vocabulary())
    for merge in small.merges:
        left, right = merge.split(" ")
        assert {left, right, left + right} <= kept


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_a_trimmed_tokenizer_encodes_any_string_and_decodes_it_back(trimmed, text):
    small, _, graph = trimmed
    ids = small.encode(text)
    assert small.decode(ids) == text
    assert graph(tf.constant(text)).numpy().tolist() == ids


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_trimmed_ids_are_gpt2s_wherever_gpt2s_tokens_are_kept(tokenizer, trimmed, corpus, data):
    small, vocabulary, _ = trimmed
    start = data.draw(st.integers(0, len(corpus) - 1))
    text = corpus[start : start + data.draw(st.integers(0, 300))]
    text += data.draw(st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz ,.'!?\n"), max_size=20))
    gpt2 = np.asarray(tokenizer.encode(text), dtype=np.int64)
    if np.isin(gpt2, vocabulary.gpt2_ids).all():
        assert small.encode(text) == vocabulary.compact(gpt2).tolist()


def test_prompts_the_corpus_lacks_encode_with_bytes(trimmed):
    small, _, _ = trimmed
    for text in ("Hello, computer", "日本語のテキスト", "emoji 😀👍🏽", "", "<|start|>"):
        assert small.decode(small.encode(text)) == text


def test_merges_reader_drops_header_and_blank_lines(tmp_path):
    path = tmp_path / "vocab.bpe"
    path.write_text("#version: 0.2\nĠ t\n\nh e\n", encoding="utf-8")
    assert read_merges(path) == ["Ġ t", "h e"]


def test_malformed_merge_names_its_line(tmp_path):
    path = tmp_path / "vocab.bpe"
    path.write_text("#version: 0.2\nĠ t\nbroken-line\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 3: .*'broken-line'"):
        read_merges(path)


def test_invalid_vocabulary_json_says_what_to_do(tmp_path):
    path = tmp_path / "encoder.json"
    path.write_text('{"a": 0,', encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON.*fetch"):
        read_vocabulary(path)
