"""GPT-1 as a Keras model, assembled from KerasHub layers.

ids (batch, seq) -> token + position embeddings -> dropout -> N decoder blocks -> logits.

Each block is KerasHub's ``TransformerDecoder`` called without an encoder sequence, so it
has no cross-attention: masked self-attention and a feed-forward network, each wrapped in
a residual connection and a layer norm. The output projection is the transpose of the
token embedding (tied weights, as in the paper), and there is no softmax inside: the
losses take logits.
"""

from __future__ import annotations

import keras
import keras_hub

from gpt_lesson.config import GPTConfig


def build_gpt(config: GPTConfig) -> keras.Model:
    """A GPT-1-style causal language model for ``config``, initialised N(0, 0.02)."""
    initializer = keras.initializers.RandomNormal(stddev=config.initializer_range)
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedding = keras_hub.layers.TokenAndPositionEmbedding(
        vocabulary_size=config.vocab_size,
        sequence_length=config.sequence_length,
        embedding_dim=config.hidden_dim,
        tie_weights=True,
        embeddings_initializer=initializer,
        name="embedding",
    )
    x = embedding(token_ids)
    x = keras.layers.Dropout(config.dropout, name="embedding_dropout")(x)
    for index in range(config.num_layers):
        x = keras_hub.layers.TransformerDecoder(
            intermediate_dim=config.intermediate_dim,
            num_heads=config.num_heads,
            dropout=config.dropout,
            activation=config.activation,
            layer_norm_epsilon=config.layer_norm_epsilon,
            kernel_initializer=initializer,
            normalize_first=config.normalize_first,
            name=f"decoder_{index}",
        )(x)
    if config.normalize_first:  # pre-LN leaves the last residual stream unnormalised
        x = keras.layers.LayerNormalization(
            epsilon=config.layer_norm_epsilon, name="final_layer_norm"
        )(x)
    logits = embedding.token_embedding(x, reverse=True)
    return keras.Model(token_ids, logits, name="gpt")


def parameter_count(config: GPTConfig) -> int:
    """The number of weights of ``build_gpt(config)``, from the config alone.

    Embeddings V*d + T*d; per block: attention 4(d*d + d), feed-forward
    d*f + f + f*d + d, two layer norms 2(2d); a final layer norm 2d for pre-LN.
    The output projection is tied to the token embedding, so it adds nothing.
    """
    d, f = config.hidden_dim, config.intermediate_dim
    embeddings = (config.vocab_size + config.sequence_length) * d
    attention = 4 * (d * d + d)
    feed_forward = d * f + f + f * d + d
    layer_norms = 2 * (2 * d)
    final_norm = 2 * d if config.normalize_first else 0
    return embeddings + config.num_layers * (attention + feed_forward + layer_norms) + final_norm
