"""Chapter 4's grid of training runs (``gpt_lesson.seed.study``), regenerated and resumable.

python -m experiments.stuck_accuracy                # every run of the default plan
python -m experiments.stuck_accuracy --workers 2    # two processes of one thread each
python -m experiments.stuck_accuracy --quick        # the tiny grid, seconds
python -m experiments.stuck_accuracy --plan "second edition" --list

Each finished run is written to ``experiments/results/<folder>/<run>.json`` (or ``--out``):
``stuck_accuracy_held_out`` for the default plan, whose runs are judged on the play's last
5%, ``stuck_accuracy`` for the second edition's, trained on all of it. A run already stored
is skipped, so the command carries on where an interrupted one stopped, and several
processes (``--workers``) share the folder through ``experiments.work_queue``'s lock files.
``--list`` prints which runs are stored and which are missing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from experiments.work_queue import work_through

if TYPE_CHECKING:
    import numpy as np

    from gpt_lesson.seed.study import Run

RESULTS = Path(__file__).resolve().parent / "results"
FOLDERS = {
    "default": "stuck_accuracy_held_out",
    "second edition": "stuck_accuracy",
    "quick": "stuck_accuracy-quick",
}


def run_grid(
    runs: list[Run],
    folder: Path,
    seed_ids: np.ndarray,
    jit_compile: bool = True,
    say: Callable[[str], object] = print,
    every: int = 100,
    machine: Callable[[], dict] = dict,
    threads: str = "default",
) -> None:
    """Train every run of ``runs`` not yet stored in ``folder``, one after another,
    evaluating on held-out text every ``every`` steps. Each record also says how many
    TensorFlow ``threads`` trained it and, from ``machine()``, on what computer."""
    from gpt_lesson.seed import study

    def make(run: Run) -> dict:
        record = study.train_run(run, seed_ids, jit_compile, every)
        return {**record, "threads": threads, "machine": machine()}

    work_through(
        runs,
        folder,
        name=lambda run: run.stem,
        is_stored=lambda run: study.stored(run, folder) is not None,
        make=make,
        say=say,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick profile's tiny grid")
    parser.add_argument(
        "--plan", choices=("default", "second edition"), default="default", help="which grid"
    )
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the grid")
    parser.add_argument(
        "--threads", type=int, default=0, help="TensorFlow threads (0: its default)"
    )
    parser.add_argument("--list", action="store_true", help="show stored and missing runs")
    args = parser.parse_args()
    name = "quick" if args.quick else args.plan
    out = args.out or RESULTS / FOLDERS[name]
    if args.workers > 1:
        command = [sys.executable, "-m", "experiments.stuck_accuracy", "--workers", "1"]
        command += ["--out", str(out), "--threads", str(args.threads or 1)]
        command += ["--quick"] if args.quick else ["--plan", args.plan]
        workers = [subprocess.Popen(command) for _ in range(args.workers)]
        sys.exit(max(worker.wait() for worker in workers))
    if args.threads:  # before TensorFlow runs anything
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    from gpt_lesson.data import read_text
    from gpt_lesson.seed import blog, study

    plan = study.PLANS[name]
    runs = study.grid(plan)
    if args.list:
        records, missing = study.load(runs, out)
        print(f"{len(records)} of {len(runs)} runs stored in {out}")
        for run in missing:
            print(f"  missing: {run.stem} ({run.steps} steps)")
        return
    from benchmarks.machine import describe_machine

    seed_ids = blog.seed_token_ids(read_text("shakespeare"))
    run_grid(
        runs,
        out,
        seed_ids,
        jit_compile=plan.jit_compile,
        every=plan.evaluate_every,
        machine=describe_machine,
        threads=str(args.threads) if args.threads else "default",
    )


if __name__ == "__main__":
    main()
