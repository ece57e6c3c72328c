"""Chapter 4's experiment: which of the blog's choices keeps its model on the plateau.

The grid (:func:`grid`) starts from the blog's recipe and varies

- a factorial of layer-norm placement (post-LN, pre-LN) x learning-rate schedule (the
  blog's constant 1e-3; 1e-3 after a linear warmup; the paper's 2.5e-4 after a 2,000-step
  warmup with cosine decay; a constant 2.5e-4), with three seeds;
- one factor at a time, with two seeds: depth (3 and 6 post-LN layers; 12 is the
  factorial's cell), the paper's N(0, 0.02) initialisation, shuffled batches (whose seed
  also changes the batch order), and the blog's other choices (softmax layer, no clipping,
  its mask, its end token);
- the three runs that decide the story, at the blog's full size, for one epoch.

Every run is stored as one small JSON file (per-step loss, masked accuracy and entropy
of the predictions; per-layer gradient norms and update sizes at a few steps; the
plateau of its own framing; measured minutes) in a results folder, so the experiment
resumes run by run and chapter 4 reads it back. ``python -m experiments.stuck_accuracy``
runs it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpt_lesson import blog, diagnostics
from gpt_lesson.config import PRESETS, GPTConfig
from gpt_lesson.files import write_json

POST_LN, PRE_LN = "post-LN", "pre-LN"
BLOG_SCHEDULE = "1e-3 constant"
SCHEDULES = (BLOG_SCHEDULE, "1e-3, warmup", "paper: 2.5e-4, warmup, cosine", "2.5e-4 constant")


@dataclass(frozen=True)
class Plan:
    """How big and how long the grid's runs are under a profile."""

    config: GPTConfig  # the small model of the factorial and one-factor rows
    full_config: GPTConfig  # the blog's own size
    steps: int  # runs at a constant rate
    long_steps: int  # runs that warm up
    warmup_steps: int  # the paper's 2,000
    full_steps: int  # one epoch of the blog's windows
    seeds: tuple[int, ...]  # factorial cells
    one_factor_seeds: tuple[int, ...]
    jit_compile: bool = True


# The seed's depth, heads ratio and framing, 8x narrower: a step of 0.1-0.2 s on 2 cores.
SMALL = GPTConfig(
    sequence_length=64, hidden_dim=64, num_layers=12, num_heads=4, intermediate_dim=128
)
TINY = GPTConfig(sequence_length=64, hidden_dim=16, num_layers=2, num_heads=2, intermediate_dim=32)
PLANS: dict[str, Plan] = {
    "default": Plan(
        SMALL,
        PRESETS["blog"],
        steps=1000,
        long_steps=3000,
        warmup_steps=2000,
        full_steps=540,  # 8,628 windows in batches of 16: one epoch
        seeds=(0, 1, 2),
        one_factor_seeds=(0, 1),
    ),
    "quick": Plan(
        TINY,
        TINY,
        steps=12,
        long_steps=18,
        warmup_steps=8,
        full_steps=6,
        seeds=(0,),
        one_factor_seeds=(0,),
        jit_compile=False,
    ),
}


@dataclass(frozen=True)
class Run:
    """One training run of the grid: a recipe, a model size, a length and a seed."""

    group: str  # "factorial", "one factor" or "full size"
    row: str  # the layer norm, or the one factor changed
    column: str  # the learning-rate schedule
    recipe: blog.Recipe
    config: GPTConfig
    steps: int
    seed: int

    @property
    def stem(self) -> str:
        """The run's file name, without the suffix."""
        words = f"{self.group} {self.row} {self.column} seed{self.seed}"
        return re.sub(r"[^a-z0-9.]+", "-", words.lower()).strip("-")

    def key(self) -> dict:
        """What makes a stored run this run."""
        return {
            "config": dataclasses.asdict(self.config),
            "recipe": dataclasses.asdict(self.recipe),
            "steps": self.steps,
            "seed": self.seed,
        }


def schedule(name: str, plan: Plan) -> dict:
    """The recipe fields of the schedule ``name``."""
    warmup = {"warmup_steps": plan.warmup_steps}
    return {
        BLOG_SCHEDULE: {"learning_rate": 1e-3},
        "1e-3, warmup": {"learning_rate": 1e-3, **warmup},
        "paper: 2.5e-4, warmup, cosine": {
            "learning_rate": 2.5e-4,
            **warmup,
            "decay_to_zero_at": plan.long_steps,
        },
        "2.5e-4 constant": {"learning_rate": 2.5e-4},
    }[name]


def _steps(recipe: blog.Recipe, plan: Plan) -> int:
    return plan.long_steps if recipe.warmup_steps else plan.steps


def _factorial(plan: Plan, seed: int) -> list[Run]:
    runs = []
    for row, normalize_first in ((POST_LN, False), (PRE_LN, True)):
        for column in SCHEDULES:
            recipe = blog.Recipe(normalize_first=normalize_first, **schedule(column, plan))
            runs.append(
                Run("factorial", row, column, recipe, plan.config, _steps(recipe, plan), seed)
            )
    return runs


