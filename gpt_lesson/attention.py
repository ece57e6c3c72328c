"""The attention weights of a model built by ``build_gpt``: layers × heads × queries × keys.

KerasHub's ``TransformerDecoder`` does not return its attention weights, so this module
calls the block's attention sublayer itself, through the block's private attributes. It is
the only place in the package that touches them, and it checks at import that KerasHub is
the version it was written for, so that an upgrade fails here, loudly, and not somewhere else.
"""

from __future__ import annotations

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
        attended = block._self_attention_layer_norm(x) if config.normalize_first else x
        _, scores = block._self_attention_layer(
            query=attended,
            value=attended,
            attention_mask=causal,
            return_attention_scores=True,
            training=False,
        )
        weights.append(keras.ops.convert_to_numpy(scores))
        x = block(x, training=False)
    return np.stack(weights)
