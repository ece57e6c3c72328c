"""The paper's four task types through one abstraction (``Task``), end to end on made-up
data: transformation, batches, the head that combines the sequences, L3, the scores."""

import keras
import numpy as np
import pytest

from gpt_lesson.config import GPTConfig
from gpt_lesson.gpt1.causal_lm import build_gpt
from gpt_lesson.gpt1.classifier import build_classifier, extend_checkpoint
from gpt_lesson.gpt1.presets import Checkpoint
from gpt_lesson.tasks.batches import classification_dataset, encode
from gpt_lesson.tasks.fine_tuning import FinetuneConfig, evaluate, finetune, predict_probabilities
from gpt_lesson.tasks.transformations import SPECIAL, TASKS, Task
from gpt_lesson.tokenizer.vocabulary import Vocabulary

TINY = GPTConfig(
    vocab_size=9, sequence_length=16, hidden_dim=8, num_layers=1, num_heads=2,
    intermediate_dim=16, normalize_first=True,
)  # fmt: skip
WORDS = (3, 7, 11, 20, 30, 40)


@pytest.fixture(scope="module")
def checkpoint() -> Checkpoint:
    keras.utils.set_random_seed(0)
    vocabulary = Vocabulary((*WORDS, SPECIAL.pad, SPECIAL.start, SPECIAL.extract))
    extended, _ = extend_checkpoint(Checkpoint(build_gpt(TINY), TINY, vocabulary), [], seed=0)
    return extended


def ids_of(checkpoint: Checkpoint):
    pad, extract = (int(i) for i in checkpoint.to_model_ids([SPECIAL.pad, SPECIAL.extract]))
    return pad, extract


def made_up(task: str, count: int = 64) -> tuple[list, list[int]]:
    """Examples whose label is decided by one token: entailment and similarity by whether
    the last tokens of the two texts agree, multiple choice by which answer ends in 3."""
    rng = np.random.default_rng(0)
    examples, labels = [], []
    for i in range(count):
        filler = [int(w) for w in rng.choice(WORDS[2:], size=2)]
        if task == "multiple choice":
            right = i % 3
            answers = [[*filler, 3 if k == right else 7] for k in range(3)]
            examples.append(([11, 20], *answers))
            labels.append(right)
        else:
            agree = i % 2
            examples.append(([*filler, 3], [filler[0], 3 if agree else 7]))
            labels.append(agree)
    return examples, labels


def test_every_task_has_a_known_way_to_combine():
    assert set(TASKS) == {"classification", "entailment", "similarity", "multiple choice"}
    with pytest.raises(ValueError, match="combine"):
        Task("ranking", lambda text: [text], "rank")


@pytest.mark.parametrize("task", ["entailment", "similarity", "multiple choice"])
def test_each_task_type_trains_end_to_end(checkpoint, task):
    pad, _ = ids_of(checkpoint)
    examples, labels = made_up(task)
    data = encode(TASKS[task], examples, labels, checkpoint.to_model_ids, pad)
    config = FinetuneConfig(learning_rate=1e-2, batch_size=16, epochs=24, lm_weight=0.5)
    result = finetune(checkpoint, data, data, config)
    first, last = result.curve[0], result.curve[-1]
    assert last["val_l2"] < first["val_l2"] - 0.05  # the training examples, re-scored
    scores = evaluate(result.classifier, data, pad)
    classes = 3 if task == "multiple choice" else 2
    assert np.asarray(scores["confusion"]).shape == (classes, classes)
    assert scores["accuracy"] > 1 / classes


def test_similarity_does_not_depend_on_the_order_of_the_pair(checkpoint):
    pad, extract = ids_of(checkpoint)
    examples, labels = made_up("similarity", count=8)
    swapped = [(second, first) for first, second in examples]
    keras.utils.set_random_seed(1)
    classifier = build_classifier(checkpoint.model, checkpoint.config, extract, combine="sum")
    encoded = [
        encode(TASKS["similarity"], pairs, labels, checkpoint.to_model_ids, pad)
        for pairs in (examples, swapped)
    ]
    probabilities = [predict_probabilities(classifier, e.sequences, pad) for e in encoded]
    np.testing.assert_allclose(probabilities[0], probabilities[1], rtol=1e-6)


def test_multiple_choice_scores_follow_their_answers(checkpoint):
    pad, extract = ids_of(checkpoint)
    context, *answers = made_up("multiple choice", count=1)[0][0]
    keras.utils.set_random_seed(1)
    classifier = build_classifier(checkpoint.model, checkpoint.config, extract, combine="choose")
    task = TASKS["multiple choice"]
    forward = encode(task, [(context, *answers)], [0], checkpoint.to_model_ids, pad)
    backward = encode(task, [(context, *answers[::-1])], [0], checkpoint.to_model_ids, pad)
    scores = [
        classifier(order.sequences[0][None], training=False)["label"][0]
        for order in (forward, backward)
    ]
    np.testing.assert_allclose(np.asarray(scores[0]), np.asarray(scores[1])[::-1], rtol=1e-5)


def test_batches_of_several_sequences_keep_their_layout(checkpoint):
    pad, extract = ids_of(checkpoint)
    examples, labels = made_up("multiple choice", count=4)
    data = encode(TASKS["multiple choice"], examples, labels, checkpoint.to_model_ids, pad)
    ids, targets = next(iter(classification_dataset(data, 4, pad, extract, shuffle=False)))
    assert ids.shape[:2] == (4, 3) and targets["lm"].shape == ids.shape
