"""Inside a block built by ``build_gpt``: its sublayers by name, and its attention weights.

KerasHub's ``TransformerDecoder`` neither returns its attention weights nor names its
sublayers publicly, so this module reads the block's private attributes, once, in
:func:`block_parts`. It is the only place in the book (package, chapters and tests) that
touches them, and it checks at import that KerasHub is the version it was written for, so
that an upgrade fails here, loudly, and not somewhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import keras_hub
import numpy as np

from gpt_lesson.config import GPTConfig

WRITTEN_FOR = "0.32"  # the KerasHub release whose TransformerDecoder internals this reads
if not keras_hub.__version__.startswith(WRITTEN_FOR):
    raise ImportError(
        f"gpt_lesson.attention reads TransformerDecoder internals of KerasHub {WRITTEN_FOR}, "
        f"but KerasHub {keras_hub.__version__} is installed: install keras-hub=={WRITTEN_FOR}.0 "
        "(requirements.txt) or update this module."
    )


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


def attention_weights(model: keras.Model, config: GPTConfig, token_ids) -> np.ndarray:
    """Every block's attention weights on ``token_ids`` (batch, T), without dropout.

    Returns an array (num_layers, batch, num_heads, T, T): entry [l, b, h, i, j] is how much
    position i attends to position j in head h of block l. Each row sums to 1, and the
    causal mask makes every entry with j > i zero.
    """
    token_ids = keras.ops.convert_to_tensor(token_ids, dtype="int32")
    length = keras.ops.shape(token_ids)[1]
    causal = keras.ops.tril(keras.ops.ones((1, length, length), dtype="bool"))
    x = model.get_layer("embedding")(token_ids)
    weights = []
    for index in range(config.num_layers):
        block = model.get_layer(f"decoder_{index}")
        parts = block_parts(block)
        attended = parts.attention_norm(x) if config.normalize_first else x
        _, scores = parts.self_attention(
            query=attended,
            value=attended,
            attention_mask=causal,
            return_attention_scores=True,
            training=False,
        )
        weights.append(keras.ops.convert_to_numpy(scores))
        x = block(x, training=False)
    return np.stack(weights)
