"""GPT-1 as KerasHub models: ``GPT1Backbone`` (ids -> hidden states) and ``GPT1CausalLM``.

ids (batch, seq) -> token + position embeddings -> dropout -> N decoder blocks -> hidden
states -> logits.

Each block is KerasHub's ``TransformerDecoder`` called without an encoder sequence, so it
has no cross-attention: masked self-attention and a feed-forward network, each wrapped in
a residual connection and a layer norm (after the branch in GPT-1, before it in GPT-2's
pre-LN). The output projection is the transpose of the token embedding (tied weights, as
in the paper), and there is no softmax inside: the losses take logits.

The two classes follow KerasHub's ``GPT2Backbone`` and ``GPT2CausalLM``, so a trained run
is used like any KerasHub model: ``GPT1CausalLM.from_preset(folder)``, then
``generate(["ROMEO:", "JULIET:"], max_length=64)`` with any of KerasHub's samplers.
GPT-1 and GPT-2 share their decoding loop; ``GPT1CausalLM`` inherits ``GPT2CausalLM``'s
and gives it the one thing that differs, the forward pass through the cache.
"""

from __future__ import annotations

import dataclasses

import keras
import keras_hub
from keras import ops

from gpt_lesson.config import GPTConfig
from gpt_lesson.deferred import Deferred
from gpt_lesson.sampler_settings import check_sampler


def gelu_approximate(x):
    """GELU by its tanh approximation, which GPT-1 and GPT-2 were trained with (the
    released checkpoints need it; ``"gelu"`` is Keras' exact, erf-based one)."""
    return keras.activations.gelu(x, approximate=True)


# Activation names of GPTConfig that keras.activations.get does not know.
ACTIVATIONS = {"gelu_approximate": gelu_approximate}


@keras.saving.register_keras_serializable(package="gpt_lesson")
class GPT1Backbone(keras_hub.models.Backbone):
    """The Transformer of ``GPTConfig``: token ids -> final hidden states (batch, seq, d).

    The arguments are ``GPTConfig``'s fields; :meth:`from_gpt_config` builds it from one
    and :attr:`gpt_config` gives it back. Weights are initialised N(0, 0.02).
    """

    def __init__(
        self,
        vocab_size: int,
        sequence_length: int,
        hidden_dim: int,
        num_layers: int,
        num_heads: int,
        intermediate_dim: int,
        dropout: float,
        normalize_first: bool,
        activation: str,
        layer_norm_epsilon: float,
        initializer_range: float,
        dtype=None,
        **kwargs,
    ) -> None:
        config = GPTConfig(  # refuses shapes that cannot work, with what to change
            vocab_size, sequence_length, hidden_dim, num_layers, num_heads, intermediate_dim,
            dropout, normalize_first, activation, layer_norm_epsilon, initializer_range,
        )  # fmt: skip
        initializer = keras.initializers.RandomNormal(stddev=initializer_range)
        # === Layers ===
        self.embedding = keras_hub.layers.TokenAndPositionEmbedding(
            vocabulary_size=vocab_size,
            sequence_length=sequence_length,
            embedding_dim=hidden_dim,
            tie_weights=True,
            embeddings_initializer=initializer,
            dtype=dtype,
            name="embedding",
        )
        self.embedding_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embedding_dropout"
        )
        self.transformer_layers = [
            keras_hub.layers.TransformerDecoder(
                intermediate_dim=intermediate_dim,
                num_heads=num_heads,
                dropout=dropout,
                activation=ACTIVATIONS.get(activation, activation),
                layer_norm_epsilon=layer_norm_epsilon,
                kernel_initializer=initializer,
                normalize_first=normalize_first,
                dtype=dtype,
                name=f"decoder_{index}",
            )
            for index in range(num_layers)
        ]
        # Pre-LN leaves the last residual stream unnormalised; post-LN ends normalised.
        self.final_layer_norm = (
            keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype=dtype, name="final_layer_norm"
            )
            if normalize_first
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
        self.num_layers, self.num_heads, self.hidden_dim = num_layers, num_heads, hidden_dim

    @classmethod
    def from_gpt_config(cls, config: GPTConfig, **kwargs) -> GPT1Backbone:
        return cls(**dataclasses.asdict(config), **kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), **dataclasses.asdict(self.gpt_config)}


