"""CoLA, the experiment of chapter 5: data, one fine-tuning run, zero-shot, the ablation read.

CoLA's test labels are not public, so the in-domain dev set (527 sentences) is the test
set and the out-of-domain dev set (516) a second one; every choice is made on a
validation split carved from the in-domain training set (10%, fixed seed). The scores are
Matthews correlations (GLUE's CoLA metric).

Tiny Shakespeare's trimmed vocabulary lacks many GPT-2 tokens that CoLA's modern English
uses, so the checkpoint is extended by the ids of all three splits (no labels are looked
at) and the special tokens; :class:`CoLAData` reports how many tokens that affects. A
converted GPT-1 (``gpt_lesson.gpt1.convert``) reads text with its own tokenizer, whose
vocabulary already holds every id and the special tokens (:func:`text_tokenizer`).

The ablation itself, which regenerates the committed results, is run by
``experiments/cola_ablation.py``; this module holds its rows and reads its results.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpt_lesson.config import TRAINING, current_profile, get_preset
from gpt_lesson.data import LabelledSentences, read_cola
from gpt_lesson.gpt1.classifier import as_text_classifier, extend_checkpoint
from gpt_lesson.gpt1.presets import Checkpoint, is_preset, save_preset
from gpt_lesson.pretraining.objectives import matthews_correlation
from gpt_lesson.pretraining.train import load_shakespeare, pretrain
from gpt_lesson.tasks.batches import Encoded
from gpt_lesson.tasks.fine_tuning import FinetuneConfig, evaluate, finetune
from gpt_lesson.tasks.intervals import Difference, welch_difference
from gpt_lesson.tasks.transformations import (
    SPECIAL,
    SpecialIds,
    classification_input,
    pad_and_extract,
)
from gpt_lesson.tasks.zero_shot import best_threshold, mean_log_probabilities
from gpt_lesson.tokenizer.gpt1 import GPT1Tokenizer
from gpt_lesson.tokenizer.gpt2 import BookGPT2Tokenizer, load_gpt2_tokenizer

EVALUATION_SPLITS = ("validation", "dev", "dev_out_of_domain")
LABELS = ("unacceptable", "acceptable")  # CoLA's labels 0 and 1


@dataclass(frozen=True)
class CoLAData:
    """CoLA encoded for one (extended) checkpoint, with the raw sentences beside it."""

    checkpoint: Checkpoint  # extended with CoLA's ids; never trained itself
    encoded: dict[str, Encoded]  # train, validation, dev, dev_out_of_domain
    sentences: dict[str, tuple[str, ...]]
    added_ids: int  # ids added to the checkpoint's vocabulary (CoLA's and the specials)
    tokens_added: dict[str, float]  # per split: share of sentence tokens that were added
    holds_added: dict[str, tuple[bool, ...]]  # per split and sentence: holds an added token
    truncated: int  # sentences cut to fit the context
    special: SpecialIds = SPECIAL  # the transformations' ids, numbered as the tokenizer's

    @property
    def sentences_with_added(self) -> dict[str, float]:
        """Per split: the share of sentences holding a token the checkpoint lacked."""
        return {name: float(np.mean(flags)) for name, flags in self.holds_added.items()}

    @property
    def pad(self) -> int:
        return pad_and_extract(self.checkpoint, self.special)[0]

    @property
    def extract(self) -> int:
        return pad_and_extract(self.checkpoint, self.special)[1]


def text_tokenizer(checkpoint: Checkpoint) -> GPT1Tokenizer | BookGPT2Tokenizer:
    """The tokenizer a task's text is read with: the checkpoint's own when it has its own
    vocabulary (a converted GPT-1's), else GPT-2's whole (a trimmed model's ids are GPT-2's,
    mapped)."""
    own = checkpoint.tokenizer
    return own if isinstance(own, GPT1Tokenizer) else load_gpt2_tokenizer()


def special_ids(tokenizer: GPT1Tokenizer | BookGPT2Tokenizer) -> SpecialIds:
    """The ids the transformations add, as ``tokenizer`` numbers them: GPT-1's carries its
    own; GPT-2's ids are ``SPECIAL``'s."""
    return tokenizer.special_ids if isinstance(tokenizer, GPT1Tokenizer) else SPECIAL


def carve_validation(
    train: LabelledSentences, fraction: float = 0.1, seed: int = 0
) -> tuple[LabelledSentences, LabelledSentences]:
    """A random ``fraction`` of the training sentences, held out for choices."""
    order = np.random.default_rng(seed).permutation(len(train))
    cut = round(len(train) * (1.0 - fraction))

    def subset(rows: np.ndarray) -> LabelledSentences:
        rows = np.sort(rows)
        return LabelledSentences(
            tuple(train.sentences[i] for i in rows), tuple(train.labels[i] for i in rows)
        )

    return subset(order[:cut]), subset(order[cut:])


def prepare_cola(
    checkpoint: Checkpoint,
    tokenizer: GPT1Tokenizer | BookGPT2Tokenizer,
    seed: int = 0,
    unseen: str = "grow",
) -> CoLAData:
    """Read, split, tokenize (with :func:`text_tokenizer`'s) and transform CoLA; extend the
    checkpoint to cover it.

    ``unseen`` says what happens to tokens the checkpoint's vocabulary lacks: ``"grow"``
    gives each its own new embedding, ``"unknown"`` maps them all to one new id."""
    if unseen not in ("grow", "unknown"):
        raise ValueError(f'unseen must be "grow" or "unknown", got {unseen!r}.')
    train, validation = carve_validation(read_cola("train"))
    splits = {
        "train": train,
        "validation": validation,
        "dev": read_cola("dev"),
        "dev_out_of_domain": read_cola("dev_out_of_domain"),
    }
    tokens = {
        name: [tokenizer.encode(s) for s in split.sentences] for name, split in splits.items()
    }
    special = special_ids(tokenizer)
    vocabulary = checkpoint.vocabulary
    known = set(vocabulary.gpt2_ids if vocabulary else range(checkpoint.config.vocab_size))
    new = {name: [[i not in known for i in s] for s in split] for name, split in tokens.items()}
    if unseen == "unknown":
        tokens = {
            name: [[i if i in known else special.unknown for i in s] for s in split]
            for name, split in tokens.items()
        }
    every_id = {i for split in tokens.values() for sentence in split for i in sentence}
    extended, added = extend_checkpoint(
        checkpoint, sorted(every_id), special, seed=seed, tokenizer=tokenizer
    )
    limit = checkpoint.config.sequence_length
    encoded = {
        name: Encoded(
            tuple(
                extended.to_model_ids(classification_input(t, special, max_length=limit))
                for t in tokens[name]
            ),
            np.asarray(splits[name].labels, dtype=np.int32),
        )
        for name in splits
    }
    return CoLAData(
        checkpoint=extended,
        encoded=encoded,
        sentences={name: split.sentences for name, split in splits.items()},
        added_ids=added,
        tokens_added={name: float(np.mean([x for s in f for x in s])) for name, f in new.items()},
        holds_added={name: tuple(any(s) for s in f) for name, f in new.items()},
        truncated=sum(len(t) > limit - 2 for split in tokens.values() for t in split),
        special=special,
    )


def pretrain_if_missing(folder: str | Path, tokenizer: BookGPT2Tokenizer) -> None:
    """When ``folder`` holds no pre-trained model, pre-train one there with the profile's
    preset (chapter 3's recipe; the quick preset under CI), for chapter 5 to fine-tune.
    Read it with ``load_checkpoint(folder)``."""
    folder = Path(folder)
    if is_preset(folder):
        return
    preset = current_profile().pretrain_preset
    print(f"No checkpoint in {folder}: pre-training the {preset!r} preset there first.")
    data = load_shakespeare(tokenizer)
    pretrain(get_preset(preset), TRAINING[preset], data, tokenizer, folder, verbose=2)


def run_once(data: CoLAData, config: FinetuneConfig, save_to: str | Path | None = None) -> dict:
    """Fine-tune once and score it on the validation split and both dev sets; with
    ``save_to``, save the classifier there as a preset that reads text (``classify``).

    ``minutes`` is the training's wall-clock time; ``cpu_minutes`` the process's CPU time
    for training and scoring, which other jobs on a shared machine do not inflate."""
    cpu_start = time.process_time()
    train, validation = data.encoded["train"], data.encoded["validation"]
    result = finetune(data.checkpoint, train, validation, config, data.special)
    scores = {
        name: evaluate(result.classifier, data.encoded[name], data.pad)
        for name in EVALUATION_SPLITS
    }
    if save_to is not None:
        tokenizer = data.checkpoint.tokenizer
        save_preset(as_text_classifier(result.classifier, tokenizer, LABELS), save_to)
    return {
        "config": dataclasses.asdict(config),
        "steps": result.steps,
        "minutes": result.minutes,
        "cpu_minutes": (time.process_time() - cpu_start) / 60.0,
        "curve": result.curve,
        **scores,
    }


def majority_baseline(data: CoLAData) -> dict:
    """Always answer the training set's most frequent label."""
    majority = int(np.bincount(data.encoded["train"].labels).argmax())
    scores = {"majority_label": majority}
    for name in EVALUATION_SPLITS:
        labels = data.encoded[name].labels
        predictions = np.full_like(labels, majority)
        scores[name] = {
            "mcc": matthews_correlation(labels, predictions),
            "accuracy": float(np.mean(predictions == labels)),
        }
    return scores


def zero_shot(data: CoLAData) -> dict:
    """The paper's heuristic: acceptable when the sentence's mean token log-probability
    under the pre-trained LM exceeds a threshold chosen (for MCC) on the training split."""
    model = data.checkpoint.model
    score = {
        name: mean_log_probabilities(model, data.encoded[name], data.extract, data.pad)
        for name in ("train", *EVALUATION_SPLITS)
    }
    threshold = best_threshold(score["train"], data.encoded["train"].labels)
    result: dict = {"threshold": threshold}
    for name in ("train", *EVALUATION_SPLITS):
        predictions = (score[name] > threshold).astype(int)
        labels = data.encoded[name].labels
        result[name] = {
            "mcc": matthews_correlation(labels, predictions),
            "accuracy": float(np.mean(predictions == labels)),
        }
    return result


ABLATION_ROWS = {
    "(a) no pre-training, λ = 0.5": {"pretrained": False, "lm_weight": 0.5},
    "(b) pre-trained, λ = 0": {"pretrained": True, "lm_weight": 0.0},
    "(c) pre-trained, λ = 0.5": {"pretrained": True, "lm_weight": 0.5},
}


def ablation_configs(
    base: FinetuneConfig, learning_rates: dict[str, float] | None = None
) -> dict[str, FinetuneConfig]:
    """Each row of ``ABLATION_ROWS`` as a config: ``base`` with the row's changes, and the
    row's own learning rate where ``learning_rates`` gives one."""
    rates = learning_rates or {}
    return {
        row: dataclasses.replace(base, **changes, learning_rate=rates.get(row, base.learning_rate))
        for row, changes in ABLATION_ROWS.items()
    }


def summarise(results: dict, metric: str = "mcc") -> list[dict]:
    """One row per ablation row: mean and standard deviation over seeds of ``metric``."""
    rows = [
        {
            "row": "majority class",
            "seeds": 0,
            **{f"{name}_mean": results["majority"][name][metric] for name in EVALUATION_SPLITS},
            **{f"{name}_std": 0.0 for name in EVALUATION_SPLITS},
        }
    ]
    for row in ABLATION_ROWS:
        runs = [run for run in results["runs"] if run["row"] == row]
        if not runs:
            continue
        entry: dict = {"row": row, "seeds": len(runs)}
        for name in EVALUATION_SPLITS:
            values = [run[name][metric] for run in runs]
            entry[f"{name}_mean"] = statistics.mean(values)
            entry[f"{name}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(entry)
    return rows


# The paper's Table 5, CoLA column (MCC × 100 on dev): what each ingredient is worth.
PAPER_EFFECTS = {
    "pre-training: (c) − (a)": ("(c) pre-trained, λ = 0.5", "(a) no pre-training, λ = 0.5", 26.5),
    "auxiliary L1: (c) − (b)": ("(c) pre-trained, λ = 0.5", "(b) pre-trained, λ = 0", -2.5),
}


def runs_of(runs: list[dict], row: str) -> list[dict]:
    """The runs of the ablation row whose name starts with ``row`` (e.g. ``"(c)"``)."""
    return [run for run in runs if run["row"].startswith(row)]


def mcc_difference(
    runs: list[dict], baseline: list[dict], split: str = "dev", level: float = 0.95
) -> Difference:
    """Welch's ``level`` interval for the mean MCC on ``split`` of ``runs`` minus ``baseline``'s."""
    return welch_difference(
        [run[split]["mcc"] for run in runs], [run[split]["mcc"] for run in baseline], level
    )


def compare_with_paper(runs: list[dict], split: str = "dev", level: float = 0.95) -> list[dict]:
    """Each effect of ``PAPER_EFFECTS`` in our runs: the difference of the two rows' mean
    MCC over seeds, its standard error and Welch's ``level`` interval, and whether the
    interval decides the sign and the sign agrees with the paper's."""
    comparisons = []
    for effect, (with_it, without_it, paper) in PAPER_EFFECTS.items():
        first, second = runs_of(runs, with_it), runs_of(runs, without_it)
        difference = mcc_difference(first, second, split, level)
        comparisons.append(
            {
                "effect": effect,
                "seeds": (len(first), len(second)),
                "ours": difference.mean,
                "standard_error": difference.standard_error,
                "low": difference.low,
                "high": difference.high,
                "paper": paper / 100,
                "same_sign": bool(np.sign(difference.mean) == np.sign(paper)),
                "decided": difference.excludes_zero,
            }
        )
    return comparisons
