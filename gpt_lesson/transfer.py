"""What pre-training transfers to the play's own tasks: data, zero-shot, one run (chapter 6).

The tasks (``gpt_lesson.play_tasks``) are encoded for one checkpoint as chapter 5 encodes
CoLA: GPT-2 ids through the paper's input transformation, the checkpoint extended by the
special tokens (and by any id its trimmed vocabulary lacks). :func:`run_once` fine-tunes on
a labelled subset of a given size; :func:`zero_shot` scores a language model with no
fine-tuning, by the heuristic of each task (the paper's section 5):

- ``next line``: the candidate with the highest average log-probability given the context;
- ``follows``: line B follows line A when log p(B | A) - log p(B), per token, exceeds a
  threshold;
- ``corrupted``: a line is as written when its average log-probability exceeds a threshold.

Thresholds are chosen on the training split's labels, as chapter 5 does for CoLA.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import keras
import numpy as np

from gpt_lesson.batches import Encoded, encode
from gpt_lesson.checkpoints import Checkpoint
from gpt_lesson.classifier import extend_checkpoint
from gpt_lesson.data import read_text
from gpt_lesson.finetune import FinetuneConfig, evaluate, finetune
from gpt_lesson.pipeline import split_text
from gpt_lesson.play_tasks import CHOICES, TRANSFORMATION, Example, labelled_subset, read_task
from gpt_lesson.tokenizer import GPT2Tokenizer
from gpt_lesson.transformations import SPECIAL, TASKS
from gpt_lesson.zero_shot import best_threshold, continuation_log_probabilities

SCORED_SPLITS = ("validation", "test")


def held_out_text() -> str:
    """Chapter 3's validation text: the last 10% of tiny Shakespeare, never trained on."""
    return split_text(read_text("shakespeare")).validation


@dataclass(frozen=True)
class PlayTaskData:
    """One task's examples, encoded for an (extended) checkpoint."""

    name: str
    checkpoint: Checkpoint  # extended by the special tokens; never trained itself
    examples: dict[str, list[Example]]
    encoded: dict[str, Encoded]  # train, validation, test
    added_ids: int  # ids added to the checkpoint's vocabulary (the specials, and any other)
    shortened: int  # examples whose texts were cut to fit the context

    @property
    def pad(self) -> int:
        return int(self.checkpoint.to_model_ids([SPECIAL.pad])[0])


