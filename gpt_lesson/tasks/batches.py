"""A task's sentences as batches: transformed ids, labels, and padding by length bucket.

CoLA's sentences are short and of many lengths, so batches group sentences of similar
length and are padded only as far as they need (chapter 5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from gpt_lesson.pretraining import pipeline
from gpt_lesson.tasks.transformations import Task, language_model_labels


@dataclass(frozen=True)
class Encoded:
    """Transformed examples (model ids) and their labels. An example is one sequence
    (without padding) when ``combine`` is "one", else an array (sequences, length) of its
    sequences, padded to the longest of them (see ``Task``)."""

    sequences: tuple[np.ndarray, ...]
    labels: np.ndarray
    combine: str = "one"

    def __len__(self) -> int:
        return len(self.sequences)


def encode(
    task: Task,
    examples: Sequence[Sequence[Sequence[int]]],
    labels: Sequence[int],
    to_model_ids: Callable[[list[int]], np.ndarray],
    pad: int,
) -> Encoded:
    """Each example's texts through ``task``'s transformation, as model ids."""
    encoded = []
    for texts in examples:
        rows = [np.asarray(to_model_ids(sequence)) for sequence in task.transform(*texts)]
        encoded.append(rows[0] if task.combine == "one" else pad_batch(rows, pad))
    return Encoded(tuple(encoded), np.asarray(labels, dtype=np.int32), task.combine)


def lm_labels(example: np.ndarray, extract: int, pad: int) -> np.ndarray:
    """``language_model_labels`` of each of an example's sequences."""
    if example.ndim == 1:
        return language_model_labels(example, extract, pad)
    return np.stack([language_model_labels(row, extract, pad) for row in example])


BUCKET_WIDTH = 8


def bucket_boundaries(max_length: int, width: int = BUCKET_WIDTH) -> list[int]:
    """Upper length limits of the buckets: 9, 17, 25, ... up to ``max_length``."""
    return list(range(width + 1, max_length + 1, width))


def classification_dataset(
    data: Encoded,
    batch_size: int,
    pad: int,
    extract: int,
    shuffle: bool,
    seed: int = 0,
    fixed_shapes: bool = False,
) -> tf.data.Dataset:
    """Batches of (ids, {"label", "lm"}) with sequences of similar length together.

    ``bucket_by_sequence_length`` pads each batch only to its longest sequence, so the
    few long sentences do not make every batch long: dynamic padding. With
    ``fixed_shapes``, every batch of a bucket is padded to the bucket's limit instead,
    so that XLA compiles one program per bucket (the batches are the same ones).
    """
    labels_lm = [lm_labels(s, extract, pad) for s in data.sequences]

    def examples():
        for ids, label, lm in zip(data.sequences, data.labels, labels_lm, strict=True):
            yield ids, {"label": np.int32(label), "lm": lm}

    shape = (None,) * data.sequences[0].ndim  # (length,), or (sequences, length)
    signature = (
        tf.TensorSpec(shape, tf.int32),
        {"label": tf.TensorSpec((), tf.int32), "lm": tf.TensorSpec(shape, tf.int32)},
    )
    dataset = tf.data.Dataset.from_generator(examples, output_signature=signature).cache()
    if shuffle:
        dataset = dataset.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    longest = max(s.shape[-1] for s in data.sequences)
    # Padding to a limit needs one above the longest sequence (and gives the same buckets).
    boundaries = bucket_boundaries(longest + (BUCKET_WIDTH if fixed_shapes else 0))
    dataset = dataset.bucket_by_sequence_length(
        element_length_func=lambda ids, targets: tf.shape(ids)[-1],
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padding_values=(pad, {"label": 0, "lm": pad}),
        pad_to_bucket_boundary=fixed_shapes,
    )
    return pipeline.prefetched(dataset)


def pad_batch(sequences: Sequence[np.ndarray], pad: int) -> np.ndarray:
    """Sequences (or examples of several) stacked, right-padded with ``pad`` to the largest."""
    shape = np.max([np.shape(s) for s in sequences], axis=0)
    batch = np.full((len(sequences), *shape), pad, dtype=np.int32)
    for row, sequence in enumerate(sequences):
        batch[(row, *(slice(0, n) for n in np.shape(sequence)))] = sequence
    return batch
