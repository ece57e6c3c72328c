"""The paper's input transformations: every task's input as one token sequence (chapter 5).

GPT-1 changes the input, not the architecture, for each task (the paper's Figure 1, right):
every sequence starts with a start token and ends with an *extract* token, whose final
hidden state the classifier reads, and two texts are joined by a delimiter token.

Ids here are GPT-2's, extended by one new id, the delimiter (50,260). The start token is
the seed's ``<|start|>`` and the extract token its ``<|end|>`` (the paper's Figure 1 calls
its end token "Extract"); neither appears in pre-training, and like the delimiter they
get fresh N(0, 0.02) embeddings when a checkpoint is extended
(``gpt_lesson.gpt1.classifier.extend_checkpoint``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gpt_lesson.tokenizer.special_tokens import EXTRA_TOKENS, SPECIAL_TOKENS

if TYPE_CHECKING:  # a checkpoint holds a model; the transformations are plain lists of ids
    from gpt_lesson.gpt1.presets import Checkpoint


@dataclass(frozen=True)
class SpecialIds:
    """The tokens the transformations add, as a tokenizer numbers them: by default GPT-2's
    ids, extended by the delimiter and the unknown token (``gpt_lesson.tokenizer.
    special_tokens``, their one home); a converted GPT-1's tokenizer numbers its own."""

    start: int = SPECIAL_TOKENS["<|start|>"]
    delimiter: int = EXTRA_TOKENS["<|delimiter|>"]
    extract: int = SPECIAL_TOKENS["<|end|>"]
    pad: int = SPECIAL_TOKENS["<|pad|>"]
    unknown: int = EXTRA_TOKENS["<|unknown|>"]  # unseen tokens as one id (chapter 5, ex. 4)

    @property
    def fresh(self) -> tuple[int, ...]:
        """The ids whose embeddings fine-tuning initialises anew (never seen in pre-training)."""
        return (self.start, self.delimiter, self.extract)


SPECIAL = SpecialIds()


def pad_and_extract(checkpoint: Checkpoint, special: SpecialIds = SPECIAL) -> tuple[int, int]:
    """The pad and extract ids as ``checkpoint``'s model numbers them (a trimmed vocabulary
    renumbers the tokenizer's ids): what batches pad with and where the head reads."""
    pad, extract = (int(i) for i in checkpoint.to_model_ids([special.pad, special.extract]))
    return pad, extract


def classification_input(
    text: Sequence[int], special: SpecialIds = SPECIAL, max_length: int | None = None
) -> list[int]:
    """start, text, extract; a text too long for ``max_length`` ids keeps its beginning."""
    if max_length is not None:
        if max_length < 3:
            raise ValueError(f"max_length must leave room for one token, got {max_length}.")
        text = text[: max_length - 2]
    return [special.start, *text, special.extract]


def entailment_input(
    premise: Sequence[int], hypothesis: Sequence[int], special: SpecialIds = SPECIAL
) -> list[int]:
    """start, premise, delimiter, hypothesis, extract: one sequence, one prediction."""
    return [special.start, *premise, special.delimiter, *hypothesis, special.extract]


def similarity_inputs(
    first: Sequence[int], second: Sequence[int], special: SpecialIds = SPECIAL
) -> tuple[list[int], list[int]]:
    """Both orders, since similarity has none: the paper adds the two final hidden
    states element-wise before the linear layer."""
    return entailment_input(first, second, special), entailment_input(second, first, special)


def multiple_choice_inputs(
    context: Sequence[int], answers: Sequence[Sequence[int]], special: SpecialIds = SPECIAL
) -> list[list[int]]:
    """One sequence per answer, start, context, delimiter, answer, extract; the paper
    scores each with the linear layer and takes a softmax over the answers."""
    if not answers:
        raise ValueError("multiple_choice_inputs needs at least one answer.")
    return [entailment_input(context, answer, special) for answer in answers]


def language_model_labels(sequence: np.ndarray, extract: int, pad: int) -> np.ndarray:
    """Next-token labels for L1 on the text: position i predicts token i+1; the special
    tokens are not text, so predicting the extract token (and anything after) is masked."""
    labels = np.append(np.asarray(sequence[1:]), pad).astype(np.int32)
    labels[labels == extract] = pad
    return labels


# --- Tasks: a transformation and how the head reads its sequences ----------------------


COMBINES = ("one", "sum", "choose")  # how the head reads an example's sequences


@dataclass(frozen=True)
class Task:
    """One of the paper's task types: how an example's texts (token ids) become sequences,
    and how the head reads their extract states (``gpt_lesson.gpt1.classifier``):

    - ``"one"``: one sequence, W_y on its state (classification, entailment);
    - ``"sum"``: the states of all sequences added, then W_y (similarity, both orders);
    - ``"choose"``: one score per sequence, a softmax over them (multiple choice)."""

    name: str
    transform: Callable[..., list[list[int]]]
    combine: str

    def __post_init__(self) -> None:
        if self.combine not in COMBINES:
            raise ValueError(f"combine must be one of {COMBINES}, got {self.combine!r}.")


TASKS = {
    task.name: task
    for task in (
        Task("classification", lambda text: [classification_input(text)], "one"),
        Task("entailment", lambda premise, claim: [entailment_input(premise, claim)], "one"),
        Task("similarity", lambda first, second: list(similarity_inputs(first, second)), "sum"),
        Task(
            "multiple choice",
            lambda context, *answers: multiple_choice_inputs(context, answers),
            "choose",
        ),
    )
}
