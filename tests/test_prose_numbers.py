"""Every number in a chapter's prose is traceable.

A number in a Markdown cell passes when one of these holds:
- a code cell of the same chapter prints it or shows it (its outputs, or its source, which
  the book displays), at the precision the prose writes it (2.256 matches 2.25597, and a
  round 7,000 matches 6,987);
- it is on the chapter's list below, quoted from a named source, or read from a committed
  result file, which the test then opens to find it.
Section, chapter, exercise, figure and table numbers, math, inline code, links and
citations are not numbers of this kind and are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]

SKIPPED = (
    re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S),  # math
    re.compile(r"```.*?```|`[^`\n]+`", re.S),  # code
    re.compile(r"\]\([^)]*\)|\{[a-z:]+\}`[^`]*`"),  # link targets, roles such as {cite:p}
    re.compile(r"^#+\s+[\dA]+(\.\d+)*", re.M),  # a heading's section number
    re.compile(
        r"(?i)\b(chapters?|sections?|exercises?|figure|table|appendix|issue)\s+"
        r"[A\d]+(\.\d+)*((\s*(–|-|and|to|or|,)\s*)[A\d]+(\.\d+)*)*"
    ),  # references to parts of this book or of the paper
)
NUMBER = re.compile(
    r"(?<![\w.,])[-−+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[-−]?\d+)?%?(?!\w)"
    r"(?: million\b)?"
)

# Numbers quoted from outside the chapter's cells: where each comes from. A source that
# starts with a path and a colon (a result file, another chapter, the code) must hold the
# number; any other source names a publication or a definition.
QUOTED: dict[str, dict[str, str]] = {
    "01_tokenization": {
        "27": "benchmarks/results/chapters-default.json: this chapter's time",
        "22": "benchmarks/results/chapters-quick.json: this chapter's time",
        "256": "a definition: the values one byte can take",
        "50256": "GPT-2's encoder.json: the id of <|endoftext|>",
        "2018": "tests/tokenizer/test_gpt2_tokenizer.py: a hard case the tokenizer is tested on",
        "3.14159": "tests/tokenizer/test_gpt2_tokenizer.py: a hard case the tokenizer is tested on",
    },
    "02_model": {
        "22": "benchmarks/results/chapters-default.json: this chapter's time",
        "14": "benchmarks/results/chapters-quick.json: this chapter's time",
    },
    "03_pretraining": {
        "27": "benchmarks/results/chapters-quick.json: this chapter's time",
        "12.4": "benchmarks/results/chapters-default.json: this chapter's minutes",
        "2.20": "issue 17: the goal, at most 2.20 bits/char within 15 minutes on 2 cores",
        "2.1905": "benchmarks/results/20261202T025626Z-quality.json: this recipe",
        "2.2592": "benchmarks/results/20261202T025626Z-quality.json: the recipe before",
        "2.1915": "benchmarks/results/20261202T025626Z-quality.json: weight decay 0.1",
        "2.343": "benchmarks/results/lesson-run-zen1/summary.json: the slower CPU's run",
        "2.6": "benchmarks/README.md: the slower CPU's run stopped 2.6 epochs into 7",
        "0.1": "benchmarks/results/20261202T025626Z-quality.json: that recipe's weight decay",
        "2.2049": "benchmarks/results/20261202T005126Z-quality.json: fixed windows, 7 epochs",
        "0.05": "benchmarks/README.md: the two extra epochs' gain, 0.054 bits/char",
        "11,709": "benchmarks/results/lesson-run-corpus-ids/run.json: that run's vocabulary",
        "2.256": "benchmarks/results/lesson-run-corpus-ids/summary.json: its bits per char",
        "10.825": "a definition: ln 50,260 = 10.8249",
        "1.4697": "nanoGPT's README: the validation loss of its A100 character model",
        "2,000": "the paper, section 4.1: warmup over the first 2,000 updates",
        "300,000": "notebooks/01_tokenization.ipynb: the training split's tokens",
        "576": "a definition: a 64-token prompt and 512 new tokens",
        "12.5": "benchmarks/results/lesson-run-corpus-ids/summary.json: that run's minutes",
    },
    "04_stuck_accuracy": {
        "10.7": "benchmarks/results/chapters-default.json: this chapter's minutes",
        "2.5": "benchmarks/results/chapters-quick.json: this chapter's minutes",
        "8": "gpt_lesson/config.py: the blog preset's 8 heads; 512 / 64 = 8 times narrower",
        "262": "GPT-2's encoder.json: the id of ' the'",
        "30": "gpt_lesson/seed/study.py: probe_steps, where the layer probe measures",
        "70": "gpt_lesson/seed/study.py: probe_steps, where the layer probe measures",
    },
    "05_finetuning_cola": {
        "2.1": "benchmarks/results/chapters-default.json: this chapter's minutes",
        "1.9": "benchmarks/results/chapters-quick.json: this chapter's minutes",
        "1.1": "CoLA's version (nyu-mll.github.io/CoLA)",
        "23": "CoLA's README: sentences from 23 linguistics publications",
        "45.4": "the paper's Table 5: CoLA MCC of the full method",
        "47.9": "the paper's Table 5: without the auxiliary LM objective",
        "18.9": "the paper's Table 5: without pre-training",
        "+26.5": "the paper's Table 5: 45.4 − 18.9",
        "−2.5": "the paper's Table 5: 45.4 − 47.9",
        "45": "the paper's Table 5 (45.4), rounded",
        "800 million": "BooksCorpus: about 800 million words (Zhu et al. 2015, via the paper)",
        "300,000": "notebooks/01_tokenization.ipynb: the training split's tokens",
        "2.259": "benchmarks/results/20261202T025626Z-quality.json: the ablation's recipe",
        "16": "a definition: 1e-3 / 6.25e-5, the check's highest rate over the paper's",
        "0.062": "experiments/README.md: row (a)'s check at 1e-3 re-run on a third host",
        "0.030": "experiments/README.md: row (a)'s check at 1e-3 as first run",
    },
    "06_what_pretraining_buys": {
        "4.2": "benchmarks/results/chapters-quick.json: this chapter's minutes",
        "9%": "the paper, section 5: full transfer's gain on MultiNLI",
        "8.9%": "the paper, section 1: its absolute gain on Story Cloze",
        "15%": "gpt_lesson/tasks/play_tasks.py: SPLIT_PATTERN, the validation split's share",
        "35%": "gpt_lesson/tasks/play_tasks.py: SPLIT_PATTERN, the test split's share",
        "27": "notebooks/05_finetuning_cola.ipynb: GPT-1's parameters over chapter 3's (27×)",
        "0.55": "a definition: exercise 1's accuracy to tell from chance",
        "0.50": "a definition: chance on a binary task",
    },
    "A1_benchmarks": {
        "1,024": "gpt_lesson/config.py: the blog preset's feed-forward width",
        "576": "a definition: a 64-token prompt and 512 new tokens",
        # benchmarks/README.md reports the committed runs of benchmarks/results/.
        "25.7 million": "benchmarks/README.md: the weights tying saves at the blog's width",
        "4.3": "benchmarks/README.md: how much the trimmed vocabulary shrinks the output",
        "0.57": "benchmarks/README.md: the book's step's MFU with oneDNN",
        "1.27": "benchmarks/README.md: oneDNN's gain on the slower CPU (185 / 146 tokens/s)",
        "1.59": "benchmarks/README.md: oneDNN's gain in the second run there (175 / 110)",
        "1.29": "benchmarks/README.md: an inter-op pool of one in the first run on the slower CPU",
        "2.56": "benchmarks/README.md: tf.data's tear-down times",
        "5.12": "benchmarks/README.md: tf.data's tear-down times",
        "10.24": "benchmarks/README.md: tf.data's tear-down times",
        "20.48": "benchmarks/README.md: tf.data's tear-down times",
        "20": "benchmarks/README.md: the autotuner's wake-ups; the first suite run's minutes",
        "9.9": "benchmarks/README.md: a fresh clone's test command, in minutes",
        "325": "benchmarks/README.md: that run's passed tests",
        "8.9": "benchmarks/README.md: the test command with the autotuner off, in minutes",
    },
}


def _chapters() -> list[Path]:
    return sorted((REPO / "notebooks").glob("*.ipynb"))


def prose_numbers(markdown: str) -> list[str]:
    """The numbers a reader sees in a Markdown cell, as written."""
    for pattern in SKIPPED:
        markdown = pattern.sub(" ", markdown)
    return NUMBER.findall(markdown)


def _value(token: str) -> float:
    digits = token.removesuffix(" million")
    scale = 1e6 if digits != token else 1.0
    return scale * float(digits.replace("−", "-").replace(",", "").rstrip("%"))


def _decimals(token: str) -> int | None:
    """The decimal places a token is written to; negative for a round number such as
    7,000 (-3: "about seven thousand"); None for exponent notation (exact)."""
    digits = token.removesuffix(" million")
    shift = 6 if digits != token else 0
    digits = digits.replace(",", "").rstrip("%").lstrip("-−+")
    if "e" in digits:
        return None
    if "." in digits:
        return len(digits.split(".")[1]) - shift
    return -(len(digits) - len(digits.rstrip("0")) if len(digits) > 2 else 0) - shift


def numbers_in(texts: list[str]) -> list[float]:
    return [_value(token) for text in texts for token in NUMBER.findall(text)]


def shown(token: str, values: list[float]) -> bool:
    """Whether ``token`` is one of ``values`` written to the token's precision (a
    percentage may also be a fraction's)."""
    want, places = _value(token), _decimals(token)
    candidates = [*values, *(100 * v for v in values)] if token.endswith("%") else values
    for value in candidates:
        if places is None and abs(value - want) <= 1e-9 * abs(want):
            return True
        if places is not None and abs(round(abs(value), places) - abs(want)) < 1e-9:
            return True
    return False


