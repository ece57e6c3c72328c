"""Quality for compute: validation bits per character against training minutes.

The lesson preset's curve is chapter 3's stored run (``runs/chapter3-lesson``, git-ignored;
its history, summary and run record are copied to ``results/lesson-run/`` when present, and
read from there otherwise). The alternatives are trained here with
``gpt_lesson.pretraining.train.pretrain`` and the lesson recipe, each for the number of
steps that costs the lesson run's measured throughput ``budget`` minutes when FLOPs per
token are taken into account, so that every model gets the same compute. Their minutes are
measured as the process's CPU time divided by the cores (what wall minutes are when training
has the machine to itself), because a benchmark on a shared machine gets only part of it.

The recipes (issue 17) are the lesson preset trained in full here, each with the lesson's
model and training settings but for what ``RECIPES`` changes, chapter 3's own recipe among
them, so that a candidate is measured beside the current recipe in one run on one machine
state. Their minutes are wall minutes (the benchmark should have the machine to itself), CPU
minutes beside them; the goal they are held to is ``GOAL_BITS`` within ``GOAL_MINUTES``.

nanoGPT's character-level references are figures quoted in issue 7, not measured here."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import keras

from benchmarks.flops import training_flops_per_token
from gpt_lesson.config import PRESETS, TRAINING, GPTConfig, TrainConfig
from gpt_lesson.pretraining.history import HISTORY, read_log
from gpt_lesson.pretraining.train import LMData, load_shakespeare, pretrain
from gpt_lesson.tokenizer.gpt2 import BookGPT2Tokenizer, load_gpt2_tokenizer

ROOT = Path(__file__).resolve().parent.parent
LESSON_RUN = ROOT / "runs" / "chapter3-lesson"
STORED_RUN = Path(__file__).resolve().parent / "results" / "lesson-run"
RUN_FILES = ("history.csv", "summary.json", "run.json")  # run.json: the model and recipe
EVALUATIONS = 6  # validation points per alternative
LESSON, LESSON_TRAINING = PRESETS["lesson"], TRAINING["lesson"]
ALTERNATIVES = {
    "smaller (d=128)": dataclasses.replace(
        LESSON, hidden_dim=128, num_heads=4, intermediate_dim=512
    ),
}
RECIPES: dict[str, tuple[GPTConfig, TrainConfig]] = {
    "5 epochs, fixed windows (chapter 3's recipe before)": (
        LESSON,
        dataclasses.replace(LESSON_TRAINING, epochs=5, shift_windows=False),
    ),
    "7 epochs, shifted windows (chapter 3's recipe)": (LESSON, LESSON_TRAINING),
    "7 epochs, shifted windows, weight decay 0.1": (
        LESSON,
        dataclasses.replace(LESSON_TRAINING, weight_decay=0.1),
    ),
}
GOAL_BITS, GOAL_MINUTES = 2.20, 15.0  # issue 17: at most 2.20 bits/char within 15 minutes
# Quoted from issue 7 (nanoGPT's shakespeare_char), not measured here: (minutes, bits/char).
NANOGPT_REFERENCES = {
    "nanoGPT char, 2 min on this machine (quoted)": 2.72,
    "nanoGPT char, 15 min on this machine (quoted)": 2.60,
    "nanoGPT char, on an A100 (quoted)": 2.12,
}


def stored_lesson_run() -> Path:
    """The folder of the lesson run's files: refreshed from ``runs/`` when it exists."""
    if (LESSON_RUN / "history.csv").exists():
        STORED_RUN.mkdir(parents=True, exist_ok=True)
        for name in RUN_FILES:
            shutil.copy2(LESSON_RUN / name, STORED_RUN / name)
    if not (STORED_RUN / "history.csv").exists():
        raise FileNotFoundError(
            f"Neither {LESSON_RUN} nor {STORED_RUN} holds a lesson run's history.csv: run "
            "`python -m gpt_lesson pretrain --preset lesson --out runs/chapter3-lesson` first."
        )
    return STORED_RUN


def lesson_curve(folder: Path) -> list[dict[str, float]]:
    """(minutes, bits/char) after each epoch of the stored lesson run."""
    history = read_log(folder / HISTORY)
    return [
        {"minutes": float(minutes), "val_bits_per_char": float(bits)}
        for minutes, bits in zip(history["minutes"], history["val_bits_per_char"], strict=True)
    ]


def lesson_tokens_per_minute(folder: Path, curve: list[dict[str, float]]) -> float:
    """Training tokens per wall minute (validation included) of the stored lesson run."""
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    tokens_per_step = record["train"]["batch_size"] * record["model"]["sequence_length"]
    tokens = len(curve) * summary["steps_per_epoch"] * tokens_per_step
    return tokens / curve[-1]["minutes"]


def cpu_minutes() -> float:
    """CPU time of this process so far, divided by the cores: minutes of the whole machine."""
    return time.process_time() / 60.0 / (os.cpu_count() or 1)


