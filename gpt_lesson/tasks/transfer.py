"""What pre-training transfers to the play's own tasks: data, zero-shot, one run (chapter 6).

The tasks (``gpt_lesson.tasks.play_tasks``) are encoded for one checkpoint as chapter 5 encodes
CoLA: GPT-2 ids through the paper's input transformation, the checkpoint extended by the
special tokens (and by any id its trimmed vocabulary lacks). :func:`run_once` fine-tunes on
a labelled subset of a given size; :func:`zero_shot` scores a language model with no
fine-tuning, by the heuristic of each task (the paper's section 5):

- ``next line``: the candidate that the context makes likeliest, log p(B | context) -
  log p(B) per token (and, for comparison, the paper's plain likeliest candidate);
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

from gpt_lesson.data import read_text
from gpt_lesson.gpt1.classifier import extend_checkpoint
from gpt_lesson.gpt1.presets import Checkpoint
from gpt_lesson.pretraining.pipeline import split_text
from gpt_lesson.tasks.batches import Encoded, encode
from gpt_lesson.tasks.fine_tuning import FinetuneConfig, evaluate, finetune
from gpt_lesson.tasks.intervals import bootstrap_difference, welch_difference
from gpt_lesson.tasks.play_tasks import CHOICES, TRANSFORMATION, Example, labelled_subset, read_task
from gpt_lesson.tasks.transformations import TASKS, pad_and_extract
from gpt_lesson.tasks.zero_shot import best_threshold, continuation_log_probabilities
from gpt_lesson.tokenizer.gpt2 import BookGPT2Tokenizer

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
        return pad_and_extract(self.checkpoint)[0]


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
    checkpoint: Checkpoint, tokenizer: BookGPT2Tokenizer, name: str, seed: int = 0
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
    pad, _ = pad_and_extract(extended)
    encoded = {
        split: encode(task, tokens[split], [e.label for e in rows], extended.to_model_ids, pad)
        for split, rows in examples.items()
    }
    return PlayTaskData(name, extended, examples, encoded, added, shortened)


# --- Zero-shot: the language model alone -------------------------------------------------


def text_log_probabilities(
    model: keras.Model, encode: Encoder, contexts: list[str], texts: list[str]
) -> np.ndarray:
    """Average log-probability per token of each text given its context, under a language
    model whose own ids ``encode`` gives; each pair is cut to fit the model's context as in
    :func:`fit_texts`."""
    room = model.backbone.gpt_config.sequence_length
    pairs = [fit_texts([encode(c), encode(t)], room) for c, t in zip(contexts, texts, strict=True)]
    contexts, texts = [c for c, _ in pairs], [t for _, t in pairs]
    return continuation_log_probabilities(model, contexts, texts, encode.pad_id)


class Encoder:
    """A tokenizer's ``encode``, remembering every text it has seen: the zero-shot scores
    of many snapshots of one model read the same texts again and again."""

    def __init__(self, tokenizer: BookGPT2Tokenizer) -> None:
        self.tokenizer, self.seen = tokenizer, {}
        self.pad_id = tokenizer.pad_id

    def __call__(self, text: str) -> list[int]:
        if text not in self.seen:
            self.seen[text] = self.tokenizer.encode(text)
        return self.seen[text]


def conditional_and_alone(
    model: keras.Model, encode: Encoder, contexts: list[str], texts: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Each line's average log-probability after its context, and after a line break alone
    (the start of any line): their difference is how much the context makes it likelier."""
    lines = [text + "\n" for text in texts]
    given = text_log_probabilities(model, encode, [c + "\n" for c in contexts], lines)
    alone = text_log_probabilities(model, encode, ["\n"] * len(lines), lines)
    return given, alone


def zero_shot_scores(
    model: keras.Model, encode: Encoder, name: str, examples: list[Example]
) -> np.ndarray:
    """Each example's zero-shot score: (examples, candidates) for ``next line``, one score
    per example for the binary tasks (higher: label 1). For ``next line`` and ``follows``
    the score is log p(line | context) - log p(line), per token."""
    texts = [example.texts for example in examples]
    if name == "corrupted":
        return text_log_probabilities(
            model, encode, ["\n"] * len(texts), [t[0] + "\n" for t in texts]
        )
    if name == "follows":
        given, alone = conditional_and_alone(
            model, encode, [t[0] for t in texts], [t[1] for t in texts]
        )
        return given - alone
    contexts = [t[0] for t in texts for _ in range(CHOICES)]
    given, alone = conditional_and_alone(model, encode, contexts, [a for t in texts for a in t[1:]])
    return (given - alone).reshape(-1, CHOICES)


