"""Run the benchmarks, print a table, and store the results with the machine's description.

python -m benchmarks                  # the full run
python -m benchmarks --quick          # a few minutes: fewer steps, same measurements
python -m benchmarks --only training_step
python -m benchmarks --suite          # the whole test command, timed (several minutes)
"""

from __future__ import annotations

import argparse
import datetime
import os
from collections.abc import Callable
from pathlib import Path

from benchmarks import (
    finetune_step,
    generation,
    memory,
    quality,
    suite,
    teardown,
    threads,
    tokenization,
    training_step,
)
from benchmarks.machine import describe_machine
from gpt_lesson._files import write_json

BENCHMARKS: dict[str, Callable[[bool], object]] = {
    "training_step": training_step.run,
    "threads": threads.run,
    "finetune_step": finetune_step.run,
    "teardown": teardown.run,
    "generation": generation.run,
    "memory": memory.run,
    "quality": quality.run,
    "tokenization": tokenization.run,
}
RESULTS = Path(__file__).resolve().parent / "results"


def format_table(rows: list[dict[str, object]]) -> str:
    """A Markdown table of ``rows`` (all with the same keys)."""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    for row in rows:
        cells = [
            f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
            for value in (row[key] for key in keys)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save(name: str, quick: bool, machine: dict, result: object, stamp: str) -> Path:
    """Write one benchmark's result with the machine (and the load it ran under) as JSON."""
    record = {"benchmark": name, "quick": quick, "machine": machine}
    record.update(result if isinstance(result, dict) else {"rows": result})
    record["load average after (1, 5, 15 min)"] = [round(x, 2) for x in os.getloadavg()]
    path = RESULTS / f"{stamp}-{name}{'-quick' if quick else ''}.json"
    write_json(path, record, indent=2, ensure_ascii=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, a few minutes")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), nargs="+", help="run only these")
    parser.add_argument("--suite", action="store_true", help="time the whole test command")
    args = parser.parse_args()

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    chosen = {"suite": suite.run} if args.suite else BENCHMARKS
    for name, run in chosen.items():
        if args.only and name not in args.only:
            continue
        machine = describe_machine()  # the load average just before this benchmark
        print(f"machine: {machine}", flush=True)
        result = run(args.quick)
        rows = result["rows"] if isinstance(result, dict) else result
        print(f"\n## {name}{' (quick)' if args.quick else ''}\n\n{format_table(rows)}")
        path = save(name, args.quick, machine, result, stamp)
        print(f"\nwritten to {path.relative_to(RESULTS.parent.parent)}\n", flush=True)


if __name__ == "__main__":
    main()
