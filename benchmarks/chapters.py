"""Execute the chapters top to bottom, time each, and optionally store their outputs.

python -m benchmarks.chapters --in-place                       # what `make notebooks` runs
GPT_LESSON_PROFILE=quick python -m benchmarks.chapters          # the quick times, nothing kept
python -m benchmarks.chapters --in-place notebooks/03_pretraining.ipynb

Each notebook runs in a fresh kernel started in ``notebooks/`` (as JupyterLab and
``jupyter nbconvert --execute`` do), under the profile of ``GPT_LESSON_PROFILE``. The wall
time of each, with the machine and its load, goes to
``benchmarks/results/chapters-<profile>.json``, one row per notebook (a later run of some
notebooks replaces only their rows); the chapters and the book quote their times from there.

With ``--in-place`` the executed notebook replaces the stored one, without the start-up
messages TensorFlow 2.21 prints from C++ before its logging starts: no setting silences
them (``TF_CPP_MIN_LOG_LEVEL`` included), they carry process ids and clock times, and they
would otherwise be in every downloaded notebook. tqdm's notice about missing widgets goes
the same way. Neighbouring prints of a cell are joined into one output, which the book
draws as one box.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from benchmarks.machine import describe_machine
from gpt_lesson._files import write_json
from gpt_lesson.config import current_profile

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
NOISE = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called.*\n"
    r"|^[IW]\d{4} [\d:. ]+\d+ \w+\.(?:cc|h):\d+\] .*\n"  # absl: level, time, thread, file
    r"|^To enable the following instructions: .* with the appropriate compiler flags\.\n"
    r"|^E\d{4} [\d:. ]+\d+ cuda_platform\.cc:\d+\] failed call to cuInit.*\n"  # no GPU here
    r"|^.*TqdmWarning: IProgress not found.*\n(?:  from \.autonotebook import .*\n)?",
    re.MULTILINE,
)


def strip_startup_noise(notebook: nbformat.NotebookNode) -> None:
    """Drop the start-up lines from every stderr output, and outputs left empty."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                output["text"] = NOISE.sub("", output["text"])
                if not output["text"].strip():
                    continue
            kept.append(output)
        cell.outputs = kept


def merge_adjacent_streams(notebook: nbformat.NotebookNode) -> None:
    """Join each run of stream outputs of one name (stdout or stderr) into one output.

    The kernel sends a long cell's prints in several messages, and the book draws each as a
    box of its own; only neighbours are joined, so the order against figures and tables is
    kept (nbclient's ``coalesce_streams`` would move later prints above them)."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        merged: list = []
        for output in cell.outputs:
            previous = merged[-1] if merged else None
            if (
                output.get("output_type") == "stream"
                and previous is not None
                and previous.get("output_type") == "stream"
                and previous.get("name") == output.get("name")
            ):
                previous["text"] += output["text"]
            else:
                merged.append(output)
        cell.outputs = merged


def execute(path: Path, in_place: bool) -> float:
    """Run ``path`` top to bottom; return its wall-clock seconds."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=3600, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    )
    start = time.monotonic()
    client.execute()
    seconds = time.monotonic() - start
    if in_place:
        strip_startup_noise(notebook)
        merge_adjacent_streams(notebook)
        nbformat.write(notebook, path)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--in-place", action="store_true", help="store the executed outputs")
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    profile = current_profile().name
    out = RESULTS / f"chapters-{profile}.json"
    record = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {"rows": {}}
    for path in paths:
        machine = describe_machine()
        try:
            seconds = execute(path.resolve(), args.in_place)
        except CellExecutionError as error:
            sys.exit(f"{path} failed under the {profile} profile; nothing stored:\n{error}")
        print(f"{path.name}: {seconds:.0f} s under the {profile} profile", flush=True)
        record["rows"][path.stem] = {
            "seconds": round(seconds, 1),
            "minutes": round(seconds / 60, 1),
            "machine": machine,
        }
        write_json(out, {"benchmark": "chapters", "profile": profile, **record}, indent=1)


if __name__ == "__main__":
    main()
