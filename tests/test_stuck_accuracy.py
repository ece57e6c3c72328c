"""Chapter 4's runner: the grid's runs stored one file each, resumed, and shared between
processes through lock files (``experiments.stuck_accuracy``, ``experiments.work_queue``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from experiments import stuck_accuracy, work_queue
from gpt_lesson.data import read_text
from gpt_lesson.seed import blog, study

QUICK = study.PLANS["quick"]
ROOT = Path(__file__).resolve().parents[1]


def fake_queue(folder: Path, jobs: list[str], made: list[str], said: list[str]) -> None:
    """Work through ``jobs`` with a trainer that records only its name."""

    def make(job: str) -> dict:
        made.append(job)
        return {"job": job}

    work_queue.work_through(
        jobs,
        folder,
        name=str,
        is_stored=lambda job: (folder / f"{job}.json").exists(),
        make=make,
        say=said.append,
    )


def test_the_queue_stores_each_job_once_and_resumes(tmp_path):
    made, said = [], []
    fake_queue(tmp_path, ["a", "b"], made, said)
    assert made == ["a", "b"] and len(said) == 4
    assert json.loads((tmp_path / "a.json").read_text()) == {"job": "a"}
    assert not list(tmp_path.glob("*.lock"))
    fake_queue(tmp_path, ["a", "b", "c"], made, said := [])
    assert made == ["a", "b", "c"]  # only the new job
    assert said == ["[3/3] c", said[1]] and said[1].startswith("[3/3] c: done in")


def test_a_dead_process_s_lock_is_taken_over_and_a_live_one_is_respected(tmp_path):
    (tmp_path / "dead.lock").write_text("999999999")
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "live.lock").write_text(str(sleeper.pid))
        made = []
        fake_queue(tmp_path, ["dead", "live"], made, [])
        assert made == ["dead"]  # "live" is left to the live process
        assert not (tmp_path / "dead.lock").exists() and (tmp_path / "live.lock").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_the_grid_stores_small_records_with_the_machine_and_threads_and_resumes(tmp_path):
    seed_ids = blog.seed_token_ids(read_text("shakespeare"))[:30_000]
    run = study.grid(QUICK)[0]
    stuck_accuracy.run_grid(
        [run], tmp_path, seed_ids, jit_compile=False, every=4, machine=lambda: {"cpu": "x"}
    )
    text = (tmp_path / f"{run.stem}.json").read_text()
    assert "\n" not in text.strip() and ".12345678" not in text
    record = study.stored(run, tmp_path)
    assert record["machine"] == {"cpu": "x"} and record["threads"] == "default"
    assert record["evaluation"]["steps"] == [0, 4, 8, 10, 12]
    said = []
    stuck_accuracy.run_grid([run], tmp_path, seed_ids, jit_compile=False, say=said.append)
    assert said == []  # nothing retrained


def test_the_command_lists_what_is_stored_and_missing(tmp_path):
    listing = subprocess.run(
        [sys.executable, "-m", "experiments.stuck_accuracy", "--quick", "--out", str(tmp_path)]
        + ["--list"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert f"0 of {len(study.grid(QUICK))} runs stored" in listing
    assert "missing: factorial-post-ln-1e-3-constant-seed0" in listing


def test_two_workers_skip_every_run_already_stored(tmp_path):
    """``--workers 2`` on a folder that holds every run: both processes resume, find
    nothing left to train and exit cleanly, leaving no lock behind."""
    runs = study.grid(QUICK)
    for run in runs:
        (tmp_path / f"{run.stem}.json").write_text(json.dumps({**run.key(), "minutes": 1.0}))
    result = subprocess.run(
        [sys.executable, "-m", "experiments.stuck_accuracy", "--quick", "--workers", "2"]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "] " not in result.stdout  # no run announced: none trained
    assert not list(tmp_path.glob("*.lock"))
    assert len(list(tmp_path.glob("*.json"))) == len(runs)
