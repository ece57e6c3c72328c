"""Labelled tasks cut from the held-out end of tiny Shakespeare (chapter 6).

Chapter 5 fine-tunes on CoLA, modern English that pre-training never saw. To see what
pre-training buys on text of its own domain, this module makes tasks of three of the
paper's four types from the play itself:

- ``next line`` (multiple choice, like the paper's Story Cloze, which offers two endings):
  two lines of context and two candidate next lines, one of them the true one;
- ``follows`` (entailment): does line B come right after line A, or was it drawn from
  elsewhere? Half the pairs are true;
- ``corrupted`` (classification, like CoLA in the play's own English): a line as written,
  or the same line with one change: two neighbouring words swapped, one word replaced by a
  word of the same case from elsewhere in the text, or one word deleted. Half are corrupted.

Every example comes from chapter 3's validation text (the last 10% of the characters), which
pre-training never trained on, and so do the labelled training examples: the text is cut
into chunks of ``CHUNK_TURNS`` speeches, dealt in turn to the ``train``, ``validation`` and
``test`` splits (``SPLIT_PATTERN``), so each split spans the whole held-out text and no line
appears in two splits. A distractor is always drawn from the example's own split.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SPLITS = ("train", "validation", "test")
CHUNK_TURNS = 5  # speeches per chunk; chunks are dealt to the splits in SPLIT_PATTERN
SPLIT_PATTERN = ("train",) * 10 + ("validation",) * 3 + ("test",) * 7  # 50%, 15%, 35%
CHOICES = 2  # candidates of the next-line task (Story Cloze's two endings): chance is 1/2
MIN_WORDS = 5  # the corrupted task uses lines of at least this many words
WORD = re.compile(r"^[A-Za-z]+$")  # the words a corruption may move, replace or delete


@dataclass(frozen=True)
class Turn:
    """One speech: who speaks it and its lines."""

    speaker: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Example:
    """One labelled example: its texts, in the order the task's transformation takes them,
    and its label (0 or 1; for multiple choice, the index of the true candidate)."""

    texts: tuple[str, ...]
    label: int


def turns(text: str) -> list[Turn]:
    """The speeches of a play's text: blocks separated by a blank line, each a ``NAME:``
    line then its lines. A block cut by the split (the first one) keeps its lines."""
    result = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        speaker, *spoken = lines if lines[0].endswith(":") else ("", *lines)
        if spoken:
            result.append(Turn(speaker.rstrip(":"), tuple(spoken)))
    return result


def split_turns(all_turns: Sequence[Turn]) -> dict[str, list[list[Turn]]]:
    """The speeches in chunks of ``CHUNK_TURNS``, dealt to the splits by ``SPLIT_PATTERN``;
    each split is a list of chunks (runs of consecutive speeches)."""
    chunks: dict[str, list[list[Turn]]] = {name: [] for name in SPLITS}
    for number, start in enumerate(range(0, len(all_turns), CHUNK_TURNS)):
        split = SPLIT_PATTERN[number % len(SPLIT_PATTERN)]
        chunks[split].append(list(all_turns[start : start + CHUNK_TURNS]))
    return chunks


def chunk_lines(chunk: Sequence[Turn]) -> list[str]:
    """A chunk's spoken lines in order (speaker names left out)."""
    return [line for turn in chunk for line in turn.lines]


