"""Text generation: a key/value cache, KerasHub samplers and the context limit.

A language model predicts one token at a time. To continue a prompt we run the model,
pick a next id from the logits at the last position, append it and repeat. Done naively,
every new token costs a full forward pass over the whole sequence so far.

The cache removes that waste. In masked self-attention a position only looks back, so the
keys and values of the tokens already seen never change: we keep them, per layer, in a
tensor of shape ``(batch, num_layers, 2, max_length, num_heads, head_dim)`` (2 = key and
value) and, for each new token, compute only its own query, key and value. Each step then
costs one position instead of the whole sequence. ``GPT1CausalLM.call_with_cache``
(``gpt_lesson.gpt1``) is that forward pass; this module runs it in a loop one prompt at a
time, beside the uncached reference it must match, and runs KerasHub's own ``generate``
for batches of text prompts (:func:`generate_texts`).

How the next id is picked is the sampler's job, and KerasHub's samplers are used as they
are: ``GreedySampler`` (argmax), ``TopKSampler``, ``TopPSampler``. A sampler is given a
``next(ids, cache, index)`` function that returns the logits predicting the id at
``index``; it runs the loop, writes each new id into ``ids`` and hands the cache back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from keras import ops

from gpt_lesson.config import GPTConfig
from gpt_lesson.gpt1.causal_lm import GPT1CausalLM
from gpt_lesson.gpt1.presets import Checkpoint
from gpt_lesson.pretraining.sampler_settings import check_sampler

SamplerLike = str | keras_hub.samplers.Sampler


def empty_cache(model: GPT1CausalLM, batch_size: int, max_length: int) -> tf.Tensor:
    """Zeros of shape ``(batch, num_layers, 2, max_length, num_heads, head_dim)``.

    Slot ``[:, i, 0]`` holds layer i's keys, ``[:, i, 1]`` its values. A position's slot
    is filled when that position is first run; the causal mask keeps every query away
    from the slots that are still zero.
    """
    config = model.backbone.gpt_config
    shape = (batch_size, config.num_layers, 2, max_length, config.num_heads, config.head_dim)
    return ops.zeros(shape, dtype=model.compute_dtype)


def get_sampler(sampler: SamplerLike = "greedy") -> keras_hub.samplers.Sampler:
    """A KerasHub sampler from a name (``"greedy"``, ``"top_k"``, ``"top_p"``) or an instance.

    A name always gives the same instance (with KerasHub's defaults: k=5, p=0.1), so that
    the loop traced for it can be reused; see :func:`sampling_loop`.
    """
    if isinstance(sampler, str):
        return _named_sampler(sampler)
    if not isinstance(sampler, keras_hub.samplers.Sampler):
        raise TypeError(
            "sampler must be a name such as 'greedy', 'top_k' or 'top_p', or a "
            f"keras_hub.samplers.Sampler; got {sampler!r}."
        )
    return sampler


@functools.cache
def _named_sampler(name: str) -> keras_hub.samplers.Sampler:
    # keras_hub.samplers.get hands an unknown name back unchanged, so check what came back.
    sampler = keras_hub.samplers.get(name) if name.islower() else None
    if not isinstance(sampler, keras_hub.samplers.Sampler):
        raise ValueError(
            f"Unknown sampler {name!r}; use 'greedy', 'top_k', 'top_p' or 'random', or pass "
            "a keras_hub.samplers.Sampler such as TopKSampler(k=10, temperature=0.8)."
        )
    return sampler


def reseed(sampler: keras_hub.samplers.Sampler, seed: int) -> None:
    """Put the sampler's random state back to where ``seed`` starts it.

    KerasHub's random samplers draw from a ``keras.random.SeedGenerator`` whose state
    ``[seed, counter]`` moves on with every draw. Resetting it makes a run repeatable: the
    same seed gives the same ids, as if the sampler had just been built with ``seed=seed``.
    """
    for state in sampler.variables:
        state.assign(ops.convert_to_tensor([seed, 0], dtype=state.dtype))


def check_request(
    config: GPTConfig, prompt_ids: list[int], max_new_tokens: int, use_cache: bool
) -> None:
    """Refuse, with what to change, a request the model cannot serve.

    The model has ``config.sequence_length`` learned positions. The cached path writes one
    cache slot per position, so prompt + new tokens must fit. The uncached path can slide:
    it feeds the model only the last ``sequence_length`` tokens (nanoGPT's ``idx_cond``).
    """
    if len(prompt_ids) == 0:
        raise ValueError(
            "The prompt is empty: a prompt needs at least one token to predict the next one "
            "from. With no text, start from the start id (50258, '<|start|>', in this book's "
            "vocabulary)."
        )
    out_of_range = [i for i in prompt_ids if not 0 <= i < config.vocab_size]
    if out_of_range:
        raise ValueError(
            f"Prompt ids {out_of_range[:5]} are outside the vocabulary [0, "
            f"{config.vocab_size}): was the prompt encoded with this model's tokenizer?"
        )
    check_length(config, len(prompt_ids), max_new_tokens, use_cache)


def check_length(
    config: GPTConfig, prompt_length: int, max_new_tokens: int, use_cache: bool | None
) -> None:
    """Refuse a prompt + continuation longer than the context (the cached path's limit;
    ``use_cache=None``: a path that cannot slide, so no hint to turn the cache off)."""
    slide = (
        f", or pass use_cache=False to slide a window over the last {config.sequence_length} "
        "tokens (slower)."
    )
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be 0 or more, got {max_new_tokens}.")
    total = prompt_length + max_new_tokens
    if use_cache is not False and total > config.sequence_length:
        raise ValueError(
            f"The prompt ({prompt_length} tokens) + max_new_tokens ({max_new_tokens}) = "
            f"{total} tokens, more than the model's context of sequence_length="
            f"{config.sequence_length} positions. Shorten the prompt or max_new_tokens so "
            f"they add up to at most {config.sequence_length}" + (slide if use_cache else ".")
        )


def cached_next(model: keras.Model, config: GPTConfig) -> Callable:
    """The sampler's ``next``: run only the newest token, through the cache.

    To predict the id at ``index`` we need the logits at ``index - 1``: we feed that single
    token at position ``index - 1``, which also stores its keys and values.
    """

    def next_logits(ids: tf.Tensor, cache: tf.Tensor, index: tf.Tensor):
        position = index - 1
        last_token = ops.slice(ids, [0, position], [ops.shape(ids)[0], 1])
        logits, hidden_states, cache = model.call_with_cache(last_token, cache, position)
        return logits[:, 0, :], hidden_states[:, 0, :], cache

    return next_logits


def uncached_next(model: keras.Model, config: GPTConfig) -> Callable:
    """The sampler's ``next`` without a cache: a full forward pass over the sequence so far.

    Only the last ``sequence_length`` tokens are fed, so generation can run past the
    context: the window slides and the oldest tokens drop out of view.
    """

    def next_logits(ids: tf.Tensor, cache: tuple, index: tf.Tensor):
        start = ops.maximum(index - config.sequence_length, 0)
        window = ops.slice(ids, [0, start], [ops.shape(ids)[0], index - start])
        logits = model(window, training=False)
        return logits[:, -1, :], None, cache

    return next_logits


@functools.lru_cache(maxsize=16)
def sampling_loop(
    model: keras.Model, config: GPTConfig, sampler: keras_hub.samplers.Sampler, use_cache: bool
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]:
    """The whole generation loop as one TensorFlow graph: ``(ids, mask, prompt_length) -> ids``.

    Run eagerly, every op of every step goes through Python; traced once into a graph by
    ``tf.function``, the loop runs an order of magnitude faster. Tracing itself takes
    seconds, so the traced loop is kept (``lru_cache``) per model, sampler and path, and
    the ``input_signature`` lets one trace serve every prompt and length. The sampler's
    settings (k, p, temperature) are read while tracing: to change them, make a new sampler.
    """
    next_logits = cached_next(model, config) if use_cache else uncached_next(model, config)
    ids_spec = tf.TensorSpec((None, None), tf.int32)
    mask_spec = tf.TensorSpec((None, None), tf.bool)

    @tf.function(input_signature=[ids_spec, mask_spec, tf.TensorSpec((), tf.int32)])
    def loop(ids: tf.Tensor, mask: tf.Tensor, prompt_length: tf.Tensor) -> tf.Tensor:
        cache = None
        if use_cache:
            # Fill the cache with the prompt in one pass. Its last position is run again by
            # the first step, which is the step that produces the first new id.
            batch_size, max_length = ops.shape(ids)[0], ops.shape(ids)[1]
            cache = empty_cache(model, batch_size, max_length)
            _, _, cache = model.call_with_cache(ids[:, :prompt_length], cache, 0)
        return sampler(next_logits, ids, cache=cache, index=prompt_length, mask=mask)

    return loop


def generate(
    model: keras.Model,
    config: GPTConfig,
    prompt_ids: list[int],
    max_new_tokens: int,
    sampler: SamplerLike = "greedy",
    use_cache: bool = True,
    seed: int | None = None,
) -> list[int]:
    """Continue ``prompt_ids`` by ``max_new_tokens`` ids; returns prompt + new ids.

    ``sampler`` picks each id from the logits: ``"greedy"``, ``"top_k"``, ``"top_p"`` or a
    ``keras_hub.samplers`` instance such as ``TopKSampler(k=10, temperature=0.8)``. With a
    ``seed``, the sampler's random state is reset first, so the same seed gives the same
    ids; without one, a random sampler's state moves on from call to call.
    ``use_cache=False`` runs a full forward pass per new token: slower, but the reference
    the cache must match, and able to slide past the context of ``config.sequence_length``.
    """
    prompt_ids = [int(i) for i in prompt_ids]
    check_request(config, prompt_ids, max_new_tokens, use_cache)
    sampler = get_sampler(sampler)
    check_sampler(sampler, config.vocab_size)
    if seed is not None:
        reseed(sampler, seed)
    prompt_length, total = len(prompt_ids), len(prompt_ids) + max_new_tokens
    # One row: the prompt, then zeros for the sampler to overwrite; the mask marks the
    # prompt, which the sampler must leave as it is.
    ids = np.zeros((1, total), dtype="int32")
    ids[0, :prompt_length] = prompt_ids
    mask = np.arange(total)[None, :] < prompt_length
    loop = sampling_loop(model, config, sampler, use_cache)
    ids = loop(tf.constant(ids), tf.constant(mask), tf.constant(prompt_length, tf.int32))
    return ids[0].numpy().tolist()


def generate_texts(
    checkpoint: Checkpoint,
    prompts: str | Sequence[str],
    max_new_tokens: int,
    sampler: SamplerLike = "greedy",
    seed: int | None = None,
    stop_at_end: bool = True,
) -> list[str]:
    """Continue each prompt (any text) with a trained model, by KerasHub's ``generate``.

    The prompts are tokenized by the model's own tokenizer (which can spell any text),
    padded into one batch and continued together; each row gets ``max_new_tokens`` past
    the longest prompt's end, and stops early at the end token when ``stop_at_end``. An
    empty prompt starts from the start token. Returns the prompts with their continuations
    (the prompts alone when ``max_new_tokens`` is 0).
    """
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    model, tokenizer = checkpoint.model, checkpoint.tokenizer
    if tokenizer is None:
        raise ValueError("This model has no tokenizer: load it with load_checkpoint(folder).")
    longest = max(max((len(tokenizer.encode(prompt)) for prompt in prompts), default=0), 1)
    check_length(checkpoint.config, longest, max_new_tokens, use_cache=None)
    if max_new_tokens == 0:  # nothing to generate: the prompts as they are
        return prompts
    sampler = get_sampler(sampler)
    check_sampler(sampler, checkpoint.config.vocab_size)
    if seed is not None:
        reseed(sampler, seed)
    if model.sampler is not sampler:
        model.compile(sampler=sampler, weighted_metrics=None)  # KerasHub retraces for a new one
    stop = [tokenizer.end_id] if stop_at_end else None
    texts = model.generate(prompts, max_length=longest + max_new_tokens, stop_token_ids=stop)
    return [texts] if isinstance(texts, str) else list(texts)


def room_for_new_tokens(checkpoint: Checkpoint, prompts: Sequence[str], most: int = 100) -> int:
    """How many new tokens fit after the longest prompt in the model's context, at most
    ``most``: the command line's default, which works on every preset."""
    longest = max(max((len(checkpoint.tokenizer.encode(p)) for p in prompts), default=0), 1)
    return max(0, min(most, checkpoint.config.sequence_length - longest))
