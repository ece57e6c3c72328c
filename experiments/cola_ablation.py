"""Chapter 5's ablation on CoLA, regenerated: the paper's Table 5 at small scale.

python -m experiments.cola_ablation --seeds 0 1 2 3 4 5 6 7 8 9 \
    --learning-rates 6.25e-5 2.5e-4 1e-3                 # the book's run
python -m experiments.cola_ablation --quick --seeds 0   # a few steps, to cola_ablation-quick.json
python -m experiments.cola_ablation --learning-rate 2.5e-4 --rows c --unseen unknown \
    --out experiments/results/cola/cola_unknown.json           # chapter 5, exercise 4

With ``--learning-rates``, each row first fine-tunes with seed 0 at every rate, and the
rate with the best MCC on the validation split (carved from CoLA's training set, never
dev) becomes that row's rate; the check's run at that rate is the row's seed-0 run.
Writes one JSON file (default ``experiments/results/cola/cola_ablation.json``) with the
machine, every run (scores, predictions, validation curve) and the summary table that
chapter 5 shows. Every finished run is saved at once to ``<out>.partial.json``; started
again with the same arguments, the script reuses those runs, and it removes the partial
file when the whole file is written. ``--reuse`` adds the runs of other partial files, so
that rows run by separate processes (``--rows a b`` and ``--rows c``, one per core) can be
gathered by one last invocation with every row. ``--reuse-rows a`` takes only row (a)'s
runs from those files: row (a) starts from random weights, so its runs are the same for
any checkpoint of the same architecture and vocabulary, and a new checkpoint's ablation
can keep them (``tests/tasks/test_fine_tuning.py`` checks that its start ignores the weights).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.machine import describe_machine
from benchmarks.run import format_table
from experiments.fresh_process import ColaSetup, FreshProcessRuns
from gpt_lesson._files import write_json
from gpt_lesson.data import sha256_of
from gpt_lesson.gpt1.presets import load_checkpoint
from gpt_lesson.pretraining.history import last_epoch_logs
from gpt_lesson.tasks.cola import (
    ABLATION_ROWS,
    EVALUATION_SPLITS,
    CoLAData,
    ablation_configs,
    majority_baseline,
    prepare_cola,
    pretrain_if_missing,
    run_once,
    summarise,
    zero_shot,
)
from gpt_lesson.tasks.fine_tuning import FinetuneConfig
from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

# Chapter 5 reads its results here (one file per command, as the module docstring says).
RESULTS = Path(__file__).resolve().parent / "results" / "cola"


class SavedRuns:
    """``run_once``, remembered: a run whose config was saved before is not run again.

    Runs are read from the ``runs`` of every file; a learning-rate check's runs, which a
    finished file keeps in ``learning_rate_check`` with their validation scores only, serve
    the check alone (``validation_only``)."""

    def __init__(
        self,
        path: Path,
        others: list[Path],
        rows: str = "abc",
        run: Callable[..., dict] | None = None,  # None: run_once, here
    ) -> None:
        self.path, self.records, self.checks, self.run = path, [], [], run
        self._add(path, lambda config: True)
        for other in others:
            self._add(other, lambda config: _row_of(config) in rows)

    def _add(self, source: Path, wanted: Callable[[dict], bool]) -> None:
        saved = json.loads(source.read_text(encoding="utf-8")) if source.exists() else {}
        before = len(self.records)
        for run in saved.get("runs", []):
            if wanted(run["config"]) and _find(self.records, run["config"]) is None:
                self.records.append(run)
        print(f"{source}: reusing {len(self.records) - before} finished runs")
        for check in saved.get("learning_rate_check", []):
            if (
                wanted(check["config"])
                and _find(self.records + self.checks, check["config"]) is None
            ):
                self.checks.append(check)

    def __call__(self, data, config: FinetuneConfig, validation_only: bool = False) -> dict:
        wanted = dataclasses.asdict(config)
        saved = _find(self.records + (self.checks if validation_only else []), wanted)
        if saved is not None:
            return saved
        record = (self.run or run_once)(data, config)
        self.records.append(record)
        write_json(self.path, {"runs": self.records})
        return record


def _find(records: list[dict], config: dict) -> dict | None:
    return next((record for record in records if record["config"] == config), None)


def _row_of(config: dict) -> str:
    """The letter of the ablation row a run's config belongs to ("a", "b" or "c")."""
    return next(
        row[1]
        for row, changes in ABLATION_ROWS.items()
        if all(config[key] == value for key, value in changes.items())
    )


def choose_learning_rates(
    data, configs: dict, rates: list[float], run: SavedRuns
) -> tuple[dict[str, float], list[dict]]:
    """Per row, seed 0 at each rate; the best validation MCC decides (the first rate
    listed, on a tie). Returns each row's rate and the check's records (config, scores
    on validation only, curve); no rates, no check."""
    chosen, checks = {}, []
    for row, config in configs.items():
        scores = {}
        for rate in rates:
            record = run(
                data, dataclasses.replace(config, learning_rate=rate, seed=0), validation_only=True
            )
            scores[rate] = record["validation"]["mcc"]
            print(f"{row}, learning rate {rate:g}: validation MCC {scores[rate]:.3f}", flush=True)
            checks.append(
                {
                    "row": row,
                    **{k: record[k] for k in ("config", "validation", "minutes", "curve")},
                }
            )
        if scores:
            chosen[row] = max(scores, key=scores.get)
    return chosen, checks


