"""Training steps per second at the blog's shapes: the seed's code path, each lever alone,
all levers together, and the book's step.

The seed's path is ``gpt_lesson.seed.blog`` as the seed wrote it: a ``Dense`` softmax output,
a masked cross-entropy on its probabilities, Keras' defaults (Adam, ``jit_compile="auto"``,
which means no XLA on a CPU) and its ``tf.data`` pipeline (which already prefetches). Each
lever changes one thing:

- logits + fused loss: no softmax layer; the loss takes logits and computes
  log-softmax and the cross-entropy in one kernel (``from_logits=True``);
- XLA: ``jit_compile=True`` compiles the whole step into fused kernels;
- prefetch: measured by taking it away (the seed already prefetches);
- tied embeddings: the output projection is the token embedding transposed (25.7 M
  fewer weights for the optimizer to update);
- trimmed vocabulary: output units only for the ids the corpus uses (4.3× fewer).

The book's step is ``build_gpt`` + ``MaskedLMLoss`` + AdamW with clipping + XLA, on the
book's pipeline (``pipeline.lm_windows``). All models live in one process and their timed
repeats are interleaved with each other and with the matmul measurement of the machine's
limit, so every ratio compares runs that saw the same load.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from benchmarks.flops import matmul_gflops, model_flops_utilisation, training_flops_per_token
from benchmarks.matmul import matmul_runners
from gpt_lesson.config import PRESETS, TRAINING, GPTConfig
from gpt_lesson.data import read_text
from gpt_lesson.gpt1.causal_lm import build_gpt
from gpt_lesson.optimization import make_optimizer, make_schedule
from gpt_lesson.pretraining import pipeline
from gpt_lesson.pretraining.objectives import MaskedAccuracy, MaskedLMLoss
from gpt_lesson.seed import blog
from gpt_lesson.tokenizer.gpt2 import tiktoken_reference
from gpt_lesson.tokenizer.vocabulary import Vocabulary


@dataclass(frozen=True)
class Variant:
    """One way of running the training step; ``book`` ignores the seed's levers."""

    name: str
    book: bool = False  # the book's step (build_gpt, MaskedLMLoss, AdamW, XLA)
    logits: bool = False  # logits and a fused softmax cross-entropy
    xla: bool = False  # jit_compile=True
    prefetch: bool = True  # the input pipeline prefetches (the seed's does)
    tied: bool = False  # output projection = token embedding transposed
    trimmed: bool = False  # vocabulary trimmed to the ids the corpus uses


SEED = Variant("seed's path")
VARIANTS = (
    SEED,
    Variant("seed without prefetch", prefetch=False),
    Variant("seed + logits, fused loss", logits=True),
    Variant("seed + XLA", xla=True),
    Variant("seed + tied embeddings", tied=True),
    Variant("seed + trimmed vocabulary", trimmed=True),
    Variant("seed + all levers", logits=True, xla=True, tied=True, trimmed=True),
    Variant("book's step", book=True),
    Variant("book's step, trimmed vocabulary", book=True, trimmed=True),
)


@dataclass(frozen=True)
class Timing:
    """How long to measure: timed repeats of ``steps`` steps each, after ``warmup`` steps."""

    repeats: int = 5
    steps: int = 2
    warmup: int = 1


