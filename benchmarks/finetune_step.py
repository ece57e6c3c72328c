"""Chapter 5's fine-tuning step: per-batch padding without XLA (the book's path) against
fixed bucket shapes under XLA, and mixed bfloat16, side by side; then whole 3-epoch runs.

CoLA's sentences are short (11 tokens on average) and of many lengths, so the book pads
each batch only to its longest sentence, and XLA, which compiles one program per input
shape, is left off. The alternative pads every batch of a bucket to the bucket's limit
(``classification_dataset(fixed_shapes=True)``), so there is one shape per bucket, and
compiles the step with XLA. Every variant trains on the same batches (the same shuffle
seed), row (c) of the ablation (pre-trained, λ = 0.5), from chapter 3's checkpoint.

The step part times each step of ``steps`` per repeat (``StepTimes``) after a warm-up of
one epoch, which compiles every bucket's shape, and interleaves the repeats with NumPy's
and TensorFlow's float32 matmul, the denominator of the MFU; a path's figure is the median
step. The first step of every ``fit`` call is left out: it also fills the shuffle buffer of
a new iterator (the whole training set), which a real run does once an epoch. FLOPs count
the tokens a step computes, padding included, and the ``lm`` head's full vocabulary.
The run part fine-tunes 3 epochs with each path (seed 0, learning rate 2.5e-4, chapter 5's
choice for row (c)) and scores both dev sets.

python -m benchmarks --only finetune_step [--quick]
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass

import keras
import numpy as np

from benchmarks.flops import matmul_gflops, model_flops_utilisation, training_flops_per_token
from benchmarks.matmul import matmul_runners
from gpt_lesson.gpt1.classifier import build_classifier
from gpt_lesson.gpt1.presets import load_checkpoint
from gpt_lesson.optimization import make_optimizer, warmup_linear
from gpt_lesson.pretraining.objectives import MaskedLMLoss
from gpt_lesson.tasks.batches import classification_dataset
from gpt_lesson.tasks.cola import CoLAData, prepare_cola, pretrain_if_missing
from gpt_lesson.tasks.fine_tuning import (
    FinetuneConfig,
    evaluate,
    finetune,
    starting_model,
)
from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

CONFIG = FinetuneConfig(learning_rate=2.5e-4)
MATMUL_SIZE = 2048


class StepTimes(keras.callbacks.Callback):
    """The seconds of every step but the first of a ``fit`` call (reading each step's loss,
    so that the step has finished)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        float(logs["loss"])
        if batch > 0:
            self.seconds.append(time.perf_counter() - self.start)


@dataclass(frozen=True)
class Setup:
    """How the step runs: bucket-limit padding and XLA, and Keras' dtype policy."""

    name: str
    fixed_shapes: bool = False
    xla: bool = False
    policy: str = "float32"


PATHS = (
    Setup("book: per-batch padding, no XLA"),
    Setup("bucket-limit padding, no XLA", fixed_shapes=True),
    Setup("bucket-limit padding, XLA", fixed_shapes=True, xla=True),
    Setup("per-batch padding, mixed bfloat16", policy="mixed_bfloat16"),
)


def make_runner(path: Setup, data: CoLAData, steps: int):
    """A call training ``steps`` steps of ``path`` (returns each step's seconds but the
    first), the seconds of its first epoch (tracing and compiling included), and the mean
    tokens of a step, pad included."""
    train = data.encoded["train"]
    keras.utils.set_random_seed(CONFIG.seed)
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(path.policy)
    try:
        model = starting_model(data.checkpoint, CONFIG)
        classifier = build_classifier(model, data.checkpoint.config, data.extract)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    dataset = classification_dataset(
        train, CONFIG.batch_size, data.pad, data.extract, True, CONFIG.seed, path.fixed_shapes
    )
    batches = [ids.shape for ids, _ in dataset]
    classifier.compile(
        optimizer=make_optimizer(
            classifier,
            warmup_linear(CONFIG.learning_rate, CONFIG.warmup_fraction, 3 * len(batches)),
            CONFIG,
        ),
        loss={
            "label": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "lm": MaskedLMLoss(data.pad),
        },
        loss_weights={"label": 1.0, "lm": CONFIG.lm_weight},
        jit_compile=path.xla,
    )
    stream = dataset.repeat()

    def run(count: int = steps) -> list[float]:
        clock = StepTimes()
        classifier.fit(stream, epochs=1, steps_per_epoch=count, verbose=0, callbacks=[clock])
        return clock.seconds

    start = time.perf_counter()
    run(len(batches))
    first_epoch = time.perf_counter() - start
    tokens = sum(rows * length for rows, length in batches) / len(batches)
    return run, first_epoch, tokens