def fit_texts(texts: list[list[int]], room: int) -> list[list[int]]:
    """Texts cut so that the first (a context) with any one of the others fits in ``room``
    tokens: the first loses tokens from its start, down to half the room, then the others
    from their end. A lone text keeps its beginning."""
    first, *others = (list(text) for text in texts)
    if not others:
        return [first[:room]]
    over = len(first) + max(map(len, others)) - room
    if over > 0:
        first = first[min(over, max(len(first) - room // 2, 0)) :]
    return [first, *(text[: room - len(first)] for text in others)]


def prepare_play_task(
    checkpoint: Checkpoint, tokenizer: GPT2Tokenizer, name: str, seed: int = 0
) -> PlayTaskData:
    """Read task ``name`` from the held-out text, tokenize it with GPT-2's ``tokenizer`` and
    transform it as the paper does for its type; extend the checkpoint to cover it."""
    examples = read_task(name, held_out_text(), seed)
    task = TASKS[TRANSFORMATION[name]]
    tokens = {
        split: [[tokenizer.encode(text) for text in example.texts] for example in rows]
        for split, rows in examples.items()
    }
    # start and extract, and a delimiter between two texts
    specials = 2 if len(examples["train"][0].texts) == 1 else 3
    room = checkpoint.config.sequence_length - specials
    fitted = {split: [fit_texts(texts, room) for texts in rows] for split, rows in tokens.items()}
    shortened = sum(
        f != t for split in tokens for f, t in zip(fitted[split], tokens[split], strict=True)
    )
    tokens = fitted
    every_id = {i for rows in tokens.values() for texts in rows for text in texts for i in text}
    extended, added = extend_checkpoint(
        checkpoint, sorted(every_id), seed=seed, tokenizer=tokenizer
    )
    pad = int(extended.to_model_ids([SPECIAL.pad])[0])
    encoded = {
        split: encode(task, tokens[split], [e.label for e in rows], extended.to_model_ids, pad)
        for split, rows in examples.items()
    }
    return PlayTaskData(name, extended, examples, encoded, added, shortened)


# --- Zero-shot: the language model alone -------------------------------------------------


def text_log_probabilities(
    model: keras.Model, tokenizer: GPT2Tokenizer, contexts: list[str], texts: list[str]
) -> np.ndarray:
    """Average log-probability per token of each text given its context, under a language
    model whose own (trimmed) ``tokenizer`` gives its ids; each pair is cut to fit the
    model's context as in :func:`fit_texts`."""
    room = model.backbone.gpt_config.sequence_length
    pairs = [
        fit_texts([tokenizer.encode(c), tokenizer.encode(t)], room)
        for c, t in zip(contexts, texts, strict=True)
    ]
    return continuation_log_probabilities(
        model, [c for c, _ in pairs], [t for _, t in pairs], tokenizer.pad_id
    )


def zero_shot_scores(
    model: keras.Model, tokenizer: GPT2Tokenizer, name: str, examples: list[Example]
) -> np.ndarray:
    """Each example's zero-shot score: (examples, candidates) for ``next line``, one score
    per example for the binary tasks (higher: label 1)."""
    texts = [example.texts for example in examples]
    if name == "next line":
        contexts = [t[0] + "\n" for t in texts for _ in range(CHOICES)]
        answers = [answer + "\n" for t in texts for answer in t[1:]]
        return text_log_probabilities(model, tokenizer, contexts, answers).reshape(-1, CHOICES)
    if name == "follows":
        seconds = [t[1] + "\n" for t in texts]
        given_first = text_log_probabilities(
            model, tokenizer, [t[0] + "\n" for t in texts], seconds
        )
        alone = text_log_probabilities(model, tokenizer, ["\n"] * len(texts), seconds)
        return given_first - alone
    return text_log_probabilities(
        model, tokenizer, ["\n"] * len(texts), [t[0] + "\n" for t in texts]
    )


def zero_shot(
    model: keras.Model, tokenizer: GPT2Tokenizer, name: str, examples: dict[str, list[Example]]
) -> dict:
    """Test accuracy of task ``name``'s zero-shot heuristic; a binary task's threshold is
    chosen on the training split (the multiple-choice task needs none, nor its labels)."""
    test = zero_shot_scores(model, tokenizer, name, examples["test"])
    labels = np.array([example.label for example in examples["test"]])
    if name == "next line":
        return {"test": {"accuracy": float(np.mean(test.argmax(axis=1) == labels))}}
    train = zero_shot_scores(model, tokenizer, name, examples["train"])
    threshold = best_threshold(train, np.array([example.label for example in examples["train"]]))
    predictions = (test > threshold).astype(int)
    return {"threshold": threshold, "test": {"accuracy": float(np.mean(predictions == labels))}}


# --- Fine-tuning on a labelled subset ----------------------------------------------------


def subset(data: Encoded, rows: np.ndarray) -> Encoded:
    """The examples ``rows`` of ``data``."""
    return Encoded(tuple(data.sequences[i] for i in rows), data.labels[rows], data.combine)


def run_once(data: PlayTaskData, config: FinetuneConfig, size: int | None) -> dict:
    """Fine-tune on ``size`` labelled training examples (all when None), drawn with
    ``config.seed`` (:func:`play_tasks.labelled_subset`), and score the validation and test
    splits. The test predictions are kept, for intervals over examples."""
    start = time.process_time()
    rows = labelled_subset(data.encoded["train"].labels, size, config.seed)
    train = subset(data.encoded["train"], rows)
    result = finetune(data.checkpoint, train, data.encoded["validation"], config)
    scores = {
        split: evaluate(result.classifier, data.encoded[split], data.pad) for split in SCORED_SPLITS
    }
    del scores["validation"]["predictions"]
    return {
        "task": data.name,
        "size": len(rows),
        "config": dataclasses.asdict(config),
        "steps": result.steps,
        "minutes": result.minutes,
        "cpu_minutes": (time.process_time() - start) / 60.0,
        "curve": result.curve,
        **scores,
    }