def trim(
    inputs: np.ndarray, labels: np.ndarray, pad_id: int
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Renumber ids to the ones the windows use: (inputs, labels, pad id, vocabulary size)."""
    specials = (blog.PAD_ID, blog.START_ID, blog.END_ID)
    vocabulary = Vocabulary.used_by(inputs.ravel(), labels.ravel(), always=specials)
    pad = int(vocabulary.compact(np.array([pad_id]))[0])
    return vocabulary.compact(inputs), vocabulary.compact(labels), pad, vocabulary.size


def seed_step(variant: Variant, config: GPTConfig, ids: np.ndarray, batch_size: int):
    """The seed's model, compiled as the seed did, with ``variant``'s levers; its data."""
    inputs, labels = blog.seed_windows(ids)
    pad = blog.PAD_ID
    if variant.trimmed:
        inputs, labels, pad, size = trim(inputs, labels, pad)
        config = dataclasses.replace(config, vocab_size=size)
    recipe = dataclasses.replace(
        blog.BLOG, softmax_output=not variant.logits, tied_output=variant.tied
    )
    model = blog.build_blog_model(config, recipe)
    blog.compile_blog_model(model, recipe, pad, jit_compile=True if variant.xla else "auto")
    if variant.prefetch:
        dataset = blog.seed_dataset(inputs, labels, batch_size)
    else:
        dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(batch_size).repeat()
    return model, dataset, config


def book_step(variant: Variant, config: GPTConfig, ids: np.ndarray, batch_size: int):
    """The book's model and training step (chapter 3), on the book's pipeline."""
    pad = blog.PAD_ID
    if variant.trimmed:
        vocabulary = Vocabulary.used_by(ids, always=(blog.PAD_ID, blog.START_ID, blog.END_ID))
        ids, pad = vocabulary.compact(ids), int(vocabulary.compact(np.array([pad]))[0])
        config = dataclasses.replace(config, vocab_size=vocabulary.size)
    model = build_gpt(config)
    train = dataclasses.replace(TRAINING["blog"], batch_size=batch_size)
    model.compile(
        optimizer=make_optimizer(model, make_schedule(train, total_steps=10_000), train),
        loss=MaskedLMLoss(pad),
        metrics=[MaskedAccuracy(pad)],
        jit_compile=True,
    )
    dataset = pipeline.lm_windows(
        ids, config.sequence_length, batch_size, pad, shuffle=True
    ).repeat()
    return model, dataset, config


class StepClock(keras.callbacks.Callback):
    """Seconds from the start of a ``fit``'s first step to the end of its last one.

    Timing the whole ``fit`` call would add its set-up and tear-down, and the tear-down
    of a ``tf.data`` iterator was found to end only at 2.56, 5.12, 10.24 or 20.48 s after
    it started (10 ms × (2^k − 1): it waited for the autotuner's next wake-up, see
    ``teardown.py``), whatever the steps took: that snapped every variant's time to one of
    those values. Reading each step's loss also makes ``fit`` wait for every step, as a
    progress bar or logger does.
    """

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if batch == 0:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        float(logs["loss"])
        self.seconds = time.perf_counter() - self.start


def make_runner(
    variant: Variant, config: GPTConfig, ids: np.ndarray, batch_size: int, steps: int
) -> tuple[Callable[[], object], GPTConfig]:
    """A call that trains ``steps`` steps of ``variant`` with ``fit`` and returns their
    seconds (see ``StepClock``), and the model's config."""
    build = book_step if variant.book else seed_step
    keras.utils.set_random_seed(0)
    model, dataset, config = build(variant, config, ids, batch_size)

    def train(count: int = steps) -> float:
        clock = StepClock()
        model.fit(dataset, epochs=1, steps_per_epoch=count, verbose=0, callbacks=[clock])
        return clock.seconds

    return train, config


def interleaved_medians(runners: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each runner, timing them in turn, round after round, so a
    change of load on the machine falls on all of them alike. A runner that returns a float
    has timed itself (a training runner times its steps, not ``fit``'s set-up); any other
    call is timed whole."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            result = run()
            elapsed = time.perf_counter() - start
            times[name].append(result if isinstance(result, float) else elapsed)
    return {name: statistics.median(seconds) for name, seconds in times.items()}


def measure(
    config: GPTConfig,
    ids: np.ndarray,
    batch_size: int,
    timing: Timing,
    variants: tuple[Variant, ...] = VARIANTS,
    matmul_size: int = 4096,
) -> tuple[list[dict[str, object]], dict[str, float]]:
    """Rows of tokens/s, speed-up over the first variant and MFU; the matmul GFLOP/s."""
    runners, configs = {}, {}
    for variant in variants:
        train, configs[variant.name] = make_runner(variant, config, ids, batch_size, timing.steps)
        train(timing.warmup)  # traces (and for XLA compiles) the step
        runners[variant.name] = train
    matmuls = matmul_runners(matmul_size)
    for run in matmuls.values():
        run()
    seconds = interleaved_medians({**runners, **matmuls}, timing.repeats)
    gflops = {name: round(matmul_gflops(matmul_size, seconds[name]), 1) for name in matmuls}
    peak = max(gflops.values())
    tokens = batch_size * config.sequence_length * timing.steps
    baseline = tokens / seconds[variants[0].name]
    rows = []
    for variant in variants:
        tokens_per_second = tokens / seconds[variant.name]
        flops = training_flops_per_token(configs[variant.name])
        rows.append(
            {
                "step": variant.name,
                "vocabulary": configs[variant.name].vocab_size,
                "seconds per step": round(seconds[variant.name] / timing.steps, 3),
                "tokens per second": round(tokens_per_second),
                "× seed": round(tokens_per_second / baseline, 2),
                "GFLOP per token": round(flops / 1e9, 4),
                "MFU": round(model_flops_utilisation(tokens_per_second, flops, peak), 3),
            }
        )
    return rows, gflops


def corpus_ids() -> np.ndarray:
    """GPT-2 ids of tiny Shakespeare (tiktoken: the same ids as the book's tokenizer, faster)."""
    return np.asarray(tiktoken_reference().encode_ordinary(read_text("shakespeare")), np.int32)


def run(quick: bool) -> dict[str, object]:
    """The blog's shapes in both profiles; ``quick`` times one step per repeat, not two."""
    timing = Timing(steps=1) if quick else Timing()
    config = PRESETS["blog"]
    batch_size = blog.SEED_BATCH_SIZE
    rows, gflops = measure(config, corpus_ids(), batch_size, timing)
    return {
        "rows": rows,
        "matmul GFLOP/s": gflops,
        "shapes": {"batch": batch_size, **dataclasses.asdict(config)},
        "timing": dataclasses.asdict(timing),
    }
