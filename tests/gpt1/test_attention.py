"""Attention weights read from the model: causal, normalised, and the weights the block uses."""

import dataclasses

import keras
import numpy as np
import pytest

from gpt_lesson._keras_hub import block_parts
from gpt_lesson.config import PRESETS
from gpt_lesson.gpt1.attention import attention_weights
from gpt_lesson.gpt1.causal_lm import build_gpt


@pytest.mark.parametrize("normalize_first", [False, True])
def test_weights_are_causal_rows_that_sum_to_one(normalize_first):
    config = dataclasses.replace(PRESETS["quick"], normalize_first=normalize_first)
    keras.utils.set_random_seed(0)
    model = build_gpt(config)
    ids = np.random.default_rng(0).integers(0, config.vocab_size, size=(2, 9), dtype="int32")
    weights = attention_weights(model, ids)
    assert weights.shape == (config.num_layers, 2, config.num_heads, 9, 9)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(np.triu(weights, k=1) == 0.0)
    assert np.all(weights[..., 0, 0] == 1.0)  # the first position sees only itself


def test_the_weights_follow_the_tokens_before_each_position_and_no_others():
    config = PRESETS["quick"]
    keras.utils.set_random_seed(0)
    model = build_gpt(config)
    ids = np.arange(1, 9, dtype="int32")[None]
    changed = ids.copy()
    changed[0, 4] = 100  # a different token at position 4
    before, after = attention_weights(model, ids), attention_weights(model, changed)
    np.testing.assert_array_equal(before[..., :4, :], after[..., :4, :])  # rows before 4
    assert not np.allclose(before[..., 4:, :], after[..., 4:, :])


def test_block_parts_rebuild_the_block():
    """The named sublayers, run as a post-LN block runs them, give the block's output."""
    config = dataclasses.replace(PRESETS["quick"], normalize_first=False)
    keras.utils.set_random_seed(0)
    model = build_gpt(config)
    block = model.backbone.transformer_layers[0]
    parts = block_parts(block)
    assert parts.cross_attention is None
    x = keras.random.normal((1, 5, config.hidden_dim), seed=0)
    causal = np.tril(np.ones((1, 5, 5), dtype=bool))
    attended = parts.self_attention(query=x, value=x, attention_mask=causal)
    a = parts.attention_norm(x + attended)
    by_hand = parts.feedforward_norm(a + parts.feedforward_out(parts.feedforward_in(a)))
    np.testing.assert_allclose(by_hand, block(x, training=False), atol=1e-5)
