"""Remove TensorFlow's and tqdm's start-up messages from stored notebook outputs.

TensorFlow 2.21 prints them from C++ before its logging starts, so that neither
``TF_CPP_MIN_LOG_LEVEL`` nor Python's warnings filters can silence them, and the kernel
stores them as stderr outputs of the first cell that imports it. They say nothing about
the chapter, carry process ids and clock times, and would be in every downloaded notebook.

python tools/strip_startup_noise.py notebooks/*.ipynb   # after executing the notebooks
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

NOISE = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called.*\n"
    r"|^[IW]\d{4} [\d:. ]+\d+ \w+\.cc:\d+\] .*\n"  # absl's I/W lines: time, thread, file
    r"|^.*TqdmWarning: IProgress not found.*\n(?:  from \.autonotebook import .*\n)?",
    re.MULTILINE,
)


def strip(notebook: nbformat.NotebookNode) -> int:
    """Drop the start-up lines from every stderr output; return how many outputs changed."""
    changed = 0
    for cell in notebook.cells:
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = NOISE.sub("", output["text"])
                changed += text != output["text"]
                if not text.strip():
                    continue
                output["text"] = text
            outputs.append(output)
        if "outputs" in cell:
            cell["outputs"] = outputs
    return changed


def main(paths: list[str]) -> None:
    for path in map(Path, paths):
        notebook = nbformat.read(path, as_version=4)
        if strip(notebook):
            nbformat.write(notebook, path)
            print(f"{path}: start-up messages removed")


if __name__ == "__main__":
    main(sys.argv[1:])
