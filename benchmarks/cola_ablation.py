"""Chapter 5's ablation on CoLA, regenerated: the paper's Table 5 at small scale.

python -m benchmarks.cola_ablation --learning-rates 6.25e-5 2.5e-4 1e-3  # the book's run
python -m benchmarks.cola_ablation --quick --seeds 0   # the quick preset, a few steps
python -m benchmarks.cola_ablation --learning-rate 2.5e-4 --rows c --unseen unknown \
    --out benchmarks/results/cola_unknown.json           # chapter 5, exercise 4

Optionally first compares learning rates (``--learning-rates``) on the validation split
carved from CoLA's training set, row (c), seed 0, and uses the best for the ablation.
Writes one JSON file (default ``benchmarks/results/cola_ablation.json``) with the
machine, every run (scores, predictions, validation curve) and the summary table that
chapter 5 shows. The file is rewritten after every run, marked ``"complete": false``
until the last; started again with the same arguments, the script reuses those runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from benchmarks.machine import describe_machine
from benchmarks.run import format_table
from gpt_lesson.cola import (
    ABLATION_ROWS,
    prepare_cola,
    pretrained_checkpoint,
    run_ablation,
    run_once,
    summarise,
)
from gpt_lesson.files import write_json
from gpt_lesson.finetune import FinetuneConfig
from gpt_lesson.tokenizer import load_gpt2_tokenizer

RESULTS = Path(__file__).resolve().parent / "results"


def check_learning_rates(data, base: FinetuneConfig, rates: list[float]) -> list[dict]:
    """Row (c), seed 0, at each rate: ``run_once`` records; only the validation split
    decides, and the ablation reuses the chosen rate's run for its row (c), seed 0."""
    checks = []
    for rate in rates:
        record = run_once(data, dataclasses.replace(base, learning_rate=rate))
        mcc = record["validation"]["mcc"]
        print(f"learning rate {rate:g}: validation MCC {mcc:.3f} ({record['minutes']:.1f} min)")
        checks.append(record)
    return checks


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
    args = parser.parse_args()
    if args.quick:
        args.checkpoint, args.max_steps = "runs/chapter3-quick", args.max_steps or 10

    start = time.monotonic()
    before = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
    finished = tuple(before.get("runs", [])) if before.get("complete") is False else ()
    tokenizer = load_gpt2_tokenizer()
    checkpoint = pretrained_checkpoint(args.checkpoint, tokenizer)
    data = prepare_cola(checkpoint, tokenizer, unseen=args.unseen)
    base = FinetuneConfig(epochs=args.epochs, max_steps=args.max_steps)
    checks = check_learning_rates(data, base, args.learning_rates)
    if args.learning_rate is not None:
        base = dataclasses.replace(base, learning_rate=args.learning_rate)
    elif checks:
        best = max(checks, key=lambda check: check["validation"]["mcc"])
        base = dataclasses.replace(base, learning_rate=best["config"]["learning_rate"])
    header = {
        "machine": describe_machine(),
        "checkpoint": args.checkpoint,
        "unseen": args.unseen,
        "learning_rate_check": [
            {k: check[k] for k in ("config", "validation", "minutes", "cpu_minutes", "curve")}
            for check in checks
        ],
    }
    rows = tuple(row for row in ABLATION_ROWS if row[1] in args.rows)
    results = run_ablation(
        data,
        base,
        tuple(args.seeds),
        finished=(*checks, *finished),
        rows=rows,
        on_run=lambda runs: write_json(args.out, {**header, "complete": False, "runs": runs}),
    )
    table = summarise(results)
    record = {
        **header,
        "complete": True,
        "table": table,
        **results,
        "total_minutes": (time.monotonic() - start) / 60.0,
    }
    write_json(args.out, record, indent=1)
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
