"""``GPT1CausalLMPreprocessor``: text -> the ids and mask ``GPT1CausalLM`` reads.

Kept apart from ``gpt_lesson.gpt1`` because tokenization needs TensorFlow (TensorFlow
Text, ``tf.data``) and the model does not: ``GPT1CausalLM.preprocessor_cls`` imports this
module only when a preprocessor is wanted.
"""

from __future__ import annotations

import keras
import keras_hub
from keras import ops

from gpt_lesson.gpt1.backbone import GPT1Backbone
from gpt_lesson.tokenizer.gpt2 import BookGPT2Tokenizer


@keras.saving.register_keras_serializable(package="gpt_lesson")
class GPT1CausalLMPreprocessor(keras_hub.models.CausalLMPreprocessor):
    """Text -> ``token_ids`` and ``padding_mask``: the BPE ids, then ``<|pad|>``s.

    KerasHub's own causal-LM preprocessing with one of this book's tokenizers (GPT-2's BPE,
    whole or trimmed, or a converted GPT-1's own, ``gpt_lesson.tokenizer.gpt1``); ``generate``
    calls it on the prompts and strips the specials afterwards.
    Pre-training reads one unbroken text, so the model never sees ``<|start|>`` there: a
    prompt starts with its own first token, and only an empty prompt gets the start token,
    which gives the first step something to predict from.
    """

    backbone_cls = GPT1Backbone
    tokenizer_cls = BookGPT2Tokenizer

    def generate_preprocess(self, x, sequence_length=None):
        # KerasHub's packing puts the start token first in every row; keep it only in the
        # rows where it is all there is (an empty prompt), and shift the others left by one.
        packed = super().generate_preprocess(x, sequence_length=sequence_length)
        token_ids, padding_mask = packed["token_ids"], packed["padding_mask"]
        has_prompt = ops.sum(ops.cast(padding_mask, "int32"), axis=-1, keepdims=True) > 1
        pad = ops.full_like(token_ids[:, :1], self.tokenizer.pad_token_id)
        shifted_ids = ops.concatenate([token_ids[:, 1:], pad], axis=-1)
        shifted_mask = ops.concatenate([padding_mask[:, 1:], ops.zeros_like(pad, "bool")], axis=-1)
        return {
            "token_ids": ops.where(has_prompt, shifted_ids, token_ids),
            "padding_mask": ops.where(has_prompt, shifted_mask, padding_mask),
        }
