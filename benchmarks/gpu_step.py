"""The book's training step on an accelerator: the lesson and gpt1 presets, tokens per
second and MFU against the device's own measured matmul rate, and a check that the same
code runs there.

One prepared script, for a machine with a GPU (CI never has one, and nothing depends on
it); on a CPU it runs too, which is how it is tested. It needs no data files: the speed of
a step does not depend on which token ids it reads, so the ids are random.

- **matmul**: float32 n×n products in TensorFlow on the device (median of 5 after a
  warm-up). On NVIDIA GPUs from Ampere on, TensorFlow runs float32 matmuls on TensorFloat-32
  tensor cores by default; the step does too, so the two share that precision.
- **the step**: ``build_gpt`` + ``MaskedLMLoss`` + AdamW with clipping, XLA (chapter 3's
  step, ``training_step.book_step``), at each preset's own batch and context, timed by
  ``StepClock`` and interleaved with the matmul.
- **the same code**: a few steps of ``fit`` lower the loss, and generation with the
  key/value cache gives the ids it gives without it, on the device.

python -m benchmarks.gpu_step [--quick] [--out FOLDER]   # writes FOLDER/STAMP-gpu_step.json
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from benchmarks.flops import matmul_gflops, model_flops_utilisation, training_flops_per_token
from benchmarks.machine import describe_machine
from benchmarks.training_step import Variant, book_step, interleaved_medians, make_runner
from gpt_lesson._files import write_json
from gpt_lesson.config import PRESETS, TRAINING
from gpt_lesson.pretraining.generate import generate

RESULTS = Path(__file__).resolve().parent / "results"
BOOK = Variant("book's step", book=True)


def device_name() -> str:
    """The first GPU's name as TensorFlow reports it, else "CPU"."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)


def matmul_runner(n: int):
    """One float32 n×n product on the device per call, waited for (returns None, so that
    ``interleaved_medians`` times the call)."""
    a = tf.random.normal((n, n), seed=0)
    b = tf.random.normal((n, n), seed=1)
    product = tf.function(tf.linalg.matmul)

    def run() -> None:
        product(a, b)[0, 0].numpy()

    return run


def random_ids(config, batch: int, steps: int) -> np.ndarray:
    """Enough random token ids for ``steps`` batches (speed does not depend on the ids)."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 50_257, (steps + 2) * batch * (config.sequence_length + 1))


def same_code_runs(quick: bool) -> dict[str, bool]:
    """A few steps of the book's fit lower the loss; cached generation equals uncached."""
    config = PRESETS["quick"]
    model, dataset, config = book_step(BOOK, config, random_ids(config, 8, 20), 8)
    few = dataset.take(4).cache().repeat()  # four batches to memorise
    history = model.fit(few, epochs=3, steps_per_epoch=10 if quick else 40, verbose=0)
    losses = history.history["loss"]
    prompt = [1, 2, 3]
    cached = generate(model, config, prompt, 8, "greedy", use_cache=True)
    uncached = generate(model, config, prompt, 8, "greedy", use_cache=False)
    return {
        "fit lowers the loss": bool(losses[-1] < losses[0]),
        "cache == no cache": bool(np.array_equal(cached, uncached)),
    }


def step_rows(quick: bool) -> tuple[list[dict], float, int]:
    """Tokens per second and MFU of the book's step at each preset's shapes."""
    presets = ("quick",) if quick else ("lesson", "gpt1")
    steps, repeats, size = (1, 3, 1024) if quick else (5, 5, 8192)
    runners, shapes = {}, {}
    for name in presets:
        config, batch = PRESETS[name], TRAINING[name].batch_size
        train, built = make_runner(BOOK, config, random_ids(config, batch, steps), batch, steps)
        train(1)  # traces and compiles
        runners[name], shapes[name] = train, (built, batch)
    matmul = matmul_runner(size)
    matmul()
    seconds = interleaved_medians({**runners, "matmul": matmul}, repeats)
    peak = matmul_gflops(size, seconds["matmul"])
    rows = []
    for name in presets:
        config, batch = shapes[name]
        rate = batch * config.sequence_length * steps / seconds[name]
        flops = training_flops_per_token(config)
        rows.append(
            {
                "preset": name,
                "batch × context": f"{batch} × {config.sequence_length}",
                "seconds per step": round(seconds[name] / steps, 4),
                "tokens per second": round(rate),
                "GFLOP per token": round(flops / 1e9, 4),
                "MFU": round(model_flops_utilisation(rate, flops, peak), 3),
            }
        )
    return rows, round(peak, 1), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick preset only, on any device")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    rows, peak, size = step_rows(args.quick)
    record = {
        "benchmark": "gpu_step",
        "quick": args.quick,
        "machine": describe_machine(),
        "device": device_name(),
        "rows": rows,
        f"matmul GFLOP/s ({size}², float32 in TensorFlow)": peak,
        "same code runs": same_code_runs(args.quick),
        "shapes": {r["preset"]: dataclasses.asdict(PRESETS[r["preset"]]) for r in rows},
    }
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"{stamp}-gpu_step{'-quick' if args.quick else ''}.json"
    write_json(path, record, indent=2, ensure_ascii=False)
    print(record)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
