"""Attention weights read from the model: causal, normalised, and the weights the block uses."""

import dataclasses

import keras
import numpy as np
import pytest

from gpt_lesson.attention import attention_weights
from gpt_lesson.config import PRESETS
from gpt_lesson.model import build_gpt


@pytest.mark.parametrize("normalize_first", [False, True])
def test_weights_are_causal_rows_that_sum_to_one(normalize_first):
    config = dataclasses.replace(PRESETS["quick"], normalize_first=normalize_first)
    keras.utils.set_random_seed(0)
    model = build_gpt(config)
    ids = np.random.default_rng(0).integers(0, config.vocab_size, size=(2, 9), dtype="int32")
    weights = attention_weights(model, config, ids)
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
    before, after = attention_weights(model, config, ids), attention_weights(model, config, changed)
    np.testing.assert_array_equal(before[..., :4, :], after[..., :4, :])  # rows before 4
    assert not np.allclose(before[..., 4:, :], after[..., 4:, :])
