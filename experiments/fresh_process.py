"""Each fine-tuning run in a fresh Python process, so that a long series of runs holds
the memory of one run, not of all of them.

TensorFlow keeps what it traced for every run alive after the run (each run's training
step: its graphs and about 290 functions), and neither ``keras.backend.clear_session()``,
``gc.collect()`` nor ``tf.compat.v1.reset_default_graph()`` frees it; one process grew by
about 110 MB a run of 40 steps of the lesson preset, and by about 1.6 GB a run of the full
ablation (``benchmarks/README.md``, "Memory across runs"). A process that ends gives it all
back. The child rebuilds the data from the same checkpoint with the same code, so a run
gives the same numbers in either place (``tests/test_cola_ablation.py`` checks this).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from gpt_lesson.tasks.fine_tuning import FinetuneConfig


@dataclass(frozen=True)
class ColaSetup:
    """What a child needs to rebuild chapter 5's data: the checkpoint and the unseen-id
    policy of ``prepare_cola``."""

    checkpoint: str
    unseen: str = "grow"


def finetune_once(setup: ColaSetup, config: FinetuneConfig) -> dict:
    """``run_once`` on CoLA prepared from ``setup``: what a child process runs."""
    from gpt_lesson.gpt1.presets import load_checkpoint
    from gpt_lesson.tasks.cola import prepare_cola, run_once
    from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

    tokenizer = load_gpt2_tokenizer()
    data = prepare_cola(load_checkpoint(setup.checkpoint), tokenizer, unseen=setup.unseen)
    return run_once(data, config)


class FreshProcessRuns:
    """``run(data, config)``, as ``run_once`` is called, but each call in a new process
    (``spawn``: a fork would copy TensorFlow's threads mid-flight)."""

    def __init__(self, setup: ColaSetup) -> None:
        self.setup = setup

    def __call__(self, data, config: FinetuneConfig) -> dict:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            return pool.submit(finetune_once, self.setup, config).result()
