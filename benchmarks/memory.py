"""Peak resident memory of pre-training, measured; the gpt1 preset's, estimated; and the memory
of a series of fine-tuning runs, in one process and with a fresh process per run.

Each preset trains a few steps in a fresh Python process as
``gpt_lesson.pretraining.train.pretrain`` sets it up (``build_gpt``, AdamW,
``MaskedLMLoss``, the preset's batch size, XLA and vocabulary trimming as its
``TrainConfig`` says, the book's pipeline), without the validation pass; the process reports
its own peak resident set size (``VmHWM``), once after the imports (TensorFlow's floor) and
once after training.

python -m benchmarks.memory PRESET STEPS   # one measurement, printed as JSON
python -m benchmarks.memory runs CHECKPOINT COUNT STEPS in-process|fresh   # a series
"""

from __future__ import annotations

import dataclasses
import json
import resource
import subprocess
import sys
from pathlib import Path

from benchmarks import estimate
from benchmarks.flops import training_flops_per_token
from gpt_lesson.config import PRESETS, TRAINING, parameter_count

PRESETS_MEASURED = ("blog", "lesson")
PAPER_BATCH = 64  # GPT-1: minibatches of 64 sequences of 512 tokens
GPU_TFLOPS = {  # dense peaks from NVIDIA's A100 datasheet, at an assumed 40% MFU
    "A100, bfloat16 (312 TFLOP/s peak, 40% MFU)": 312 * 0.4,
    "A100, TF32 (156 TFLOP/s peak, 40% MFU)": 156 * 0.4,
}


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB.

    On Linux it is ``VmHWM`` from ``/proc/self/status``: ``ru_maxrss`` would do, but Linux
    carries it over from the parent through fork and exec, so a fresh interpreter started
    by a large process would report the parent's peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def pretrain_steps(preset: str, steps: int) -> dict[str, float]:
    """Train ``preset`` for ``steps`` steps in this process; peak RSS before and after."""
    import keras
    import numpy as np

    from benchmarks.training_step import corpus_ids
    from gpt_lesson.gpt1.causal_lm import build_gpt
    from gpt_lesson.optimization import make_optimizer, make_schedule
    from gpt_lesson.pretraining import pipeline
    from gpt_lesson.pretraining.objectives import MaskedAccuracy, MaskedLMLoss
    from gpt_lesson.seed.blog import END_ID, PAD_ID, START_ID
    from gpt_lesson.tokenizer.vocabulary import Vocabulary

    floor = peak_rss_mib()
    config, train = PRESETS[preset], TRAINING[preset]
    ids, pad = corpus_ids(), PAD_ID
    if train.trim_vocabulary:
        vocabulary = Vocabulary.used_by(ids, always=(PAD_ID, START_ID, END_ID))
        ids, pad = vocabulary.compact(ids), int(vocabulary.compact(np.array([PAD_ID]))[0])
        config = dataclasses.replace(config, vocab_size=vocabulary.size)
    keras.utils.set_random_seed(0)
    model = build_gpt(config)
    model.compile(
        optimizer=make_optimizer(model, make_schedule(train, total_steps=1000), train),
        loss=MaskedLMLoss(pad),
        metrics=[MaskedAccuracy(pad)],
        jit_compile=train.jit_compile,
    )
    dataset = pipeline.lm_windows(ids, config.sequence_length, train.batch_size, pad, True)
    model.fit(dataset.repeat(), epochs=1, steps_per_epoch=steps, verbose=0)
    return {
        "after imports MiB": round(floor),
        "peak MiB": round(peak_rss_mib()),
        "parameters": model.count_params(),
        "batch": train.batch_size,
        "context": config.sequence_length,
        "vocabulary": config.vocab_size,
    }