def cell_texts(notebook: nbformat.NotebookNode) -> list[str]:
    """What the code cells show: their source and every text output."""
    texts = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        texts.append(cell.source)
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.extend(v for k, v in output.get("data", {}).items() if k.startswith("text/"))
    return texts


@pytest.mark.parametrize("chapter", _chapters(), ids=lambda path: path.stem)
def test_every_number_in_the_prose_is_printed_or_quoted(chapter):
    notebook = nbformat.read(chapter, as_version=4)
    values = numbers_in(cell_texts(notebook))
    quoted = QUOTED[chapter.stem]
    unbacked = []
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        for token in prose_numbers(cell.source):
            if token in quoted or shown(token, values):
                continue
            at = cell.source.find(token)
            unbacked.append(f"{token!r} in ...{cell.source[max(at - 60, 0) : at + 30]!r}")
    assert not unbacked, f"{chapter.name}: numbers no cell prints:\n" + "\n".join(unbacked)


def _file_numbers(path: Path) -> list[float]:
    if path.suffix == ".ipynb":
        return numbers_in(cell_texts(nbformat.read(path, as_version=4)))
    return numbers_in([path.read_text(encoding="utf-8")])


@pytest.mark.parametrize("chapter", _chapters(), ids=lambda path: path.stem)
def test_quoted_files_hold_their_numbers(chapter):
    for token, source in QUOTED[chapter.stem].items():
        where = source.split(":")[0]
        path = REPO / where
        if "/" in where and " " not in where:  # a file of this repository, not a publication
            assert path.is_file(), f"{token} is quoted from {source}, which is not committed"
            assert shown(token, _file_numbers(path)), f"{source} holds no {token}"


def test_the_scan_skips_references_and_reads_numbers_as_written():
    text = (
        "## 3.4 Training\nSee section 3.5 and chapter 4; Table 5 gives 45.4, and $d = 512$ "
        "with `lr=1e-3`. We measured 76,782,676 parameters, 2.256 bits, −0.002 and 70%."
    )
    assert prose_numbers(text) == ["45.4", "76,782,676", "2.256", "−0.002", "70%"]
    assert prose_numbers("it has 124 million parameters") == ["124 million"]
    assert shown("124 million", [124_439_808]) and not shown("124 million", [125_000_000])
    assert shown("2.256", [2.25597]) and not shown("2.25", [2.25597])
    assert shown("7,000", [6987]) and not shown("7,000", [6400]) and not shown("30", [28])
    assert shown("−0.002", [-0.0017]) and shown("70%", [0.6979])
    assert shown("10.825", [10.82490]) and not shown("10.83", [10.82490])
