"""Chapter 4's experiment grid: what it holds, what one run records, and reading it back."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from gpt_lesson.data import read_text
from gpt_lesson.seed import blog, diagnostics, held_out, study
from gpt_lesson.tokenizer.vocabulary import Vocabulary

DEFAULT, QUICK = study.PLANS["default"], study.PLANS["quick"]


@pytest.fixture(scope="module")
def seed_ids() -> np.ndarray:
    return blog.seed_token_ids(read_text("shakespeare"))[:30_000]


def test_the_default_grid_holds_the_factorial_the_one_factor_rows_and_the_full_size_runs():
    runs = study.grid(DEFAULT)
    assert len({run.stem for run in runs}) == len(runs)
    factorial = [run for run in runs if run.group == "factorial"]
    cells = {(run.row, run.column) for run in factorial}
    assert cells == {(row, col) for row in (study.POST_LN, study.PRE_LN) for col in study.SCHEDULES}
    for cell in cells:
        seeds = [run.seed for run in factorial if (run.row, run.column) == cell]
        assert sorted(seeds) == [0, 1, 2]
    for run in factorial:  # about 2 epochs; 3,000 steps where the warmup is 2,000
        assert run.steps >= (3000 if run.recipe.warmup_steps == 2000 else 1000)
        assert run.config == study.SMALL
    one_factor = [run for run in runs if run.group == "one factor"]
    for row in ("3 layers", "6 layers", "N(0, 0.02) init", "shuffled batches"):
        assert sorted(run.seed for run in one_factor if run.row == row) == [0, 1]
    assert {run.config.num_layers for run in one_factor} == {3, 6, 12}
    full = [run for run in runs if run.group == "full size"]
    assert {(run.row, run.column) for run in full} == {
        (study.POST_LN, study.BLOG_SCHEDULE),
        (study.POST_LN, study.SCHEDULES[2]),
        (study.PRE_LN, study.BLOG_SCHEDULE),
    }
    assert all(run.config.hidden_dim == 512 and run.steps >= 539 for run in full)
    assert all(run.held_out == 0.0 for run in full)  # the second edition's: all the text
    assert {run.held_out for run in factorial + one_factor} == {0.05}


def test_the_default_grid_adds_a_second_width_and_the_blog_s_recipe_run_longer():
    runs = study.grid(DEFAULT)
    wide = [run for run in runs if run.group == "width 128"]
    assert {run.config for run in wide} == {study.WIDE}
    assert study.WIDE.hidden_dim == 2 * study.SMALL.hidden_dim
    assert study.WIDE.hidden_dim // study.WIDE.num_heads == 16  # as at width 64
    cells = {(run.row, run.column) for run in wide}
    assert cells == set(study.WIDE_CELLS)
    for cell in cells:
        assert sorted(run.seed for run in wide if (run.row, run.column) == cell) == [0, 1]
    by_row = {run.row: run.recipe for run in wide if run.column == study.BLOG_SCHEDULE}
    assert by_row[study.POST_LN] == blog.BLOG
    assert by_row[study.PRE_LN] == dataclasses.replace(blog.BLOG, normalize_first=True)
    assert by_row["N(0, 0.02) init"] == dataclasses.replace(blog.BLOG, initializer_range=0.02)
    long = [run for run in runs if run.group == "long"]
    assert long and all(run.recipe == blog.BLOG and run.steps >= 2000 for run in long)
    # the probes' contrast first, then the second width's first seed
    assert [(run.group, run.row) for run in runs[:3]] == [
        ("factorial", study.POST_LN),
        ("factorial", study.PRE_LN),
        ("width 128", study.POST_LN),
    ]


def test_the_second_edition_s_grid_is_its_committed_runs():
    runs = study.grid(study.PLANS["second edition"])
    assert {run.group for run in runs} == {"factorial", "one factor", "full size"}
    records, missing = study.load(runs, Path("experiments/results/stuck_accuracy"))
    assert not missing and len(records) == len(runs) == 43


def test_first_of_each_group_keeps_one_run_of_every_group_in_the_grid_s_order():
    runs = study.grid(study.PLANS["quick"])
    firsts = study.first_of_each_group(runs)
    assert [run.group for run in firsts] == [
        "factorial",
        "width 32",
        "long",
        "one factor",
        "full size",
    ]
    assert all(run is next(r for r in runs if r.group == run.group) for run in firsts)


def test_one_factor_rows_change_exactly_one_thing_from_the_blog():
    for name, (recipe, config) in study.one_factor_rows(DEFAULT).items():
        changed = [k for k, v in dataclasses.asdict(recipe).items() if getattr(blog.BLOG, k) != v]
        changed += [
            k for k, v in dataclasses.asdict(config).items() if getattr(study.SMALL, k) != v
        ]
        assert len(changed) == 1, (name, changed)


def test_a_run_s_record_holds_its_curves_probe_and_held_out_evaluation(seed_ids, tmp_path):
    run = next(run for run in study.grid(QUICK) if run.group == "factorial")
    record = study.train_run(run, seed_ids, jit_compile=False, every=4)
    assert {k: record[k] for k in run.key()} == run.key()  # what stored() compares
    assert len(record["loss"]) == len(record["accuracy"]) == len(record["entropy"]) == run.steps
    assert record["majority_share"] == pytest.approx(0.3, abs=0.05)  # the lone space
    assert record["probe"]["steps"] == list(study.probe_steps(run.steps))
    assert record["evaluation"]["steps"] == [0, 4, 8, 10, 12]
    assert record["held_out_text"]["windows"] > 0
    assert record["minutes"] > 0
    (tmp_path / f"{run.stem}.json").write_text(json.dumps(record))
    assert study.load([run], tmp_path) == ([json.loads(json.dumps(record))], [])
    changed = dataclasses.replace(run, steps=run.steps + 1)
    assert study.stored(changed, tmp_path) is None  # another length is another run
    assert study.load([changed], tmp_path) == ([], [changed])


def test_first_step_below_reads_the_end_of_the_first_window_under_the_level():
    values = [5.0] * 10 + [1.0] * 10
    assert study.first_step_below(values, 3.0, window=4) == 12  # steps 9..12 average 2
    assert study.first_step_below(values, 0.5, window=4) is None
    assert study.first_step_below(values[:3], 9.0, window=4) is None


def test_describe_tells_a_stuck_run_from_one_that_leaves_the_plateau():
    def record(loss):
        steps = len(loss)
        return {
            "loss": loss,
            "accuracy": [0.3] * steps,
            "entropy": [4.0] * steps,
            "label_entropy": 4.0,
            "majority_share": 0.3,
            "minutes": 1.0,
        }

    stuck = study.describe(record([8.0] * 30 + [4.0] * 300))
    assert stuck["reaches plateau"] == 49 and stuck["leaves plateau"] is None
    assert stuck["below H"] == pytest.approx(0.0) and stuck["over majority"] == pytest.approx(0.0)
    assert stuck["ends on plateau"]
    # the 50-step mean falls below 3.9 at step 135
    learning = study.describe(record([8.0] * 30 + [4.0] * 100 + [3.0] * 200))
    assert learning["leaves plateau"] == 135 and learning["below H"] == pytest.approx(1.0)
    assert not learning["ends on plateau"]
    relapsed = study.describe(record([8.0] * 30 + [4.0] * 100 + [3.0] * 200 + [4.0] * 200))
    assert relapsed["leaves plateau"] == 135 and relapsed["ends on plateau"]

    def seeded(seed, loss):
        return {**record(loss), "seed": seed}

    stuck_runs = [seeded(0, [8.0] * 30 + [4.0] * 300), seeded(1, [8.0] * 40 + [4.0] * 300)]
    assert study.fates(stuck_runs) == "stuck from 49, 59"
    assert study.fates(stuck_runs[:1]) == "stuck from 49"
    mixed = [stuck_runs[0], seeded(1, [8.0] * 30 + [4.0] * 100 + [3.0] * 200 + [4.0] * 200)]
    assert study.fates(mixed) == (
        "seed 0: stuck from 49; seed 1: left at 135, back on it at the end"
    )
    assert study.fates([seeded(0, [8.0] * 300)]) == "still above it"


@pytest.mark.parametrize(
    "plan, folder",
    [("default", "stuck_accuracy_held_out"), ("second edition", "stuck_accuracy")],
)
def test_every_committed_result_is_a_whole_run_of_its_grid(plan, folder):
    folder = Path(__file__).resolve().parents[2] / "experiments" / "results" / folder
    plan = study.PLANS[plan]
    runs = {run.stem: run for run in study.grid(plan)}
    files = sorted(folder.glob("*.json"))
    assert files, "no committed results: run python -m experiments.stuck_accuracy"
    for path in files:
        assert path.stem in runs, f"{path.name} is no run of the grid"
        record = study.stored(runs[path.stem], folder)
        assert record is not None, f"{path.name} was made with another recipe or config"
        steps = runs[path.stem].steps
        assert len(record["loss"]) == len(record["accuracy"]) == len(record["entropy"]) == steps
        assert record["probe"]["steps"][0] == 0 and record["probe"]["steps"][-1] == steps - 1
        if record["held_out"]:
            assert record["probe"]["steps"] == list(study.probe_steps(steps))
            expected = held_out.evaluation_steps(steps, plan.evaluate_every)
            assert record["evaluation"]["steps"] == list(expected)
            assert record["machine"]["cpu"]
        assert record["minutes"] > 0


def test_a_run_whose_framing_differs_records_its_own_plateau(seed_ids):
    blog_run = next(run for run in study.grid(QUICK) if run.group == "factorial")
    no_end = next(run for run in study.grid(QUICK) if run.row == "no end token")
    records = [
        study.train_run(run, seed_ids, jit_compile=False, every=4) for run in (blog_run, no_end)
    ]
    for run, record in zip((blog_run, no_end), records, strict=True):
        windows = blog.frame(seed_ids, run.recipe, held_out=run.held_out)
        for text, labels in (
            (record, windows.labels),
            (record["held_out_text"], windows.held_out[1]),
        ):
            _, shares = diagnostics.label_shares(labels, blog.PAD_ID)
            assert text["majority_share"] == pytest.approx(shares[0])
            assert text["label_entropy"] == pytest.approx(-(shares * np.log(shares)).sum())
    assert records[0]["majority_share"] != records[1]["majority_share"]
    assert records[0]["label_entropy"] != records[1]["label_entropy"]


def test_the_held_out_plateau_is_the_training_frequencies_cross_entropy_on_held_out_labels():
    labels = np.array([[1, 1, 1, 2, 0]])  # id 0 pads
    held = np.array([[1, 2, 3, 0]])
    vocabulary = Vocabulary.used_by(np.arange(4))
    windows = blog.Windows(labels, labels, 0, vocabulary, (held, held))
    counts = np.array([1, 4, 2, 1])  # add-one over the 4 ids; id 3 never trained on
    expected = -np.mean(np.log(counts[[1, 2, 3]] / counts.sum()))
    assert study.held_out_plateau(windows) == pytest.approx(expected)


def test_held_out_measures_are_read_at_a_step_and_the_first_step_below_a_level():
    record = {
        "evaluation": {
            "steps": [0, 100, 200],
            "loss": [8.0, 5.0, 4.5],
            "accuracy": [0.0, 0.3, 0.35],
            "entropy": [8.0, 5.0, 4.6],
            "predicts_majority": [0.0, 1.0, 0.6],
        }
    }
    assert study.evaluation_at(record, 100) == {
        "loss": 5.0,
        "accuracy": 0.3,
        "entropy": 5.0,
        "predicts_majority": 1.0,
    }
    assert study.evaluation_at(record, 150) is None
    assert study.evaluation_at({"loss": [5.0]}, 0) is None  # trained on all the text
    assert study.first_evaluation_below(record, 4.9) == 200
    assert study.first_evaluation_below(record, 4.0) is None
    assert study.first_evaluation_below({"loss": [5.0]}, 9.0) is None