def step_rows(data: CoLAData, steps: int, repeats: int) -> tuple[list[dict], dict[str, float]]:
    """Seconds per step, speed-up over the book's path and MFU of every path."""
    runners, first_epochs, tokens = {}, {}, {}
    for path in PATHS:
        runners[path.name], first_epochs[path.name], tokens[path.name] = make_runner(
            path, data, steps
        )
        print(f"{path.name}: first epoch {first_epochs[path.name]:.0f} s", flush=True)
    matmuls = matmul_runners(MATMUL_SIZE)
    for run in matmuls.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in (*runners, *matmuls)}
    for _ in range(repeats):  # round after round, so a change of load falls on all alike
        for name, run in runners.items():
            times[name] += run()
        for name, run in matmuls.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    seconds = {name: statistics.median(values) for name, values in times.items()}
    gflops = {name: round(matmul_gflops(MATMUL_SIZE, seconds[name]), 1) for name in matmuls}
    flops = training_flops_per_token(data.checkpoint.config)
    book = seconds[PATHS[0].name]
    rows = []
    for path in PATHS:
        per_step = seconds[path.name]
        rate = tokens[path.name] / per_step
        rows.append(
            {
                "path": path.name,
                "seconds per step": round(per_step, 3),
                "× book": round(book / per_step, 2),
                "tokens per step (pad included)": round(tokens[path.name], 1),
                "first epoch, s (compiling)": round(first_epochs[path.name], 1),
                "MFU": round(model_flops_utilisation(rate, flops, max(gflops.values())), 3),
            }
        )
    return rows, gflops


def run_rows(data: CoLAData, epochs: int) -> list[dict]:
    """A whole fine-tuning run with each path (float32), scored on both dev sets."""
    config = dataclasses.replace(CONFIG, epochs=epochs)
    rows = []
    for compiled in (False, True):
        start = time.monotonic()
        result = finetune(
            data.checkpoint,
            data.encoded["train"],
            data.encoded["validation"],
            config,
            compiled=compiled,
        )
        scores = {
            name: evaluate(result.classifier, data.encoded[name], data.pad)["mcc"]
            for name in ("dev", "dev_out_of_domain")
        }
        rows.append(
            {
                "path": PATHS[2].name if compiled else PATHS[0].name,
                "epochs": epochs,
                "steps": result.steps,
                "training minutes": round(result.minutes, 2),
                "minutes with scoring": round((time.monotonic() - start) / 60.0, 2),
                "dev MCC": round(scores["dev"], 3),
                "out-of-domain MCC": round(scores["dev_out_of_domain"], 3),
            }
        )
        print(rows[-1], flush=True)
    return rows


def run(quick: bool) -> dict[str, object]:
    """Both parts on chapter 3's checkpoint (the quick one, and 1 epoch, under ``quick``)."""
    tokenizer = load_gpt2_tokenizer()
    folder = "runs/chapter3-quick" if quick else "runs/chapter3-lesson"
    pretrain_if_missing(folder, tokenizer)
    data = prepare_cola(load_checkpoint(folder), tokenizer)
    steps, repeats = (5, 3) if quick else (20, 5)
    rows, gflops = step_rows(data, steps, repeats)
    return {
        "rows": rows,
        "matmul GFLOP/s": gflops,
        "whole runs": run_rows(data, 1 if quick else CONFIG.epochs),
        "checkpoint": folder,
        "vocabulary": data.checkpoint.config.vocab_size,
        "GFLOP per token": round(training_flops_per_token(data.checkpoint.config) / 1e9, 4),
        "timing": {"steps": steps, "repeats": repeats},
        "config": dataclasses.asdict(CONFIG),
        "mean sentence tokens": float(np.mean([len(s) for s in data.encoded["train"].sequences])),
    }
