"""``GPT1CausalLM``: token ids -> next-token logits, and KerasHub's generation loop.

It follows KerasHub's ``GPT2CausalLM``, so a trained run is used like any KerasHub model:
``GPT1CausalLM.from_preset(folder)``, then ``generate(["ROMEO:", "JULIET:"], max_length=64)``
with any of KerasHub's samplers. GPT-1 and GPT-2 share their decoding loop; ``GPT1CausalLM``
inherits ``GPT2CausalLM``'s and gives it the one thing that differs, the forward pass through
the cache.
"""

from __future__ import annotations

import keras
import keras_hub
from keras import ops

from gpt_lesson.config import GPTConfig
from gpt_lesson.gpt1._deferred import Deferred
from gpt_lesson.gpt1.backbone import GPT1Backbone
from gpt_lesson.pretraining.sampler_settings import check_sampler


@keras.saving.register_keras_serializable(package="gpt_lesson")
class GPT1CausalLM(keras_hub.models.GPT2CausalLM):
    """Token ids -> next-token logits (batch, seq, vocab), through the tied embedding.

    With a preprocessor (as :func:`gpt_lesson.gpt1.presets.load_checkpoint` gives one) it takes
    text: ``generate`` tokenizes a batch of prompts, runs KerasHub's compiled sampling loop
    with :meth:`call_with_cache`, stops at ``stop_token_ids`` and detokenizes.
    """

    backbone_cls = GPT1Backbone
    # Text in and out needs TensorFlow; the model itself runs on any Keras backend.
    preprocessor_cls = Deferred(
        "gpt_lesson.gpt1.causal_lm_preprocessor", "GPT1CausalLMPreprocessor"
    )

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
    return GPT1CausalLM(GPT1Backbone(config))
