"""``GPT1Backbone``: GPT-1's Transformer as a KerasHub backbone, token ids -> hidden states.

ids (batch, seq) -> token + position embeddings -> dropout -> N decoder blocks -> hidden
states (``GPT1CausalLM`` turns them into logits).

Each block is KerasHub's ``TransformerDecoder`` called without an encoder sequence, so it
has no cross-attention: masked self-attention and a feed-forward network, each wrapped in
a residual connection and a layer norm (after the branch in GPT-1, before it in GPT-2's
pre-LN). The output projection is the transpose of the token embedding (tied weights, as
in the paper), and there is no softmax inside: the losses take logits.

It follows KerasHub's ``GPT2Backbone``, except that it takes one ``GPTConfig`` instead of
restating its fields: the fields are the model's one description, and ``GPTConfig`` checks
them. Its saved config stays flat (the fields one by one), as KerasHub's presets expect.
"""

from __future__ import annotations

import dataclasses

import keras
import keras_hub

from gpt_lesson.config import GPTConfig


def gelu_approximate(x):
    """GELU by its tanh approximation, which GPT-1 and GPT-2 were trained with (the
    released checkpoints need it; ``"gelu"`` is Keras' exact, erf-based one)."""
    return keras.activations.gelu(x, approximate=True)


# Activation names of GPTConfig that keras.activations.get does not know.
ACTIVATIONS = {"gelu_approximate": gelu_approximate}


@keras.saving.register_keras_serializable(package="gpt_lesson")
class GPT1Backbone(keras_hub.models.Backbone):
    """The Transformer of ``config``: token ids -> final hidden states (batch, seq, d).

    Weights are initialised N(0, ``config.initializer_range``); :attr:`gpt_config` gives the
    config back.
    """

    def __init__(self, config: GPTConfig, dtype=None, **kwargs) -> None:
        initializer = keras.initializers.RandomNormal(stddev=config.initializer_range)
        # === Layers ===
        self.embedding = keras_hub.layers.TokenAndPositionEmbedding(
            vocabulary_size=config.vocab_size,
            sequence_length=config.sequence_length,
            embedding_dim=config.hidden_dim,
            tie_weights=True,
            embeddings_initializer=initializer,
            dtype=dtype,
            name="embedding",
        )
        self.embedding_dropout = keras.layers.Dropout(
            config.dropout, dtype=dtype, name="embedding_dropout"
        )
        self.transformer_layers = [
            keras_hub.layers.TransformerDecoder(
                intermediate_dim=config.intermediate_dim,
                num_heads=config.num_heads,
                dropout=config.dropout,
                activation=ACTIVATIONS.get(config.activation, config.activation),
                layer_norm_epsilon=config.layer_norm_epsilon,
                kernel_initializer=initializer,
                normalize_first=config.normalize_first,
                dtype=dtype,
                name=f"decoder_{index}",
            )
            for index in range(config.num_layers)
        ]
        # Pre-LN leaves the last residual stream unnormalised; post-LN ends normalised.
        self.final_layer_norm = (
            keras.layers.LayerNormalization(
                epsilon=config.layer_norm_epsilon, dtype=dtype, name="final_layer_norm"
            )
            if config.normalize_first
            else None
        )
        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        x = self.embedding_dropout(self.embedding(token_ids))
        for block in self.transformer_layers:
            x = block(x)
        if self.final_layer_norm is not None:
            x = self.final_layer_norm(x)
        super().__init__(inputs=token_ids, outputs=x, dtype=dtype, **kwargs)
        # === Config ===
        self.gpt_config = config
        self.token_embedding = self.embedding.token_embedding  # W_e, also the output layer
        # KerasHub's inherited GPT2CausalLM builds the generation cache from these three.
        self.num_layers, self.num_heads, self.hidden_dim = (
            config.num_layers,
            config.num_heads,
            config.hidden_dim,
        )

    def get_config(self) -> dict:
        return {**super().get_config(), **dataclasses.asdict(self.gpt_config)}

    @classmethod
    def from_config(cls, config: dict) -> GPT1Backbone:
        """The inverse of :meth:`get_config`: the ``GPTConfig`` fields, then Keras' own."""
        fields = {field.name for field in dataclasses.fields(GPTConfig)}
        gpt_config = GPTConfig(**{k: v for k, v in config.items() if k in fields})
        return cls(gpt_config, **{k: v for k, v in config.items() if k not in fields})
