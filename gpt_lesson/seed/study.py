"""Chapter 4's experiment: which of the blog's choices keeps its model on the plateau.

The grid (:func:`grid`) starts from the blog's recipe and varies

- a factorial of layer-norm placement (post-LN, pre-LN) x learning-rate schedule (the
  blog's constant 1e-3; 1e-3 after a linear warmup; the paper's 2.5e-4 after a 2,000-step
  warmup with cosine decay; a constant 2.5e-4), with three seeds, at width 64;
- one factor at a time, with two seeds: depth (3 and 6 post-LN layers; 12 is the
  factorial's cell), the paper's N(0, 0.02) initialisation, shuffled batches (whose seed
  also changes the batch order), and the blog's other choices (softmax layer, no clipping,
  its mask, its end token);
- the blog's recipe and its rescues at a second width, and the blog's recipe run longer;
- the blog's own size for one epoch (trained on all the text: too slow to repeat).

Every run is stored as one small JSON file (per-step loss, masked accuracy and entropy
of the predictions; the same measures on held-out text at fixed steps; per-layer
gradients, Adam's terms and the output change at a few steps; the plateau of its own
framing; measured minutes and the machine) in a results folder, and chapter 4 reads it
back (:func:`load`). This module holds what the chapter reads: the plan, its runs,
training one run (:func:`train_run`) and reading the records. The runner that works
through the grid, resumably and in several processes, is ``experiments.stuck_accuracy``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpt_lesson.config import PRESETS, GPTConfig
from gpt_lesson.figures.plots import moving_average
from gpt_lesson.seed import blog, diagnostics, held_out

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
    held_out: float = 0.0  # the share of the text, at its end, that no run trains on
    evaluate_every: int = 100  # steps between held-out evaluations
    wide_config: GPTConfig | None = None  # the second width's model
    wide_seeds: tuple[int, ...] = ()
    blog_long_steps: int | None = None  # the blog's recipe, run this long at the first width


# The seed's depth, heads ratio and framing, 8x narrower: a step of 0.1-0.2 s on 2 cores.
SMALL = GPTConfig(
    sequence_length=64, hidden_dim=64, num_layers=12, num_heads=4, intermediate_dim=128
)
# Twice as wide, with the blog's 8 heads (of 16 dimensions, as at width 64).
WIDE = dataclasses.replace(SMALL, hidden_dim=128, num_heads=8, intermediate_dim=256)
TINY = GPTConfig(sequence_length=64, hidden_dim=16, num_layers=2, num_heads=2, intermediate_dim=32)
SECOND_EDITION = Plan(
    SMALL,
    PRESETS["blog"],
    steps=1000,
    long_steps=3000,
    warmup_steps=2000,
    full_steps=540,  # 8,628 windows in batches of 16: one epoch
    seeds=(0, 1, 2),
    one_factor_seeds=(0, 1),
)
PLANS: dict[str, Plan] = {
    # Every run judged on the last 5% of the play; a second width; the blog's recipe longer.
    "default": dataclasses.replace(
        SECOND_EDITION, held_out=0.05, wide_config=WIDE, wide_seeds=(0, 1), blog_long_steps=3000
    ),
    "second edition": SECOND_EDITION,  # trained on all the text, judged on its own batches
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
        held_out=0.05,
        evaluate_every=4,
        wide_config=dataclasses.replace(TINY, hidden_dim=32),
        wide_seeds=(0,),
        blog_long_steps=24,
    ),
}


@dataclass(frozen=True)
class Run:
    """One training run of the grid: a recipe, a model size, a length and a seed."""

    group: str  # "factorial", "one factor", "width 128", "long" or "full size"
    row: str  # the layer norm, or the one factor changed
    column: str  # the learning-rate schedule
    recipe: blog.Recipe
    config: GPTConfig
    steps: int
    seed: int
    held_out: float = 0.0  # the share of the text kept apart for evaluation

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
            "held_out": self.held_out,
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


def _recipe(row: str, column: str, plan: Plan) -> blog.Recipe:
    return blog.Recipe(normalize_first=row == PRE_LN, **schedule(column, plan))


def _factorial(plan: Plan, seed: int, columns: tuple[str, ...] = SCHEDULES) -> list[Run]:
    runs = []
    for row in (POST_LN, PRE_LN):
        for column in columns:
            recipe = _recipe(row, column, plan)
            steps = _steps(recipe, plan)
            runs.append(
                Run("factorial", row, column, recipe, plan.config, steps, seed, plan.held_out)
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
        Run(
            "one factor",
            name,
            BLOG_SCHEDULE,
            *rows[name],
            plan.steps,
            seed,
            plan.held_out,
        )
        for name in names
    ]


WIDE_CELLS = (  # the rescues of the first width, and the blog, at the second
    (POST_LN, BLOG_SCHEDULE),
    (PRE_LN, BLOG_SCHEDULE),
    ("N(0, 0.02) init", BLOG_SCHEDULE),
    (POST_LN, SCHEDULES[3]),
    (POST_LN, SCHEDULES[2]),
)


def _wide(plan: Plan, seed: int) -> list[Run]:
    if plan.wide_config is None:
        return []
    group = f"width {plan.wide_config.hidden_dim}"
    runs = []
    for row, column in WIDE_CELLS:
        recipe = _recipe(row, column, plan)
        if row == "N(0, 0.02) init":  # the one-factor row's change, at this width
            recipe = one_factor_rows(plan)[row][0]
        steps = _steps(recipe, plan)
        runs.append(Run(group, row, column, recipe, plan.wide_config, steps, seed, plan.held_out))
    return runs


def _long(plan: Plan, seed: int) -> list[Run]:
    if plan.blog_long_steps is None:
        return []
    steps = plan.blog_long_steps
    return [Run("long", POST_LN, BLOG_SCHEDULE, blog.BLOG, plan.config, steps, seed, plan.held_out)]


def _full_size(plan: Plan) -> list[Run]:
    """The blog's own size for one epoch: trained on all the text (the second edition's
    runs; too slow on a CPU to repeat with a held-out stretch)."""
    cells = ((POST_LN, BLOG_SCHEDULE), (POST_LN, SCHEDULES[2]), (PRE_LN, BLOG_SCHEDULE))
    return [
        Run(
            "full size",
            row,
            column,
            _recipe(row, column, plan),
            plan.full_config,
            plan.full_steps,
            0,
        )
        for row, column in cells
    ]


def grid(plan: Plan) -> list[Run]:
    """Every run of the experiment, the most informative first: the blog and pre-LN (the
    probes' contrast), the second width, the blog's recipe run longer, the rest of one
    seed; then the second seeds, the blog's other choices, and the factorial's third seed."""
    suspects = ("3 layers", "6 layers", "N(0, 0.02) init", "shuffled batches")
    other_choices = ("logits", "clipnorm 1", "mask fixed", "no end token")
    first, *others = plan.one_factor_seeds
    contrast = _factorial(plan, plan.seeds[0], columns=(BLOG_SCHEDULE,))
    runs = contrast + [run for seed in plan.wide_seeds[:1] for run in _wide(plan, seed)]
    runs += _long(plan, first)
    runs += [run for run in _factorial(plan, plan.seeds[0]) if run not in contrast]
    runs += _one_factor(plan, first, suspects) + _full_size(plan)
    runs += [run for seed in plan.wide_seeds[1:] for run in _wide(plan, seed)]
    runs += [run for seed in plan.seeds[1:2] for run in _factorial(plan, seed)]
    runs += [run for seed in others for run in _one_factor(plan, seed, suspects)]
    runs += [
        run for seed in plan.one_factor_seeds for run in _one_factor(plan, seed, other_choices)
    ]
    runs += [run for seed in others for run in _long(plan, seed)]
    return runs + [run for seed in plan.seeds[2:] for run in _factorial(plan, seed)]


def first_of_each_group(runs: list[Run]) -> list[Run]:
    """The first run of each group: every kind of run the grid has, once (a check of the
    grid's code far cheaper than the grid, whose runs cost seconds of tracing each)."""
    firsts: dict[str, Run] = {}
    for run in runs:
        firsts.setdefault(run.group, run)
    return list(firsts.values())


def probe_steps(steps: int) -> tuple[int, ...]:
    """Where the layer probe measures: densely at the start, where collapse happens."""
    marks = (0, 1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000)
    marks += (1500, 2000, 2500)
    return tuple(sorted({m for m in marks if m < steps} | {steps - 1}))


def _rounded(values, digits: int = 5) -> list:
    """Floats to ``digits`` significant digits (nested lists too): small, exact JSON."""
    if isinstance(values, list | tuple | np.ndarray):
        return [_rounded(v, digits) for v in values]
    value = float(values)
    return value if value == 0 or not math.isfinite(value) else float(f"{value:.{digits}g}")


def text_shares(labels: np.ndarray, pad_id: int) -> dict:
    """The plateau of a framing: its labels' most frequent token's share, and their
    entropy (nats), the loss of a model that predicts the label frequencies."""
    _, shares = diagnostics.label_shares(labels, pad_id)
    return {
        "majority_share": float(shares[0]),
        "label_entropy": float(-(shares * np.log(shares)).sum()),
    }


def train_run(run: Run, seed_ids: np.ndarray, jit_compile: bool = True, every: int = 100) -> dict:
    """Train ``run`` on the seed's token stream and return its record; with a held-out
    share, the model is also evaluated on it every ``every`` steps."""
    start, cpu_start = time.monotonic(), time.process_time()
    windows = blog.frame(seed_ids, run.recipe, trim_vocabulary=True, held_out=run.held_out)
    callbacks, extra = (), {}
    if windows.held_out is not None:
        inputs, labels = windows.held_out
        evaluation = held_out.HeldOutEvaluation(
            held_out.evaluation_steps(run.steps, every),
            inputs,
            labels,
            windows.pad_id,
            from_logits=not run.recipe.softmax_output,
        )
        callbacks = (evaluation,)
        extra = {"held_out_text": {"windows": len(inputs), **text_shares(labels, windows.pad_id)}}
    _, log, probe = blog.train_recipe(
        run.recipe,
        run.config,
        windows,
        run.steps,
        seed=run.seed,
        jit_compile=jit_compile,
        probe_steps=probe_steps(run.steps),
        callbacks=callbacks,
    )
    if callbacks:
        extra["evaluation"] = {
            k: v if k == "steps" else _rounded(v) for k, v in evaluation.record().items()
        }
    return {
        "group": run.group,
        "row": run.row,
        "column": run.column,
        **run.key(),
        **text_shares(windows.labels, windows.pad_id),
        "loss": _rounded(log.loss),
        "accuracy": _rounded(log.accuracy),
        "entropy": _rounded(log.entropy),
        "probe": {
            k: v if k in ("steps", "layers", "sizes") else _rounded(v)
            for k, v in probe.record().items()
        },
        **extra,
        "minutes": (time.monotonic() - start) / 60.0,
        "cpu_minutes": (time.process_time() - cpu_start) / 60.0,
    }


def stored(run: Run, folder: Path) -> dict | None:
    """The stored record of ``run`` in ``folder``, if one exists for exactly this run."""
    path = folder / f"{run.stem}.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    return record if {k: record.get(k) for k in run.key()} == run.key() else None


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
    means = moving_average(values, window)
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


def held_out_plateau(windows: blog.Windows) -> float:
    """The held-out loss (nats per label) of a model that ignores its context and predicts
    the training labels' frequencies: the plateau, measured on the held-out text.

    The counts are add-one smoothed over the vocabulary, since a few held-out labels never
    occur in training. It lies above the held-out labels' own entropy, which only a model
    that knew the held-out frequencies could reach.
    """
    inputs, labels = windows.held_out
    trained = windows.labels[windows.labels != windows.pad_id]
    judged = labels[labels != windows.pad_id]
    counts = np.bincount(trained, minlength=windows.vocabulary.size) + 1.0
    return float(-np.log(counts[judged] / counts.sum()).mean())


def evaluation_at(record: dict, step: int) -> dict | None:
    """The held-out measures of ``record`` after ``step`` updates, or None if the run
    was not evaluated there (a shorter run, or one trained on all the text)."""
    evaluation = record.get("evaluation")
    if evaluation is None or step not in evaluation["steps"]:
        return None
    index = evaluation["steps"].index(step)
    return {measure: evaluation[measure][index] for measure in held_out.MEASURES}


def first_evaluation_below(record: dict, level: float) -> int | None:
    """The first evaluated step at which the held-out loss of ``record`` is below
    ``level``, or None if it never is (or the run has no held-out evaluation)."""
    evaluation = record.get("evaluation") or {"steps": [], "loss": []}
    below = (
        s for s, loss in zip(evaluation["steps"], evaluation["loss"], strict=True) if loss < level
    )
    return next(below, None)


def cells(records: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    """Records grouped by (group, row, column), seeds in order."""
    grouped: dict[tuple[str, str, str], list[dict]] = {}
    for record in sorted(records, key=lambda r: r["seed"]):
        grouped.setdefault((record["group"], record["row"], record["column"]), []).append(record)
    return grouped