def balanced_labels(count: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` labels in random order, each of ``classes`` values equally often (the
    first ``count % classes`` values once more)."""
    return rng.permutation(np.arange(count) % classes)


def lines_elsewhere(lines: Sequence[Sequence[str]], number: int) -> list[str]:
    """The lines of every chunk but chunk ``number``: where distractors come from."""
    return [line for other, chunk in enumerate(lines) if other != number for line in chunk]


def next_line_examples(chunks: Sequence[Sequence[Turn]], rng: np.random.Generator) -> list[Example]:
    """Each line that has two lines before it in its chunk: (context, candidates): the true
    line, at each position equally often, and ``CHOICES - 1`` distractors from the split's
    other chunks."""
    lines = [chunk_lines(chunk) for chunk in chunks]
    places = [(number, i) for number, chunk in enumerate(lines) for i in range(2, len(chunk))]
    positions = balanced_labels(len(places), CHOICES, rng)
    examples = []
    for (number, i), position in zip(places, positions, strict=True):
        chunk = lines[number]
        distractors = rng.choice(lines_elsewhere(lines, number), CHOICES - 1, replace=False)
        answers = [str(line) for line in distractors]
        answers.insert(int(position), chunk[i])
        examples.append(Example(("\n".join(chunk[i - 2 : i]), *answers), int(position)))
    return examples


def follows_examples(chunks: Sequence[Sequence[Turn]], rng: np.random.Generator) -> list[Example]:
    """Each line that has a next line in its chunk: (line, next line), labelled 1, or (line,
    a line of the split's other chunks), labelled 0; half of each."""
    lines = [chunk_lines(chunk) for chunk in chunks]
    places = [(number, i) for number, chunk in enumerate(lines) for i in range(len(chunk) - 1)]
    labels = balanced_labels(len(places), 2, rng)
    examples = []
    for (number, i), follows in zip(places, labels, strict=True):
        chunk = lines[number]
        second = chunk[i + 1] if follows else str(rng.choice(lines_elsewhere(lines, number)))
        examples.append(Example((chunk[i], second), int(follows)))
    return examples


def corrupted_examples(chunks: Sequence[Sequence[Turn]], rng: np.random.Generator) -> list[Example]:
    """Each line of at least ``MIN_WORDS`` words with a plain word after the first, as
    written (label 1) or corrupted once (label 0, :func:`corrupt`); half of each."""
    lines = [line for chunk in chunks for line in chunk_lines(chunk)]
    lines = [line for line in lines if len(line.split()) >= MIN_WORDS and plain_words(line)]
    vocabulary = sorted({word for line in lines for word in line.split() if WORD.match(word)})
    labels = balanced_labels(len(lines), 2, rng)
    return [
        Example((line if kept else corrupt(line, vocabulary, rng),), int(kept))
        for line, kept in zip(lines, labels, strict=True)
    ]


CORRUPTIONS = ("swap", "replace", "delete")


def plain_words(line: str) -> list[int]:
    """Positions of the words a corruption may touch: letters only, and not the first."""
    return [i for i, word in enumerate(line.split()) if i > 0 and WORD.match(word)]


def corrupt(line: str, vocabulary: Sequence[str], rng: np.random.Generator) -> str:
    """The line with one change that keeps its look: two neighbouring plain words swapped,
    a plain word replaced by another of the same case from ``vocabulary``, or a plain word
    deleted. The kinds are tried in random order; deleting always works on a line with a
    plain word, which every line the task uses has."""
    words, plain = line.split(), plain_words(line)
    for kind in rng.permutation(CORRUPTIONS):
        if kind == "swap":
            pairs = [i for i in plain if i + 1 in plain and words[i] != words[i + 1]]
            if pairs:
                i = int(rng.choice(pairs))
                words[i], words[i + 1] = words[i + 1], words[i]
                return " ".join(words)
        elif kind == "replace":
            i = int(rng.choice(plain))
            upper = words[i][0].isupper()
            choices = [w for w in vocabulary if w[0].isupper() == upper and w != words[i]]
            if choices:
                words[i] = str(rng.choice(choices))
                return " ".join(words)
        else:
            del words[int(rng.choice(plain))]
            return " ".join(words)
    raise AssertionError("unreachable: deleting a plain word always succeeds")


READERS = {
    "next line": next_line_examples,
    "follows": follows_examples,
    "corrupted": corrupted_examples,
}
TRANSFORMATION = {  # the paper's input transformation of each task (transformations.TASKS)
    "next line": "multiple choice",
    "follows": "entailment",
    "corrupted": "classification",
}
CHANCE = {"next line": 1 / CHOICES, "follows": 0.5, "corrupted": 0.5}


def read_task(name: str, held_out_text: str, seed: int = 0) -> dict[str, list[Example]]:
    """Task ``name``'s examples of each split, made from ``held_out_text`` (chapter 3's
    validation text); the same ``seed`` gives the same examples."""
    if name not in READERS:
        raise ValueError(f"Unknown task {name!r}; known tasks: {', '.join(READERS)}.")
    chunks = split_turns(turns(held_out_text))
    rng = np.random.default_rng(seed)
    return {split: READERS[name](chunks[split], rng) for split in SPLITS}


def labelled_subset(labels: Sequence[int], size: int | None, seed: int) -> np.ndarray:
    """Indices of ``size`` examples (all when None or larger), drawn with ``seed`` so that
    each label keeps its share of the whole (to the nearest example): a small labelled set
    is a fair sample of the task, not a lopsided one."""
    labels = np.asarray(labels)
    if size is None or size >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.floor(counts / counts.sum() * size).astype(int)
    for k in np.argsort(-(counts / counts.sum() * size - quota))[: size - quota.sum()]:
        quota[k] += 1
    chosen = [
        rng.permutation(np.flatnonzero(labels == c))[:n]
        for c, n in zip(classes, quota, strict=True)
    ]
    return np.sort(np.concatenate(chosen))
