"""From text to batches of (inputs, labels) for a causal language model.

Tokenizing tiny Shakespeare takes seconds, so token ids are cached on disk as ``.npy``
files named after the text's sha256 and the tokenizer. The book trains on contiguous
windows of the context length, each label the next token, shuffled. (The seed's framing,
windows of 63 tokens wrapped in start and end ids, lives with the rest of the seed's code
path in ``gpt_lesson.seed.blog``.)

The validation text is the last 10% of the *characters*, so bits per character can be
compared with models that use any other tokenizer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from gpt_lesson._files import replaced_atomically
from gpt_lesson.data import data_dir
from gpt_lesson.tokenizer.gpt2 import BookGPT2Tokenizer


@dataclass(frozen=True)
class TextSplit:
    """A corpus cut by characters into a training and a validation part."""

    train: str
    validation: str


def split_text(text: str, validation_fraction: float = 0.1) -> TextSplit:
    """The last ``validation_fraction`` of the characters is the validation text."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}.")
    cut = round(len(text) * (1.0 - validation_fraction))
    return TextSplit(train=text[:cut], validation=text[cut:])


def token_ids(text: str, tokenizer: BookGPT2Tokenizer, cache: bool = True) -> np.ndarray:
    """The token ids of ``text`` (int32), read from the on-disk cache when possible.

    Tokenizes with the graph path, i.e. the same code ``tf.data`` would run.
    """
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    path = data_dir() / "tokens" / f"gpt2-{digest}.npy"
    if cache and path.exists():
        return np.load(path)
    ids = tokenize_in_graph(tokenizer, text).numpy().astype(np.int32)
    if cache:
        _save_atomically(path, ids)
    return ids


def tokenize_in_graph(tokenizer: BookGPT2Tokenizer, text: str) -> tf.Tensor:
    """Tokenize one string with the tokenizer's graph path (as inside ``Dataset.map``)."""
    return tf.function(tokenizer)(tf.constant(text))


def _save_atomically(path: Path, array: np.ndarray) -> None:
    with replaced_atomically(path, suffix=".npy") as temporary:
        np.save(temporary, array)


def lm_windows(
    ids: np.ndarray,
    sequence_length: int,
    batch_size: int,
    pad_id: int,
    shuffle: bool,
    seed: int = 0,
) -> tf.data.Dataset:
    """Contiguous windows of ``sequence_length`` inputs whose labels are the next tokens.

    Window k reads ids[k*L : k*L + L + 1], so every token after the first is a label
    exactly once. The last, shorter window is padded with ``pad_id`` in both inputs and
    labels (the loss ignores pad labels), so a validation pass covers every token.
    With ``shuffle`` the windows are reshuffled every epoch from a fixed seed.
    """
    if len(ids) < 2:
        raise ValueError(f"Need at least 2 tokens to make one (input, label) pair, got {len(ids)}.")
    length = sequence_length
    num_windows = -(-(len(ids) - 1) // length)  # ceil
    padded = np.full(num_windows * length + 1, pad_id, dtype=np.int32)
    padded[: len(ids)] = ids
    inputs = np.lib.stride_tricks.sliding_window_view(padded[:-1], length)[::length]
    labels = np.lib.stride_tricks.sliding_window_view(padded[1:], length)[::length]
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if shuffle:
        dataset = dataset.shuffle(num_windows, seed=seed, reshuffle_each_iteration=True)
    return prefetched(dataset.batch(batch_size))


def shifted_lm_windows(
    ids: np.ndarray, sequence_length: int, batch_size: int, pad_id: int, seed: int = 0
) -> tf.data.Dataset:
    """Endless training batches: pass after pass over ``ids``, each cut at a new place.

    Pass p rotates the ids left by an offset in [0, sequence_length) before cutting them into
    ``lm_windows``' windows, and visits the windows in a new order. Offset and order are drawn
    from (``seed``, p), so the stream is the same on every run and a resumed run skips exactly
    the batches it used. A pass has as many windows as ``lm_windows`` makes, so an epoch of
    ``steps_per_epoch`` batches is one pass; every token is a label once per pass but one (the
    first after the cut), and at most one label per pass crosses the seam from the text's end
    to its start.
    """
    if len(ids) < 2:
        raise ValueError(f"Need at least 2 tokens to make one (input, label) pair, got {len(ids)}.")
    length = sequence_length
    num_windows = -(-(len(ids) - 1) // length)  # ceil
    text = tf.constant(ids, dtype=tf.int32)
    padding = tf.fill([num_windows * length + 1 - len(ids)], tf.constant(pad_id, tf.int32))

    def one_pass(number: tf.Tensor) -> tf.data.Dataset:
        seeds = tf.random.experimental.stateless_split(tf.stack([seed, number]), num=2)
        offset = tf.random.stateless_uniform([], seeds[0], maxval=length, dtype=tf.int32)
        cut = tf.concat([tf.roll(text, -offset, axis=0), padding], axis=0)
        order = tf.random.experimental.stateless_shuffle(tf.range(num_windows), seeds[1])
        inputs = tf.gather(tf.reshape(cut[:-1], [num_windows, length]), order)
        labels = tf.gather(tf.reshape(cut[1:], [num_windows, length]), order)
        return tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(batch_size)

    return prefetched(tf.data.Dataset.counter().flat_map(one_pass))


def prefetched(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` preparing its next batch while a step runs, with ``tf.data``'s autotuner off.

    The autotuner's background thread sleeps 10 ms, 20 ms, 40 ms, ... between its rounds,
    and an iterator's tear-down was measured to wait for its next wake-up: a ``fit`` (and
    every epoch or validation pass, each with its own iterator) could end up to twice as
    late as its last step (appendix A1 measures it). These pipelines read arrays already
    in memory, so there is nothing to tune; the next batch is still prepared in the
    background.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)
