"""Tokenizing tiny Shakespeare: throughput of each tokenizer and agreement with GPT-2.

Compared in one run: this book's tokenizer (eager and graph paths), KerasHub's
``BytePairTokenizer`` (both paths; it differs from GPT-2, see chapter 1) and tiktoken,
the reference. Throughput is tokens of GPT-2's stream per second of wall time: the median
of 5 timed calls of each, interleaved round after round (``interleaved_medians``) after one
untimed call that also fills the graph paths' cache of merged pieces.
"""

from __future__ import annotations

import keras_hub
import tensorflow as tf

from benchmarks.training_step import interleaved_medians
from gpt_lesson.data import fetch, read_text
from gpt_lesson.tokenizer.gpt2 import (
    load_gpt2_tokenizer,
    read_merges,
    read_vocabulary,
    tiktoken_reference,
)


def run(quick: bool) -> list[dict[str, object]]:
    """The whole corpus in both profiles: it takes well under a minute, and on a tenth of it
    the graph paths' fixed cost per call made their ratios to tiktoken different."""
    text = read_text("shakespeare")
    repeats = 5
    book = load_gpt2_tokenizer()
    keras_hub_tokenizer = keras_hub.tokenizers.BytePairTokenizer(
        vocabulary=read_vocabulary(fetch("gpt2-encoder")),
        merges=read_merges(fetch("gpt2-merges")),
    )
    reference = tiktoken_reference()
    scalar = [tf.TensorSpec([], tf.string)]
    book_graph = tf.function(book, input_signature=scalar)
    keras_hub_graph = tf.function(keras_hub_tokenizer, input_signature=scalar)
    tensor = tf.constant(text)
    candidates = {
        "tiktoken (reference)": lambda: reference.encode_ordinary(text),
        "gpt_lesson, eager": lambda: book.encode(text),
        "gpt_lesson, graph": lambda: book_graph(tensor).numpy().tolist(),
        "KerasHub, eager": lambda: keras_hub_tokenizer(text).tolist(),
        "KerasHub, graph": lambda: keras_hub_graph(tensor).numpy().tolist(),
    }
    expected = reference.encode_ordinary(text)
    ids = {name: tokenize() for name, tokenize in candidates.items()}
    seconds = interleaved_medians(candidates, repeats)
    return [
        {
            "tokenizer": name,
            "characters": len(text),
            "tokens": len(ids[name]),
            "same ids as GPT-2": ids[name] == expected,
            "median seconds": round(seconds[name], 4),
            "GPT-2 tokens per second": round(len(expected) / seconds[name]),
            "repeats": repeats,
        }
        for name in candidates
    ]