def run_ablation(
    data: CoLAData,
    configs: dict[str, FinetuneConfig],
    seeds: tuple[int, ...],
    run: Callable[[CoLAData, FinetuneConfig], dict] = run_once,
) -> dict:
    """The paper's Table 5 at small scale: every row of ``configs`` (``ablation_configs``)
    with every seed, plus the majority baseline and zero-shot. Returns everything, curves
    included. ``run`` fine-tunes once (a caller may pass one that reuses saved runs)."""
    start = time.monotonic()
    runs = []
    for row, config in configs.items():
        for seed in seeds:
            record = run(data, dataclasses.replace(config, seed=seed))
            mcc, minutes = record["dev"]["mcc"], record["minutes"]
            print(f"{row}, seed {seed}: dev MCC {mcc:.3f} ({minutes:.1f} min)", flush=True)
            runs.append({"row": row, "seed": seed, **record})
    return {
        "configs": {row: dataclasses.asdict(config) for row, config in configs.items()},
        "seeds": list(seeds),
        "majority": majority_baseline(data),
        "zero_shot": zero_shot(data),
        "runs": runs,
        "vocabulary": {
            "added_ids": data.added_ids,
            "tokens_added": data.tokens_added,
            "sentences_with_added": data.sentences_with_added,
            "holds_added": {
                name: list(map(int, data.holds_added[name])) for name in EVALUATION_SPLITS
            },
            "truncated": data.truncated,
        },
        "minutes": (time.monotonic() - start) / 60.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="runs/chapter3-lesson")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--learning-rate", type=float, help="skip the check; use this rate")
    parser.add_argument("--learning-rates", type=float, nargs="*", default=[])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-steps", type=int, help="cap every run (quick checks)")
    parser.add_argument("--quick", action="store_true", help="runs/chapter3-quick, 10 steps")
    parser.add_argument("--rows", nargs="+", choices="abc", default=list("abc"))
    parser.add_argument("--unseen", choices=("grow", "unknown"), default="grow")
    parser.add_argument("--out", type=Path, default=RESULTS / "cola_ablation.json")
    parser.add_argument(
        "--reuse", type=Path, nargs="*", default=[], help="runs saved by other invocations"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run every fine-tuning in this process (faster to start, but memory grows "
        "by each run's traced graphs); the default starts a fresh process per run",
    )
    parser.add_argument(
        "--reuse-rows",
        choices="abc",
        nargs="+",
        default=list("abc"),
        help="take only these rows' runs from the --reuse files (row a, which does not read "
        "the checkpoint's weights, carries over to a new checkpoint of the same vocabulary)",
    )
    args = parser.parse_args()
    if args.quick:
        args.checkpoint, args.max_steps = "runs/chapter3-quick", args.max_steps or 10
        if args.out == parser.get_default("out"):  # never over the book's results
            args.out = RESULTS / "cola_ablation-quick.json"

    start = time.monotonic()
    partial = args.out.with_name(f"{args.out.stem}.partial.json")
    fresh = FreshProcessRuns(ColaSetup(args.checkpoint, args.unseen))
    run = SavedRuns(
        partial, args.reuse, "".join(args.reuse_rows), None if args.in_process else fresh
    )
    tokenizer = load_gpt2_tokenizer()
    pretrain_if_missing(args.checkpoint, tokenizer)
    checkpoint = load_checkpoint(args.checkpoint)
    data = prepare_cola(checkpoint, tokenizer, unseen=args.unseen)
    base = FinetuneConfig(epochs=args.epochs, max_steps=args.max_steps)
    if args.learning_rate is not None:
        base = dataclasses.replace(base, learning_rate=args.learning_rate)
    configs = {
        row: config
        for row, config in ablation_configs(base).items()
        if row[1] in args.rows  # "(a) ..." -> "a"
    }
    rates, checks = choose_learning_rates(data, configs, args.learning_rates, run)
    configs = {
        row: dataclasses.replace(c, learning_rate=rates.get(row, c.learning_rate))
        for row, c in configs.items()
    }
    results = run_ablation(data, configs, tuple(args.seeds), run=run)
    table = summarise(results)
    record = {
        "machine": describe_machine(),
        "checkpoint": args.checkpoint,
        # Which pre-training the runs started from: the weights' sha256 and its last epoch.
        "checkpoint_weights_sha256": sha256_of(Path(args.checkpoint) / "model.weights.h5"),
        "checkpoint_last_epoch": last_epoch_logs(Path(args.checkpoint) / "history.csv"),
        "unseen": args.unseen,
        "learning_rate_check": checks,
        "table": table,
        **results,
        # With --reuse, total_minutes is this gathering invocation's time only; the runs'
        # own minutes (run_minutes, their sum) say what the ablation cost.
        "reused": [path.name for path in args.reuse],
        "reused_rows": args.reuse_rows,
        "total_minutes": (time.monotonic() - start) / 60.0,
        "run_minutes": sum(r["minutes"] for r in run.records),
    }
    write_json(args.out, record, indent=1)
    partial.unlink(missing_ok=True)
    print(
        format_table(
            [
                {k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in row.items()}
                for row in table
            ]
        )
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
