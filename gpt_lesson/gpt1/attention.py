"""Attention weights: what each position of each block looks at.

KerasHub's ``TransformerDecoder`` does not return its attention weights, so this module
runs each block's attention layer itself, once more, with ``return_attention_scores``; the
block's sublayers come from ``gpt_lesson._keras_hub``, the one module that reads KerasHub's
internals.
"""

from __future__ import annotations

import keras
import numpy as np

from gpt_lesson._keras_hub import block_parts
from gpt_lesson.gpt1.causal_lm import GPT1CausalLM


def attention_weights(model: GPT1CausalLM, token_ids) -> np.ndarray:
    """Every block's attention weights on ``token_ids`` (batch, T), without dropout.

    Returns an array (num_layers, batch, num_heads, T, T): entry [l, b, h, i, j] is how much
    position i attends to position j in head h of block l. Each row sums to 1, and the
    causal mask makes every entry with j > i zero.
    """
    token_ids = keras.ops.convert_to_tensor(token_ids, dtype="int32")
    length = keras.ops.shape(token_ids)[1]
    causal = keras.ops.tril(keras.ops.ones((1, length, length), dtype="bool"))
    backbone = model.backbone
    x = backbone.embedding(token_ids)
    weights = []
    for block in backbone.transformer_layers:
        parts = block_parts(block)
        attended = parts.attention_norm(x) if backbone.gpt_config.normalize_first else x
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
