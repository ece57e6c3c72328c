"""How long after its last step a ``fit`` returns, with ``tf.data``'s autotuner on and off.

``tf.data`` autotunes a pipeline by default: a background thread wakes after 10 ms,
20 ms, 40 ms, ... to re-plan buffer sizes and parallelism. When a ``fit`` ends, Keras
deletes the epoch's iterator, and that deletion was found to wait for the thread's next
wake-up, at 10 ms × (2^k − 1) after the iterator started: 2.56, 5.12, 10.24 s, ... So a
``fit`` whose steps took 4 s could return at 5.12 s, one whose steps took 5.5 s at
10.24 s. Every epoch or validation pass over a finite dataset has its own iterator too.

This benchmark times the same model's ``fit`` for a few step counts on the book's
pipeline (``pipeline.lm_windows``, whose autotuner the package turns off) and on the
same pipeline with the autotuner turned back on, interleaved: the steps' own seconds
(``StepClock``) and the whole call's.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import tensorflow as tf

from benchmarks.training_step import StepClock, Variant, book_step, corpus_ids
from gpt_lesson.config import PRESETS
from gpt_lesson.seed.blog import SEED_BATCH_SIZE

STEP_COUNTS = (3, 5, 7, 12)
REPEATS = 5


def with_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` with ``tf.data``'s default, the autotuner on."""
    options = tf.data.Options()
    options.autotune.enabled = True
    return dataset.with_options(options)


def run(quick: bool) -> dict[str, object]:
    """Median seconds of the steps and of the whole ``fit`` call; the same in both profiles
    (the step counts are the measurement; a one-layer model's steps were found no shorter)."""
    config = dataclasses.replace(PRESETS["blog"], num_layers=2)
    variant = Variant("book's step, trimmed vocabulary", book=True, trimmed=True)
    model, dataset, _ = book_step(variant, config, corpus_ids(), SEED_BATCH_SIZE)
    datasets = {"off (the package)": dataset, "on (tf.data's default)": with_autotune(dataset)}
    if dataset.options().autotune.enabled:
        raise RuntimeError("pipeline.lm_windows should turn tf.data's autotuner off.")
    model.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)  # compiles the step

    times: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for _ in range(REPEATS):
        for steps in STEP_COUNTS:
            for name, data in datasets.items():
                clock, start = StepClock(), time.perf_counter()
                model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[clock])
                whole = time.perf_counter() - start
                times.setdefault((steps, name), []).append((clock.seconds, whole))
    rows = []
    for (steps, name), pairs in times.items():
        waits = [whole - step for step, whole in pairs]
        rows.append(
            {
                "steps": steps,
                "autotune": name,
                "steps' seconds": round(statistics.median(s for s, _ in pairs), 2),
                "fit's seconds": round(statistics.median(w for _, w in pairs), 2),
                "after the last step, median (s)": round(statistics.median(waits), 2),
                "after the last step, most (s)": round(max(waits), 2),
            }
        )
    totals = {
        name: round(sum(w for (_, n), pairs in times.items() if n == name for _, w in pairs), 1)
        for name in datasets
    }
    return {
        "rows": rows,
        "seconds of all fits": totals,
        "layers": config.num_layers,
        "repeats": REPEATS,
    }