@keras.saving.register_keras_serializable(package="gpt_lesson")
class GPT1CausalLM(keras_hub.models.GPT2CausalLM):
    """Token ids -> next-token logits (batch, seq, vocab), through the tied embedding.

    With a preprocessor (as :func:`gpt_lesson.presets.load_causal_lm` gives one) it takes
    text: ``generate`` tokenizes a batch of prompts, runs KerasHub's compiled sampling loop
    with :meth:`call_with_cache`, stops at ``stop_token_ids`` and detokenizes.
    """

    backbone_cls = GPT1Backbone
    # Text in and out needs TensorFlow; the model itself runs on any Keras backend.
    preprocessor_cls = Deferred("gpt_lesson.causal_lm_preprocessor", "GPT1CausalLMPreprocessor")

    @classmethod
    def from_config(cls, config: dict) -> GPT1CausalLM:
        """Keras rebuilds a saved preprocessor by its registered name, which exists only
        once its module is imported: reading ``preprocessor_cls`` imports it."""
        if config.get("preprocessor") is not None:
            _ = cls.preprocessor_cls
        return super().from_config(config)

    def generate(self, inputs, max_length=None, stop_token_ids="auto", strip_prompt=False):
        """KerasHub's ``generate``, refusing a ``max_length`` past the learned positions."""
        context = self.backbone.gpt_config.sequence_length
        if max_length is not None and max_length > context:
            raise ValueError(
                f"max_length={max_length} is more than the model's context of "
                f"sequence_length={context} positions: pass max_length={context} or less."
            )
        self.check_prompts_fit(inputs, max_length or self.preprocessor.sequence_length)
        sampler = getattr(self, "sampler", None)  # set by compile (a name becomes a sampler)
        if sampler is not None:
            check_sampler(sampler, self.backbone.gpt_config.vocab_size)
        return super().generate(inputs, max_length, stop_token_ids, strip_prompt)

    def check_prompts_fit(self, inputs, max_length: int) -> None:
        """Refuse text prompts of ``max_length`` tokens or more: KerasHub's preprocessor
        would cut their end silently (inside a character, for bytes of one) and leave no
        room for a new token."""
        if self.preprocessor is None:
            return
        prompts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(prompts, list | tuple) or not all(isinstance(p, str) for p in prompts):
            return  # token ids or tensors: the caller chose the length
        tokenizer = self.preprocessor.tokenizer
        lengths = [len(tokenizer.encode(prompt)) for prompt in prompts]
        if max(lengths, default=0) >= max_length:
            raise ValueError(
                f"A prompt of {max(lengths)} tokens does not fit max_length={max_length} with "
                f"room for a new token: shorten it, or pass max_length={max(lengths) + 1} or "
                f"more (at most the context, {self.backbone.gpt_config.sequence_length})."
            )

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """One forward pass over ``token_ids`` that reads and writes the key/value cache.

        ``token_ids`` (batch, n) sit at positions ``cache_update_index`` to
        ``cache_update_index + n - 1``: the whole prompt when the cache is filled (index 0),
        one token per step when generating. ``cache`` has the shape ``(batch, num_layers, 2,
        max_length, num_heads, head_dim)``: slot ``[:, i, 0]`` holds layer i's keys,
        ``[:, i, 1]`` its values. Each block writes the keys and values of these positions
        and attends over everything cached up to them, so a step costs one position, not the
        whole sequence. Returns ``(logits, hidden_states, cache)``, equal to the uncached
        model's at these positions; dropout is off.
        """
        backbone = self.backbone
        # Token + position embeddings; positions start where these tokens sit.
        x = backbone.embedding(token_ids, start_index=cache_update_index)
        x = backbone.embedding_dropout(x, training=False)
        next_caches = []
        for index, block in enumerate(backbone.transformer_layers):
            x, layer_cache = block(
                x,
                self_attention_cache=cache[:, index, ...],
                self_attention_cache_update_index=cache_update_index,
                training=False,
            )
            next_caches.append(layer_cache)
        if backbone.final_layer_norm is not None:
            x = backbone.final_layer_norm(x)
        logits = backbone.token_embedding(x, reverse=True)  # tied: W_e transposed
        return logits, x, ops.stack(next_caches, axis=1)


def build_gpt(config: GPTConfig) -> GPT1CausalLM:
    """A fresh GPT-1-style causal language model for ``config``, without a preprocessor."""
    return GPT1CausalLM(GPT1Backbone.from_gpt_config(config))


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
