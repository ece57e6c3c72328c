"""Chapter 6's tasks cut from the play, checked on a made-up play whose every line is unique:
what is scored never comes from the pre-training text, the splits share no line, the labels
are balanced as documented, and a task reads back the same for the same seed."""

import numpy as np
import pytest

from gpt_lesson.pretraining.pipeline import split_text
from gpt_lesson.tasks import play_tasks

WORDS = [
    "thou",
    "art",
    "my",
    "lord",
    "and",
    "shall",
    "we",
    "go",
    "to",
    "the",
    "king",
    "with",
    "love",
    "but",
    "not",
    "yet",
]


def made_up_play(speeches: int = 4000, seed: int = 0) -> str:
    """A text in tiny Shakespeare's shape: ``NAME:`` then 1 to 4 lines, blank lines between;
    every line is unique (it carries its number) and starts with a capital."""
    rng = np.random.default_rng(seed)
    blocks, number = [], 0
    for speech in range(speeches):
        lines = []
        for _ in range(rng.integers(1, 5)):
            words = rng.choice(WORDS, rng.integers(4, 9))
            lines.append(f"Line{number} " + " ".join(words) + rng.choice([".", ",", "!", ""]))
            number += 1
        blocks.append(f"SPEAKER{speech % 7}:\n" + "\n".join(lines))
    return "\n\n".join(blocks) + "\n"


@pytest.fixture(scope="module")
def play() -> tuple[str, str]:
    split = split_text(made_up_play())
    return split.train, split.validation


def spoken(text: str) -> str:
    """The text's spoken lines, one after another: speaker names and blank lines left out
    (the tasks' neighbours run across speeches, as in ``play_tasks.chunk_lines``)."""
    lines = [line for line in text.split("\n") if line and not line.endswith(":")]
    return "\n".join(lines) + "\n"


def lines_of(example: play_tasks.Example) -> list[str]:
    return [line for text in example.texts for line in text.split("\n")]


@pytest.mark.parametrize("name", list(play_tasks.READERS))
def test_no_scored_or_labelled_example_comes_from_the_pre_training_text(play, name):
    pretraining, held_out = play
    pretraining_lines = set(pretraining.split("\n"))
    held_out_lines = set(held_out.split("\n"))
    splits = play_tasks.read_task(name, held_out)
    for examples in splits.values():
        for example in examples:
            for line in lines_of(example):
                assert line not in pretraining_lines
                if not (name == "corrupted" and example.label == 0):
                    assert line in held_out_lines  # an uncorrupted line is one of the text's


@pytest.mark.parametrize("name", ["next line", "follows"])
def test_the_splits_share_no_line(play, name):
    splits = play_tasks.read_task(name, play[1])
    seen = {split: {line for e in rows for line in lines_of(e)} for split, rows in splits.items()}
    assert not seen["train"] & seen["test"]
    assert not seen["train"] & seen["validation"]
    assert not seen["validation"] & seen["test"]


def test_the_splits_follow_the_documented_pattern(play):
    chunks = play_tasks.split_turns(play_tasks.turns(play[1]))
    counts = {split: len(rows) for split, rows in chunks.items()}
    total = sum(counts.values())
    pattern = play_tasks.SPLIT_PATTERN
    for split in play_tasks.SPLITS:
        assert abs(counts[split] / total - pattern.count(split) / len(pattern)) < 0.05


@pytest.mark.parametrize(
    ("name", "classes"), [("next line", play_tasks.CHOICES), ("follows", 2), ("corrupted", 2)]
)
def test_labels_are_balanced_as_documented(play, name, classes):
    for examples in play_tasks.read_task(name, play[1]).values():
        counts = np.bincount([e.label for e in examples], minlength=classes)
        assert len(counts) == classes and counts.max() - counts.min() <= 1


def test_next_line_holds_the_true_line_at_its_label(play):
    text = spoken(play[1])
    for example in play_tasks.read_task("next line", play[1])["test"]:
        context, *answers = example.texts
        assert len(answers) == play_tasks.CHOICES
        assert f"{context}\n{answers[example.label]}\n" in text
        assert len(set(answers)) == play_tasks.CHOICES


def test_follows_pairs_are_neighbours_exactly_when_labelled_so(play):
    text = spoken(play[1])
    for example in play_tasks.read_task("follows", play[1])["test"]:
        first, second = example.texts
        assert (f"{first}\n{second}\n" in text) == bool(example.label)


def test_a_corruption_changes_one_thing_and_keeps_the_first_word(play):
    text_lines = set(play[1].split("\n"))
    for example in play_tasks.read_task("corrupted", play[1])["train"]:
        (line,) = example.texts
        assert (line in text_lines) == bool(example.label)
        assert len(line.split()) >= play_tasks.MIN_WORDS - 1  # a deletion removes one word
        assert line.split()[0].startswith("Line")  # the capitalised first word stays


def test_each_kind_of_corruption_is_what_it_says():
    line = "Line0 thou art my lord and king"
    vocabulary = ["go", "love", "King"]
    seen = set()
    for seed in range(30):
        changed = play_tasks.corrupt(line, vocabulary, np.random.default_rng(seed)).split()
        words = line.split()
        if len(changed) == len(words) - 1:
            seen.add("delete")
        elif sorted(changed) == sorted(words):
            seen.add("swap")
            moved = [i for i, (a, b) in enumerate(zip(words, changed, strict=True)) if a != b]
            assert len(moved) == 2 and moved[1] == moved[0] + 1
        else:
            seen.add("replace")
            differs = [b for a, b in zip(words, changed, strict=True) if a != b]
            assert len(differs) == 1 and differs[0] in ("go", "love")  # same case: lower
    assert seen == set(play_tasks.CORRUPTIONS)


@pytest.mark.parametrize("name", list(play_tasks.READERS))
def test_a_task_reads_back_the_same_for_the_same_seed(play, name):
    first = play_tasks.read_task(name, play[1], seed=3)
    assert first == play_tasks.read_task(name, play[1], seed=3)
    assert first != play_tasks.read_task(name, play[1], seed=4)


def test_an_unknown_task_lists_the_known_ones(play):
    with pytest.raises(ValueError, match="next line, follows, corrupted"):
        play_tasks.read_task("speaker", play[1])


@pytest.mark.parametrize("size", [1, 7, 32, 100])
def test_a_labelled_subset_keeps_each_label_s_share(size):
    labels = np.array([0] * 150 + [1] * 50)
    rows = play_tasks.labelled_subset(labels, size, seed=0)
    assert len(rows) == len(set(rows)) == size
    assert abs(np.mean(labels[rows]) - 0.25) <= 0.5 / size + 1e-9
    assert np.array_equal(rows, play_tasks.labelled_subset(labels, size, seed=0))


def test_a_labelled_subset_of_all_or_more_is_everything():
    labels = [0, 1, 1, 0]
    assert list(play_tasks.labelled_subset(labels, None, 0)) == [0, 1, 2, 3]
    assert list(play_tasks.labelled_subset(labels, 9, 0)) == [0, 1, 2, 3]
