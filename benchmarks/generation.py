"""Generation speed with and without the key/value cache, and how each grows with length.

Without the cache every new token is a forward pass over the whole sequence so far, so a
token costs more the longer the text (total work grows with the square of the length);
with it a new token costs one position's work (plus attention over the cache), so the
rate stays nearly flat. Speed does not depend on what the model has learned, so the model
is built with random weights: the lesson preset's shape with a context long enough for a
64-token prompt and 512 new tokens, and the lesson recipe's trimmed vocabulary size.
"""

from __future__ import annotations

import dataclasses

import keras

from benchmarks.training_step import corpus_ids, interleaved_medians
from gpt_lesson.config import PRESETS, GPTConfig
from gpt_lesson.gpt1.causal_lm import build_gpt
from gpt_lesson.pretraining.generate import generate
from gpt_lesson.seed.blog import END_ID, PAD_ID, START_ID
from gpt_lesson.tokenizer.vocabulary import Vocabulary

PROMPT_TOKENS = 64
NEW_TOKENS = (64, 256, 512)
REPEATS = 5


def run(quick: bool) -> dict[str, object]:
    """Greedy generation from a 64-token prompt; the same in both profiles (the lengths are
    the measurement)."""
    ids = corpus_ids()
    vocabulary = Vocabulary.used_by(ids, always=(PAD_ID, START_ID, END_ID))
    config = dataclasses.replace(
        PRESETS["lesson"],
        vocab_size=vocabulary.size,
        sequence_length=PROMPT_TOKENS + max(NEW_TOKENS),
    )
    keras.utils.set_random_seed(0)
    model = build_gpt(config)
    prompt = vocabulary.compact(ids[:PROMPT_TOKENS]).tolist()
    runners = {
        (cached, new): (
            lambda cached=cached, new=new: generate(model, config, prompt, new, use_cache=cached)
        )
        for cached in (True, False)
        for new in NEW_TOKENS
    }
    for cached in (True, False):  # traces each path's loop once; every length reuses it
        generate(model, config, prompt, 1, use_cache=cached)
    seconds = interleaved_medians(runners, REPEATS)
    rows = []
    for new in NEW_TOKENS:
        with_cache, without = seconds[(True, new)], seconds[(False, new)]
        rows.append(
            {
                "new tokens": new,
                "cached tokens/s": round(new / with_cache, 1),
                "uncached tokens/s": round(new / without, 1),
                "cache speed-up": round(without / with_cache, 2),
                "cached seconds": round(with_cache, 3),
                "uncached seconds": round(without, 3),
            }
        )
    return {
        "rows": rows,
        "model": dataclasses.asdict(config),
        "prompt tokens": PROMPT_TOKENS,
        "repeats": REPEATS,
        "sampler": "greedy",
        "same ids with and without the cache": check_same_ids(model, config, prompt),
    }


def check_same_ids(model: keras.Model, config: GPTConfig, prompt: list[int]) -> bool:
    """Whether both paths produce the same greedy continuation (the cache changes speed only)."""
    new = NEW_TOKENS[0]
    return generate(model, config, prompt, new, use_cache=True) == generate(
        model, config, prompt, new, use_cache=False
    )
