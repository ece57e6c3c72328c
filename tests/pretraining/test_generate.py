"""Generation: the cache must not change the result, samplers must be reproducible."""

import dataclasses

import keras
import keras_hub
import numpy as np
import pytest

from gpt_lesson.config import PRESETS, GPTConfig
from gpt_lesson.gpt1.causal_lm import build_gpt
from gpt_lesson.pretraining.generate import empty_cache, generate

PROMPT = [1, 2, 3]


def tiny_config(normalize_first: bool = False) -> GPTConfig:
    # A wide initialisation makes the untrained model's greedy choices vary from step to
    # step (at 0.02 it repeats the last token), so a broken cache would show.
    return dataclasses.replace(
        PRESETS["quick"],
        vocab_size=97,
        sequence_length=32,
        normalize_first=normalize_first,
        initializer_range=0.5,
    )


@pytest.fixture(scope="module", params=[False, True], ids=["post_ln", "pre_ln"])
def setup(request) -> tuple[keras.Model, GPTConfig]:
    config = tiny_config(normalize_first=request.param)
    keras.utils.set_random_seed(0)
    return build_gpt(config), config


@pytest.fixture(scope="module")
def post_ln() -> tuple[keras.Model, GPTConfig]:
    config = tiny_config()
    keras.utils.set_random_seed(0)
    return build_gpt(config), config


def test_cached_and_uncached_greedy_generation_agree(setup):
    model, config = setup
    cached = generate(model, config, PROMPT, 20, use_cache=True)
    uncached = generate(model, config, PROMPT, 20, use_cache=False)
    assert cached == uncached
    assert cached[: len(PROMPT)] == PROMPT and len(cached) == len(PROMPT) + 20
    assert len(set(cached[len(PROMPT) :])) > 2, "the test model should not just repeat itself"


def test_cached_logits_equal_the_full_forward_pass(setup):
    model, config = setup
    ids = np.random.default_rng(0).integers(0, config.vocab_size, (2, 32)).astype("int32")
    expected = keras.ops.convert_to_numpy(model(ids, training=False))
    prompt_length = 5
    cache = empty_cache(model, batch_size=2, max_length=32)
    assert tuple(cache.shape) == (2, config.num_layers, 2, 32, config.num_heads, config.head_dim)
    logits, hidden_states, cache = model.call_with_cache(ids[:, :prompt_length], cache, 0)
    assert tuple(hidden_states.shape) == (2, prompt_length, config.hidden_dim)
    np.testing.assert_allclose(logits, expected[:, :prompt_length], atol=1e-4)
    for index in range(prompt_length, 32):
        logits, _, cache = model.call_with_cache(ids[:, index : index + 1], cache, index)
        np.testing.assert_allclose(logits[:, 0], expected[:, index], atol=1e-4)


def test_no_new_tokens_returns_the_prompt(post_ln):
    model, config = post_ln
    assert generate(model, config, PROMPT, 0) == PROMPT


def test_top_k_with_k_1_is_greedy(post_ln):
    model, config = post_ln
    greedy = generate(model, config, PROMPT, 15, sampler="greedy")
    top_1 = keras_hub.samplers.TopKSampler(k=1, temperature=2.0)
    assert generate(model, config, PROMPT, 15, sampler=top_1, seed=0) == greedy


@pytest.mark.parametrize("use_cache", [True, False], ids=["cached", "uncached"])
def test_sampling_is_reproducible_with_a_seed(post_ln, use_cache):
    model, config = post_ln
    sampler = keras_hub.samplers.TopKSampler(k=50, temperature=3.0)  # flat: many choices

    def sample(seed):
        return generate(model, config, PROMPT, 20, sampler=sampler, use_cache=use_cache, seed=seed)

    first = sample(7)
    assert sample(7) == first
    assert sample(8) != first


def test_seed_restarts_the_sampler_as_if_built_with_it(post_ln):
    model, config = post_ln
    built = keras_hub.samplers.TopPSampler(p=0.9, temperature=2.0, seed=5)
    named_and_seeded = keras_hub.samplers.TopPSampler(p=0.9, temperature=2.0)
    expected = generate(model, config, PROMPT, 20, sampler=built)
    assert generate(model, config, PROMPT, 20, sampler=named_and_seeded, seed=5) == expected
    assert generate(model, config, PROMPT, 20, sampler="top_k", seed=3) == generate(
        model, config, PROMPT, 20, sampler=keras_hub.samplers.TopKSampler(k=5, seed=3)
    )


def test_too_long_a_request_is_refused_with_what_to_do(post_ln):
    model, config = post_ln
    with pytest.raises(ValueError, match=r"\(3 tokens\) \+ max_new_tokens \(30\) = 33.*"):
        generate(model, config, PROMPT, 30)
    with pytest.raises(ValueError, match=r"sequence_length=32.*Shorten the prompt"):
        generate(model, config, list(range(40)), 1)


def test_empty_prompt_is_refused(post_ln):
    model, config = post_ln
    with pytest.raises(ValueError, match="at least one token"):
        generate(model, config, [], 5)
    with pytest.raises(ValueError, match="at least one token"):
        generate(model, config, [], 5, use_cache=False)


def test_ids_outside_the_vocabulary_are_refused(post_ln):
    model, config = post_ln
    with pytest.raises(ValueError, match=r"outside the vocabulary \[0, 97\)"):
        generate(model, config, [1, 97], 5)


def test_uncached_generation_slides_past_the_context(post_ln):
    model, config = post_ln
    ids = generate(model, config, PROMPT, 40, use_cache=False)
    assert len(ids) == 43
    # Up to the context, it is ordinary generation ...
    assert ids[:32] == generate(model, config, PROMPT, 29)
    # ... then each token is predicted from the last 32 only.
    for index in (32, 42):
        window = np.array([ids[index - 32 : index]], dtype="int32")
        logits = keras.ops.convert_to_numpy(model(window, training=False))
        assert ids[index] == int(np.argmax(logits[0, -1]))


def test_an_unknown_sampler_is_refused(post_ln):
    model, config = post_ln
    with pytest.raises(TypeError, match="keras_hub.samplers.Sampler"):
        generate(model, config, PROMPT, 5, sampler=3)
    with pytest.raises(ValueError, match="Unknown sampler 'nucleus'"):
        generate(model, config, PROMPT, 5, sampler="nucleus")
