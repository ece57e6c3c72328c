"""Every use of KerasHub's, Keras' and TensorFlow's internals, in one place, checked against
the versions it was written for.

Three things the book needs are not public in KerasHub:

- the sublayers of a ``TransformerDecoder`` block (to read its attention weights, and to
  load a released checkpoint into them), which :func:`block_parts` names;
- the hooks of ``BytePairTokenizer`` that choose how text is cut into pieces before the
  merges, which :class:`PieceSplittingTokenizer` overrides so that both the eager and the
  graph path cut text exactly as GPT-2 does (the cutting itself is ``gpt_lesson.tokenizer.gpt2``'s);
- the same tokenizer's hooks that build its ``tokenizers`` pipeline, which
  :class:`PipelineTokenizer` overrides for a BPE that is not byte-level (GPT-1's,
  ``gpt_lesson.tokenizer.gpt1``).

Four more are not public in Keras or TensorFlow:

- the running sums of a ``Mean`` metric (Keras' loss tracker), from which
  :func:`mean_sums` gives each step's own loss (``gpt_lesson.pretraining.train``);
- the per-process numbers in Keras' variable paths (``seed_generator_7``, ``adam_w_1``),
  which :func:`stable_path` drops so that a saved training state matches a new process's
  model by name (``gpt_lesson.pretraining.resume``);
- whether TensorFlow runs oneDNN's kernels (:func:`onednn_enabled`), which TensorFlow
  decides at its start and tells only through a private module;
- Adam's moments of a variable (:func:`adam_moments`), which chapter 4's layer probe reads
  (``gpt_lesson.seed.layer_probe``) and Keras keeps in private slots.

Nothing else in the package, the chapters or the tests touches a private KerasHub, Keras
or TensorFlow name, and this module refuses to import under other releases than those it
was written for, so that an upgrade fails here, loudly, and not somewhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import keras
import keras_hub
import numpy as np
import tensorflow as tf
import tokenizers
from tokenizers import pre_tokenizers

WRITTEN_FOR = "0.32"  # the KerasHub release whose internals this module reads
KERAS_WRITTEN_FOR = "3.15"  # and Keras'
TENSORFLOW_WRITTEN_FOR = "2.21"  # and TensorFlow's


def check_version(package: str, installed: str, written_for: str) -> None:
    """Refuse to run on a release of ``package`` whose internals this module has not read."""
    if not installed.startswith(written_for):
        raise ImportError(
            f"gpt_lesson._keras_hub reads internals of {package} {written_for}, but {package} "
            f"{installed} is installed: install {package} {written_for} (requirements.txt) "
            "or update this module."
        )


check_version("KerasHub", keras_hub.__version__, WRITTEN_FOR)
check_version("Keras", keras.__version__, KERAS_WRITTEN_FOR)
check_version("TensorFlow", tf.__version__, TENSORFLOW_WRITTEN_FOR)


@dataclass(frozen=True)
class BlockParts:
    """The sublayers of one ``TransformerDecoder`` block, in the order a post-LN block runs
    them: attention, add & norm, the two feed-forward matrices, add & norm."""

    self_attention: keras.layers.MultiHeadAttention
    attention_norm: keras.layers.LayerNormalization
    feedforward_in: keras.layers.Dense  # d -> f, with the activation
    feedforward_out: keras.layers.Dense  # f -> d
    feedforward_norm: keras.layers.LayerNormalization
    cross_attention: keras.layers.Layer | None  # None: a decoder-only block, as in GPT


def block_parts(block: keras_hub.layers.TransformerDecoder) -> BlockParts:
    """The sublayers of ``block`` (a built ``TransformerDecoder``), by public names."""
    return BlockParts(
        self_attention=block._self_attention_layer,
        attention_norm=block._self_attention_layer_norm,
        feedforward_in=block._feedforward_intermediate_dense,
        feedforward_out=block._feedforward_output_dense,
        feedforward_norm=block._feedforward_layer_norm,
        cross_attention=block._cross_attention_layer,
    )


class RoleTokenizer(keras_hub.tokenizers.BytePairTokenizer):
    """KerasHub's byte-pair tokenizer with its special tokens named by role.

    Subclasses give ``special_tokens_by_role`` ({"pad_token": "<|pad|>", ...}), which
    KerasHub's preprocessors read as ``pad_token_id``, ``start_token_id`` and
    ``end_token_id``.
    """

    special_tokens_by_role: dict[str, str] = {}

    def __init__(self, vocabulary=None, merges=None, **kwargs) -> None:
        for role, token in self.special_tokens_by_role.items():
            self._add_special_token(token, role)
        # Special tokens are text like any other when they appear in a string.
        kwargs.setdefault("unsplittable_tokens", [])
        super().__init__(vocabulary=vocabulary, merges=merges, **kwargs)


class PieceSplittingTokenizer(RoleTokenizer):
    """KerasHub's byte-pair tokenizer with GPT-2's own piece splitting on both paths.

    Subclasses give ``split_into_pieces`` (strings -> ragged pieces, graph-safe).
    """

    split_into_pieces: Callable[[tf.Tensor], tf.RaggedTensor]

    def _set_vocabulary_and_merges_tokenizers(self, vocabulary, merges) -> None:
        # Eager path: KerasHub installs Llama 3's splitting regex; use GPT-2's instead.
        super()._set_vocabulary_and_merges_tokenizers(vocabulary, merges)
        self._tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(
            add_prefix_space=False, use_regex=True
        )

    def _tokenize_tf(self, inputs):
        # Graph path: KerasHub's merges and cache, with GPT-2's exact pieces.
        self._maybe_initialized_tf()
        inputs = tf.convert_to_tensor(inputs)
        unbatched = inputs.shape.rank == 0
        pieces = type(self).split_into_pieces(inputs[tf.newaxis] if unbatched else inputs)
        flat = pieces.flat_values
        cached = self.cache.lookup(flat)
        unseen = tf.boolean_mask(flat, (cached == "") & (flat != ""))
        merged = tf.cond(
            tf.size(unseen) > 0,
            lambda: self._merge_and_lookup(unseen, flat),
            lambda: cached,
        )
        ids = self.token_to_id_map.lookup(tf.strings.split(merged, sep=" "))
        ids = tf.RaggedTensor.from_row_splits(
            ids.flat_values, tf.gather(ids.row_splits, pieces.row_splits)
        )
        return ids[0] if unbatched else ids

    def _merge_and_lookup(self, unseen: tf.Tensor, pieces: tf.Tensor) -> tf.Tensor:
        self._bpe_merge_and_update_cache_tf(unseen)
        return self.cache.lookup(pieces)


class PipelineTokenizer(RoleTokenizer):
    """KerasHub's byte-pair tokenizer running a ``tokenizers`` pipeline of the subclass's
    (:meth:`build_pipeline`) on both paths.

    KerasHub's graph path is GPT-2's byte-level BPE, in TensorFlow ops; a BPE on characters
    with an end-of-word suffix (GPT-1's) does not fit it. Here the graph path (inside
    ``tf.data`` or a ``tf.function``) runs the same pipeline through ``tf.py_function``, so
    the two paths cannot disagree; the price is that the graph holds a Python call (it
    cannot be exported to a SavedModel). Decoding runs eagerly only.
    """

    def build_pipeline(
        self, vocabulary: dict[str, int], merges: list[tuple[str, str]]
    ) -> tokenizers.Tokenizer:
        raise NotImplementedError

    def _set_vocabulary_and_merges_tf(self, vocabulary, merges) -> None:
        # No byte-level tables: the graph path runs the pipeline too.
        self.vocabulary, self.merges = vocabulary.copy(), merges

    def _set_vocabulary_and_merges_tokenizers(self, vocabulary, merges) -> None:
        self.vocabulary, self.merges = vocabulary.copy(), merges
        rules = [tuple(m.split(" ")) for m in merges if not m.lstrip().startswith("#version")]
        self._tokenizer = self.build_pipeline(self.vocabulary, rules)

    def _tokenize_tf(self, inputs):
        inputs = tf.convert_to_tensor(inputs)
        flat, lengths = tf.py_function(
            self._encode_flat, [tf.reshape(inputs, [-1])], (tf.int32, tf.int64)
        )
        ids = tf.RaggedTensor.from_row_lengths(
            tf.ensure_shape(flat, [None]), tf.ensure_shape(lengths, [None])
        )
        return ids[0] if inputs.shape.rank == 0 else ids

    def _encode_flat(self, texts: tf.Tensor) -> tuple[np.ndarray, np.ndarray]:
        rows = self._tokenize_tokenizers([text.decode("utf-8") for text in texts.numpy()])
        flat = [int(i) for row in rows for i in row]
        return np.asarray(flat, np.int32), np.asarray([len(row) for row in rows], np.int64)

    def _detokenize_tf(self, inputs):
        raise NotImplementedError(
            f"{type(self).__name__} decodes eagerly only: call detokenize outside tf.data "
            "and tf.function."
        )


def mean_sums(metric: keras.metrics.Mean) -> tuple[float, float]:
    """The running total and count behind a ``Mean`` metric's value (total / count)."""
    return float(metric.total.numpy()), float(metric.count.numpy())


# Keras numbers some names per process: the second optimizer is ``adam_w_1``, dropout's
# random states live in ``seed_generator_7``.
_SEED_GENERATOR = re.compile(r"seed_generator_\d+")


def stable_path(variable: keras.Variable, drop_owner: bool = False) -> str:
    """``variable.path`` without the numbers Keras gives per process: a seed generator's,
    and (``drop_owner``, for an optimizer's variables) the owner's name before the first
    ``/``."""
    path = variable.path.split("/", 1)[-1] if drop_owner else variable.path
    return _SEED_GENERATOR.sub("seed_generator", path)


def onednn_enabled() -> bool:
    """Whether this process's TensorFlow runs oneDNN's kernels (decided at its start)."""
    from tensorflow.python.util import _pywrap_util_port  # TensorFlow's own check

    return bool(_pywrap_util_port.IsMklEnabled())


def adam_moments(
    optimizer: keras.optimizers.Adam, variable: keras.Variable
) -> tuple[np.ndarray, np.ndarray]:
    """Adam's first and second moments of ``variable`` (not bias-corrected), as arrays."""
    index = optimizer._get_variable_index(variable)  # Keras' own map to its slots
    return optimizer._momentums[index].numpy(), optimizer._velocities[index].numpy()