def zero_shot(
    model: keras.Model, encode: Encoder, name: str, examples: dict[str, list[Example]]
) -> dict:
    """Test accuracy of task ``name``'s zero-shot heuristic; a binary task's threshold is
    chosen on the training split (the multiple-choice task needs none, nor its labels).
    For ``next line``, also the paper's plain version (the likeliest candidate given the
    context, without subtracting its likelihood alone). ``encode`` gives the model's own ids
    (``Encoder(checkpoint.tokenizer)``)."""
    labels = np.array([example.label for example in examples["test"]])
    if name == "next line":
        texts = [example.texts for example in examples["test"]]
        contexts = [t[0] for t in texts for _ in range(CHOICES)]
        answers = [a for t in texts for a in t[1:]]
        given, alone = (
            x.reshape(-1, CHOICES) for x in conditional_and_alone(model, encode, contexts, answers)
        )
        return {
            "test": {"accuracy": float(np.mean((given - alone).argmax(axis=1) == labels))},
            "plain": {"accuracy": float(np.mean(given.argmax(axis=1) == labels))},
        }
    test = zero_shot_scores(model, encode, name, examples["test"])
    train = zero_shot_scores(model, encode, name, examples["train"])
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


# --- Reading the runs --------------------------------------------------------------------


def predictions_on_test(runs: list[dict]) -> np.ndarray:
    """The runs' test predictions, one row per run."""
    return np.array([run["test"]["predictions"] for run in runs])


def arm_difference(runs: list[dict], first: str, second: str, labels: np.ndarray) -> dict:
    """Arm ``first`` against arm ``second`` on the test split: each arm's mean and standard
    deviation over seeds, Welch's 95% interval of the difference (seeds only), and the
    bootstrap's (seeds and test examples)."""
    a = [run for run in runs if run["arm"] == first]
    b = [run for run in runs if run["arm"] == second]
    values = {
        arm: [run["test"]["accuracy"] for run in rows] for arm, rows in ((first, a), (second, b))
    }
    welch = welch_difference(values[first], values[second])
    both = bootstrap_difference(predictions_on_test(a), predictions_on_test(b), labels)
    return {
        "seeds": (len(a), len(b)),
        **{f"{arm}_mean": float(np.mean(v)) for arm, v in values.items()},
        **{f"{arm}_std": float(np.std(v, ddof=1)) for arm, v in values.items()},
        "values": values,
        "difference": welch.mean,
        "welch": (welch.low, welch.high),
        "bootstrap": (both.low, both.high),
        "decided": welch.excludes_zero and both.excludes_zero,
    }


def label_efficiency(runs: list[dict], labels: np.ndarray) -> list[dict]:
    """One row per labelled-set size (in increasing order): pre-trained against random."""
    rows = []
    for labelled in sorted(
        {run["labelled"] for run in runs}, key=lambda s: (s == "all", 0 if s == "all" else int(s))
    ):
        at_size = [run for run in runs if run["labelled"] == labelled]
        sizes = {run["size"] for run in at_size}
        rows.append(
            {
                "labelled": labelled,
                "size": max(sizes),
                **arm_difference(at_size, "pre-trained", "random", labels),
            }
        )
    return rows


def threshold_curve(
    scores: dict[str, list], labels: dict[str, list], sizes: list[int | None], seeds: list[int]
) -> list[dict]:
    """What the language model's zero-shot score is worth with a few labels: for each size
    and seed, the threshold with the best MCC on that many labelled training examples
    (:func:`play_tasks.labelled_subset`, as fine-tuning draws them), scored on the test
    split. ``scores`` and ``labels`` hold the train and test splits of a binary task."""
    train, test = np.asarray(scores["train"]), np.asarray(scores["test"])
    train_labels, test_labels = np.asarray(labels["train"]), np.asarray(labels["test"])
    rows = []
    for size in sizes:
        values = []
        for seed in seeds:
            chosen = labelled_subset(train_labels, size, seed)
            threshold = best_threshold(train[chosen], train_labels[chosen])
            values.append(float(np.mean((test > threshold) == test_labels)))
        rows.append({"size": len(labelled_subset(train_labels, size, 0)), "values": values})
    return rows