def measure_in_subprocess(preset: str, steps: int) -> dict[str, float]:
    """``pretrain_steps`` in a fresh interpreter, so each peak is that preset's alone."""
    command = [sys.executable, "-m", "benchmarks.memory", preset, str(steps)]
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(command, capture_output=True, text=True, cwd=root, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def gpt1_estimate() -> dict[str, object]:
    """The gpt1 preset at the paper's batch of 64×512 tokens on one GPU, from the formulas."""
    config = PRESETS["gpt1"]
    gib = 2**30
    return {
        "parameters": parameter_count(config),
        "weights, gradients, Adam GiB": round(estimate.optimizer_state_bytes(config) / gib, 1),
        "activations GiB": round(estimate.activation_bytes(config, PAPER_BATCH) / gib, 1),
        "total GiB": round(estimate.training_memory_bytes(config, PAPER_BATCH) / gib, 1),
        "GFLOP per token": round(training_flops_per_token(config) / 1e9, 3),
        "tokens per step": PAPER_BATCH * config.sequence_length,
        "seconds per step": {
            name: round(estimate.step_seconds(config, PAPER_BATCH, tflops), 3)
            for name, tflops in GPU_TFLOPS.items()
        },
    }


def resident_mib() -> float:
    """This process's resident set size now (``VmRSS``), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise OSError("no VmRSS in /proc/self/status (Linux only)")


def finetune_series(checkpoint: str, count: int, steps: int, mode: str) -> list[float]:
    """Resident MiB of this process with CoLA prepared, then after each of ``count``
    fine-tuning runs of ``steps`` steps, run here (``in-process``, as chapter 5's ablation
    once did) or each in a fresh process (``fresh``, as it does now)."""
    from experiments.fresh_process import ColaSetup, FreshProcessRuns
    from gpt_lesson.gpt1.presets import load_checkpoint
    from gpt_lesson.tasks.cola import prepare_cola, run_once
    from gpt_lesson.tasks.fine_tuning import FinetuneConfig
    from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

    data = prepare_cola(load_checkpoint(checkpoint), load_gpt2_tokenizer())
    run = run_once if mode == "in-process" else FreshProcessRuns(ColaSetup(checkpoint))
    sizes = [resident_mib()]
    for seed in range(count):
        run(data, FinetuneConfig(seed=seed, max_steps=steps))
        sizes.append(resident_mib())
    return sizes


def quick_checkpoint(folder: Path) -> str:
    """An untrained quick-preset model saved as ``pretrain`` saves one."""
    from gpt_lesson.gpt1.causal_lm import build_gpt
    from gpt_lesson.gpt1.presets import save_preset
    from gpt_lesson.pretraining.train import save_run_config, with_preprocessor
    from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

    config = PRESETS["quick"]
    save_run_config(folder, config, TRAINING["quick"])
    save_preset(with_preprocessor(build_gpt(config), load_gpt2_tokenizer()), folder)
    return str(folder)


def series_in_subprocess(checkpoint: str, count: int, steps: int, mode: str) -> list[float]:
    """``finetune_series`` in a fresh interpreter, so that each mode starts alike."""
    command = [sys.executable, "-m", "benchmarks.memory", "runs", checkpoint]
    command += [str(count), str(steps), mode]
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(command, capture_output=True, text=True, cwd=root, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def fine_tuning_runs(quick: bool) -> dict[str, object]:
    """Memory across fine-tuning runs: the same series in one process and with a fresh
    process per run (quick: 3 runs of 3 steps of an untrained quick model; full: 6 runs of
    40 steps from chapter 3's checkpoint, ``runs/chapter3-lesson``)."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = quick_checkpoint(Path(scratch) / "lm") if quick else "runs/chapter3-lesson"
        count, steps = (3, 3) if quick else (6, 40)
        series = {
            mode: series_in_subprocess(checkpoint, count, steps, mode)
            for mode in ("in-process", "fresh")
        }
    rows = [
        {
            "after run": index,
            **{f"{mode} MiB": round(sizes[index]) for mode, sizes in series.items()},
        }
        for index in range(count + 1)
    ]
    growth = {
        f"{mode}: MiB per run": round((sizes[-1] - sizes[1]) / max(count - 1, 1), 1)
        for mode, sizes in series.items()
    }
    return {"checkpoint": checkpoint, "steps per run": steps, "rows": rows, **growth}


def run(quick: bool) -> dict[str, object]:
    """Peak memory of each preset (2 steps quick, 5 full), the gpt1 estimate, and the
    memory of a series of fine-tuning runs."""
    steps = 2 if quick else 5
    rows = [
        {"preset": preset, "steps": steps, **measure_in_subprocess(preset, steps)}
        for preset in PRESETS_MEASURED
    ]
    return {
        "rows": rows,
        "gpt1 estimate": gpt1_estimate(),
        "fine-tuning runs": fine_tuning_runs(quick),
    }


if __name__ == "__main__":
    if sys.argv[1] == "runs":
        checkpoint, count, steps, mode = (
            sys.argv[2],
            int(sys.argv[3]),
            int(sys.argv[4]),
            sys.argv[5],
        )
        print(json.dumps(finetune_series(checkpoint, count, steps, mode)))
    else:
        print(json.dumps(pretrain_steps(sys.argv[1], int(sys.argv[2]))))