class CurveLog(keras.callbacks.Callback):
    """Records CPU minutes (per core), wall minutes and validation bits/char each epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.points: list[dict[str, float]] = []
        self.cpu_start = self.wall_start = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.cpu_start, self.wall_start = cpu_minutes(), time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.points.append(
            {
                "minutes": cpu_minutes() - self.cpu_start,
                "wall minutes": (time.monotonic() - self.wall_start) / 60.0,
                "val_bits_per_char": float(logs["val_bits_per_char"]),
            }
        )


def train_recipe(
    config: GPTConfig, train: TrainConfig, data: LMData, tokenizer: BookGPT2Tokenizer, quick: bool
) -> list[dict[str, float]]:
    """Pre-train ``config`` with ``train`` in full (10 steps an epoch when ``quick``)."""
    if quick:
        train = dataclasses.replace(train, max_steps_per_epoch=10, warmup_steps=5)
    log = CurveLog()
    with tempfile.TemporaryDirectory() as scratch:
        pretrain(config, train, data, tokenizer, scratch, verbose=0, callbacks=[log])
    return log.points


def recipe_summary(train: TrainConfig, points: list[dict[str, float]]) -> dict[str, object]:
    """What a recipe reached, and whether it met the goal within the goal's minutes."""
    in_time = [p for p in points if p["wall minutes"] <= GOAL_MINUTES]
    best = min(in_time or points, key=lambda point: point["val_bits_per_char"])
    return {
        "epochs": train.epochs,
        "final val bits/char": round(points[-1]["val_bits_per_char"], 4),
        "wall minutes": round(points[-1]["wall minutes"], 2),
        "CPU minutes per core": round(points[-1]["minutes"], 2),
        f"best within {GOAL_MINUTES:g} min": round(best["val_bits_per_char"], 4),
        "at epoch": points.index(best) + 1,
        f"goal {GOAL_BITS:.2f} met": bool(in_time) and best["val_bits_per_char"] <= GOAL_BITS,
    }


def train_alternative(
    config: GPTConfig, steps: int, data: LMData, tokenizer: BookGPT2Tokenizer, folder: str | Path
) -> list[dict[str, float]]:
    """Pre-train ``config`` with the lesson recipe for about ``steps`` steps."""
    per_epoch = math.ceil(steps / EVALUATIONS)
    train = dataclasses.replace(
        LESSON_TRAINING,
        epochs=EVALUATIONS,
        max_steps_per_epoch=per_epoch,
        max_minutes=None,
        warmup_steps=min(LESSON_TRAINING.warmup_steps, steps // 10),
    )
    log = CurveLog()
    pretrain(config, train, data, tokenizer, folder, verbose=0, callbacks=[log])
    return log.points


def matched_steps(config: GPTConfig, lesson: GPTConfig, rate: float, minutes: float) -> int:
    """Steps of ``config`` that cost what ``minutes`` of the lesson run cost, in FLOPs."""
    ratio = training_flops_per_token(lesson) / training_flops_per_token(config)
    tokens_per_step = LESSON_TRAINING.batch_size * config.sequence_length
    return max(EVALUATIONS, round(minutes * rate * ratio / tokens_per_step))


def run(quick: bool) -> dict[str, object]:
    """The stored lesson curve, each alternative's (3 minutes' compute; 0.3 quick) and each
    recipe's, trained in full (10 steps an epoch quick)."""
    budget = 0.3 if quick else 3.0
    folder = stored_lesson_run()
    curve = lesson_curve(folder)
    rate = lesson_tokens_per_minute(folder, curve)
    tokenizer = load_gpt2_tokenizer()
    data = load_shakespeare(tokenizer)
    curves = {"lesson (stored run, wall minutes)": curve}
    steps_of = {}
    for name, config in ALTERNATIVES.items():
        steps_of[name] = matched_steps(config, LESSON, rate, budget)
        with tempfile.TemporaryDirectory() as scratch:
            curves[name] = train_alternative(config, steps_of[name], data, tokenizer, scratch)
    recipes = {}
    for name, (config, train) in RECIPES.items():
        points = train_recipe(config, train, data, tokenizer, quick)
        curves[f"{name} (wall minutes)"] = [{**p, "minutes": p["wall minutes"]} for p in points]
        recipes[name] = recipe_summary(train, points)
    rows = [
        {
            "model": name,
            "minutes": round(points[-1]["minutes"], 2),
            "val bits/char": round(points[-1]["val_bits_per_char"], 3),
        }
        for name, points in curves.items()
    ]
    return {
        "rows": rows,
        "curves": curves,
        "recipes": recipes,
        "recipe settings": {
            name: {"model": dataclasses.asdict(config), "train": dataclasses.asdict(train)}
            for name, (config, train) in RECIPES.items()
        },
        "alternatives": {name: dataclasses.asdict(c) for name, c in ALTERNATIVES.items()},
        "alternative steps": steps_of,
        "budget minutes": budget,
        "lesson tokens per minute": round(rate),
        "nanoGPT references (quoted from issue 7)": NANOGPT_REFERENCES,
    }
