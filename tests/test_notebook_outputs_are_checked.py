"""The notebook test really compares stored outputs: an edited output must fail it.

Runs nbval (as ``make test`` does) on the first three code cells of chapter 1: once as
stored, which must pass, and once with one printed line edited, which must fail.
"""

import copy
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

CHAPTER = Path(__file__).resolve().parents[1] / "notebooks" / "01_tokenization.ipynb"


def _first_code_cells(count: int) -> nbformat.NotebookNode:
    notebook = nbformat.read(CHAPTER, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"][:count]
    notebook.cells = code
    return notebook


def _nbval(notebook: nbformat.NotebookNode, folder: Path) -> subprocess.CompletedProcess:
    path = folder / "chapter.ipynb"
    nbformat.write(notebook, path)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "--nbval-current-env",
            "-p",
            "no:randomly",
            "-q",
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=300,
    )


@pytest.fixture(scope="module")
def stored() -> nbformat.NotebookNode:
    notebook = _first_code_cells(3)
    assert "shakespeare.txt" in _text(notebook.cells[2])  # the cell we edit below
    return notebook


def _text(cell: nbformat.NotebookNode) -> str:
    """The plain text of the cell's first output: a printed stream or a displayed table."""
    output = cell.outputs[0]
    return output.text if "text" in output else output.data["text/plain"]


def test_stored_outputs_pass(stored, tmp_path):
    result = _nbval(stored, tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]


def test_an_edited_output_fails(stored, tmp_path):
    edited = copy.deepcopy(stored)
    output = edited.cells[2].outputs[0]
    field = output if "text" in output else output.data
    key = "text" if "text" in output else "text/plain"
    field[key] = field[key].replace("shakespeare.txt", "shakespeare.TXT", 1)
    result = _nbval(edited, tmp_path)
    assert result.returncode != 0
    assert "mismatch 'text/plain'" in result.stdout and "speare.TXT" in result.stdout
