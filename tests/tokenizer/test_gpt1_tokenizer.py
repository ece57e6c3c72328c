"""GPT-1's tokenizer on a hand-made vocabulary: ids worked out by hand, decoding gives back
the normalised text, the special tokens sit after the vocabulary, and the graph path gives
the eager ids. (A preset keeps it: tests/gpt1/test_convert.py.)"""

import json
import re

import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_lesson.tokenizer.gpt1 import APPENDED, gpt1_tokenizer_from_files


@pytest.fixture(scope="module")
def gpt1(gpt1_files):
    return gpt1_tokenizer_from_files(*gpt1_files)


@pytest.fixture(scope="module")
def ids(gpt1_files):
    """Token -> id of the hand-made vocabulary file, to write expected ids by their names."""
    return json.loads(gpt1_files[0].read_text())


def test_the_special_tokens_are_new_rows_after_the_vocabulary(gpt1, ids):
    released = len(ids)  # the file has no <unk>, so it comes first
    names = ["<unk>", *APPENDED.values()]
    assert [gpt1.token_to_id(name) for name in names] == list(range(released, released + 5))
    assert gpt1.vocab_size == released + 5
    special = gpt1.special_ids
    assert (special.pad, special.start, special.delimiter, special.extract, special.unknown) == (
        released + 1, released + 2, released + 3, released + 4, released,
    )  # fmt: skip
    assert (gpt1.start_id, gpt1.end_id, gpt1.pad_id) == (
        special.start,
        special.extract,
        special.pad,
    )


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("The cat", ["the</w>", "cat</w>"]),  # lower-cased; merges end at </w>
        ("THE CAT SAT ON THE", ["the</w>", "cat</w>", "sat</w>", "on</w>", "the</w>"]),
        ("cats", ["ca", "t", "s</w>"]),  # "cat</w>" needs the end of the word
        ("the,cat!", ["the</w>", ",</w>", "cat</w>", "!</w>"]),  # punctuation is a word
        ("  the\n\tcat  ", ["the</w>", "cat</w>"]),  # whitespace only separates
        ("thé", ["the</w>"]),  # accents stripped: "é" is "e"
        ("then", ["th", "e", "n</w>"]),
        ("ca😀t", ["ca", "<unk>", "t</w>"]),  # a character the vocabulary lacks
        ("é😀", ["e", "<unk>"]),  # an unknown last character loses its </w>
    ],
)  # fmt: skip
def test_hand_worked_ids(gpt1, ids, text, tokens):
    expected = [ids.get(token, gpt1.special_ids.unknown) for token in tokens]
    assert gpt1.encode(text) == expected


def normalised(text: str) -> str:
    """What GPT-1's tokenizer reads, for text of the hand-made alphabet: lower-cased, cut
    into runs of letters and digits and single marks, joined by single spaces."""
    return " ".join(re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text.lower()))


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_decoding_an_encoding_gives_the_normalised_text(gpt1, ids, data):
    characters = "".join(token for token in ids if len(token) == 1)
    text = data.draw(st.text(alphabet=characters + characters.upper() + " \n\t", max_size=40))
    assert gpt1.decode(gpt1.encode(text)) == normalised(text)


def test_the_graph_path_gives_the_eager_ids(gpt1):
    texts = ["The cat sat on the mat.", "", "ca😀t!", "THEN"]
    graph = tf.data.Dataset.from_tensor_slices(texts).batch(4).map(gpt1)
    assert next(iter(graph)).to_list() == [gpt1.encode(text) for text in texts]