def one_factor_rows(plan: Plan) -> dict[str, tuple[blog.Recipe, GPTConfig]]:
    """The blog's recipe with one thing changed: depth, the paper's initialisation and
    shuffling (the suspects), then the blog's other choices."""
    config, replace = plan.config, dataclasses.replace
    return {
        "3 layers": (blog.BLOG, replace(config, num_layers=3)),
        "6 layers": (blog.BLOG, replace(config, num_layers=6)),
        "N(0, 0.02) init": (replace(blog.BLOG, initializer_range=0.02), config),
        "shuffled batches": (replace(blog.BLOG, shuffle=True), config),
        "logits": (replace(blog.BLOG, softmax_output=False), config),
        "clipnorm 1": (replace(blog.BLOG, clipnorm=1.0), config),
        "mask fixed": (replace(blog.BLOG, mask_hides_id_zero=False), config),
        "no end token": (replace(blog.BLOG, end_token=False), config),
    }


def _one_factor(plan: Plan, seed: int, names: tuple[str, ...]) -> list[Run]:
    rows = one_factor_rows(plan)
    return [
        Run("one factor", name, BLOG_SCHEDULE, rows[name][0], rows[name][1], plan.steps, seed)
        for name in names
    ]


def _full_size(plan: Plan) -> list[Run]:
    cells = ((POST_LN, BLOG_SCHEDULE), (POST_LN, SCHEDULES[2]), (PRE_LN, BLOG_SCHEDULE))
    return [
        Run(
            "full size",
            row,
            column,
            blog.Recipe(normalize_first=row == PRE_LN, **schedule(column, plan)),
            plan.full_config,
            plan.full_steps,
            0,
        )
        for row, column in cells
    ]


def grid(plan: Plan) -> list[Run]:
    """Every run of the experiment, the most informative first (one seed of everything
    that decides the story before the further seeds)."""
    suspects = ("3 layers", "6 layers", "N(0, 0.02) init", "shuffled batches")
    other_choices = ("logits", "clipnorm 1", "mask fixed", "no end token")
    first, *others = plan.one_factor_seeds
    runs = _factorial(plan, plan.seeds[0]) + _one_factor(plan, first, suspects)
    runs += _full_size(plan)
    runs += [run for seed in plan.seeds[1:] for run in _factorial(plan, seed)]
    runs += [run for seed in others for run in _one_factor(plan, seed, suspects)]
    runs += [
        run for seed in plan.one_factor_seeds for run in _one_factor(plan, seed, other_choices)
    ]
    return runs


def first_of_each_group(runs: list[Run]) -> list[Run]:
    """The first run of each group: every kind of run the grid has, once (a check of the
    grid's code far cheaper than the grid, whose runs cost seconds of tracing each)."""
    firsts: dict[str, Run] = {}
    for run in runs:
        firsts.setdefault(run.group, run)
    return list(firsts.values())


def probe_steps(steps: int) -> tuple[int, ...]:
    """Where the layer probe measures: densely at the start, where collapse happens."""
    marks = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 1500, 2000, 2500)
    return tuple(sorted({m for m in marks if m < steps} | {steps - 1}))


def _rounded(values, digits: int = 5) -> list:
    """Floats to ``digits`` significant digits (nested lists too): small, exact JSON."""
    if isinstance(values, list | tuple | np.ndarray):
        return [_rounded(v, digits) for v in values]
    value = float(values)
    return value if value == 0 or not math.isfinite(value) else float(f"{value:.{digits}g}")


def train(run: Run, seed_ids: np.ndarray, jit_compile: bool = True) -> dict:
    """Train ``run`` on the seed's token stream and return its record."""
    start, cpu_start = time.monotonic(), time.process_time()
    windows = blog.frame(seed_ids, run.recipe, trim_vocabulary=True)
    ids, shares = diagnostics.label_shares(windows.labels, windows.pad_id)
    _, log, probe = blog.train_recipe(
        run.recipe,
        run.config,
        windows,
        run.steps,
        seed=run.seed,
        jit_compile=jit_compile,
        probe_steps=probe_steps(run.steps),
    )
    return {
        "group": run.group,
        "row": run.row,
        "column": run.column,
        **run.key(),
        "majority_share": float(shares[0]),
        "label_entropy": float(-(shares * np.log(shares)).sum()),
        "loss": _rounded(log.loss),
        "accuracy": _rounded(log.accuracy),
        "entropy": _rounded(log.entropy),
        "probe": {
            k: v if k in ("steps", "layers") else _rounded(v) for k, v in probe.record().items()
        },
        "minutes": (time.monotonic() - start) / 60.0,
        "cpu_minutes": (time.process_time() - cpu_start) / 60.0,
        "threads": os.environ.get("GPT_LESSON_THREADS", "default"),
    }


