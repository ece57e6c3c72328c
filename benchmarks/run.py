"""Run the benchmarks, print a table, and store the results with the machine's description.

python -m benchmarks            # the full run
python -m benchmarks --quick    # a few minutes: smaller inputs, same measurements
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

from benchmarks import tokenization
from benchmarks.machine import describe_machine

BENCHMARKS = {"tokenization": tokenization.run}
RESULTS = Path(__file__).resolve().parent / "results"


def format_table(rows: list[dict[str, object]]) -> str:
    """A Markdown table of ``rows`` (all with the same keys)."""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    for row in rows:
        cells = [
            f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
            for value in row.values()
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs, a few minutes")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), help="run one benchmark")
    args = parser.parse_args()

    machine = describe_machine()
    print(f"machine: {machine}")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    for name, run in BENCHMARKS.items():
        if args.only and name != args.only:
            continue
        rows = run(quick=args.quick)
        print(f"\n## {name}{' (quick)' if args.quick else ''}\n\n{format_table(rows)}")
        path = RESULTS / f"{stamp}-{name}{'-quick' if args.quick else ''}.json"
        record = {"benchmark": name, "quick": args.quick, "machine": machine, "rows": rows}
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"\nwritten to {path.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