def stored(run: Run, folder: Path) -> dict | None:
    """The stored record of ``run`` in ``folder``, if one exists for exactly this run."""
    path = folder / f"{run.stem}.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    return record if {k: record.get(k) for k in run.key()} == run.key() else None


def _claim(path: Path) -> bool:
    """Take the lock ``path`` for this process; a lock whose process died is taken over."""
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            os.kill(int(path.read_text() or 0), 0)
            return False  # another live process runs it
        except (ProcessLookupError, ValueError):
            path.unlink(missing_ok=True)
            return _claim(path)
    with os.fdopen(descriptor, "w") as file:
        file.write(str(os.getpid()))
    return True


def run_grid(
    runs: list[Run], folder: Path, seed_ids: np.ndarray, jit_compile: bool = True, say=print
) -> None:
    """Train every run of ``runs`` not yet stored in ``folder``, one after another.

    Several processes may share a folder: each run is claimed by a lock file first, so
    they split the work; an interrupted experiment carries on where it stopped.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for index, run in enumerate(runs, 1):
        lock = folder / f"{run.stem}.lock"
        if stored(run, folder) is not None or not _claim(lock):
            continue
        try:
            if stored(run, folder) is None:  # another process may have finished it meanwhile
                say(f"[{index}/{len(runs)}] {run.stem}: {run.steps} steps")
                record = train(run, seed_ids, jit_compile)
                write_json(folder / f"{run.stem}.json", record, separators=(",", ":"))
                say(f"[{index}/{len(runs)}] {run.stem}: done in {record['minutes']:.1f} min")
        finally:
            lock.unlink(missing_ok=True)


def load(runs: list[Run], folder: Path) -> tuple[list[dict], list[Run]]:
    """The stored records of ``runs`` and the runs that are missing."""
    records, missing = [], []
    for run in runs:
        record = stored(run, folder)
        if record is None:
            missing.append(run)
        else:
            records.append(record)
    return records, missing


TAIL = 100  # steps at the end of a run that say where it ended up
MARGIN = 0.1  # nats: how near the label entropy counts as on the plateau


def first_step_below(values: list[float], level: float, window: int) -> int | None:
    """The first step at which the ``window``-step mean of ``values`` is below ``level``
    (the step that ends the window), or None if it never is."""
    if len(values) < window:
        return None
    means = np.convolve(values, np.ones(window) / window, mode="valid")
    below = np.flatnonzero(means < level)
    return int(below[0]) + window - 1 if len(below) else None


def describe(record: dict) -> dict:
    """Where one run ended and when it reached and left the plateau of its own framing.

    On the plateau: the 20-step mean loss within ``MARGIN`` of the label entropy.
    Left it: the 50-step mean loss more than ``MARGIN`` below it, which no model that
    ignores its context can reach. Ends on it: the last ``TAIL`` steps' mean loss within
    ``MARGIN`` of it (a run can leave the plateau and fall back).
    """
    entropy = record["label_entropy"]
    return {
        "loss": float(np.mean(record["loss"][-TAIL:])),
        "accuracy": float(np.mean(record["accuracy"][-TAIL:])),
        "entropy": float(np.mean(record["entropy"][-TAIL:])),
        "over majority": float(np.mean(record["accuracy"][-TAIL:]) - record["majority_share"]),
        "below H": float(entropy - np.mean(record["loss"][-TAIL:])),
        "reaches plateau": first_step_below(record["loss"], entropy + MARGIN, 20),
        "leaves plateau": first_step_below(record["loss"], entropy - MARGIN, 50),
        "ends on plateau": bool(abs(np.mean(record["loss"][-TAIL:]) - entropy) <= MARGIN),
        "minutes": record["minutes"],
    }


def fate(summary: dict) -> tuple[str, int | None]:
    """How a run met the plateau: words with ``{}`` where its step goes, and that step.

    The words are short, for a table's column: "stuck" is on the plateau and never off it.
    """
    reached, left = summary["reaches plateau"], summary["leaves plateau"]
    if left is not None:
        words = "left at {}" if reached is not None else "never on, below from {}"
        return words + (", back on it at the end" if summary["ends on plateau"] else ""), left
    if reached is None:
        return "still above it", None
    return "stuck from {}", reached


def fates(records: list[dict]) -> str:
    """The seeds' fates in words, said once where they agree, with the steps in seed order."""
    told = [fate(describe(record)) for record in records]
    if len({words for words, _ in told}) == 1:
        return told[0][0].format(", ".join(str(step) for _, step in told if step is not None))
    return "; ".join(
        f"seed {record['seed']}: " + words.format(step)
        for record, (words, step) in zip(records, told, strict=True)
    )


def cells(records: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    """Records grouped by (group, row, column), seeds in order."""
    grouped: dict[tuple[str, str, str], list[dict]] = {}
    for record in sorted(records, key=lambda r: r["seed"]):
        grouped.setdefault((record["group"], record["row"], record["column"]), []).append(record)
    return grouped
