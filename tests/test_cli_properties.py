"""Every command, over its whole argument space (hypothesis): exit status 0 with output, or
exit status 2 with one message and no traceback; nothing else.

Flags take numbers at and past every edge (0, ±1, 2**32, huge, NaN, infinities) or no
number at all; text is empty, long, any Unicode, or bytes that are not UTF-8 (as the shell
passes them, surrogate-escaped); paths are a real run folder, a classifier, a file, an
empty folder, or nothing. ``generate`` and ``classify`` run for real on a quick model made
once; ``pretrain`` and ``finetune`` stop where the long work would start (their training is
tested in ``test_cli.py``), so what is checked is everything before it; ``convert`` gets no
Hugging Face checkpoint here (its conversions are tested in ``test_convert.py``).
"""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from gpt_lesson.__main__ import main
from gpt_lesson.config import PRESETS, TRAINING
from gpt_lesson.gpt1.causal_lm import build_gpt
from gpt_lesson.gpt1.presets import save_preset
from gpt_lesson.pretraining import train
from gpt_lesson.tasks import cola
from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

EDGES = [0, 1, -1, 2, 2**31 - 1, 2**32 - 1, 2**32, -(2**63), 2**63, 10**30]
NUMBERS = st.one_of(
    st.sampled_from(EDGES),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.5, 1e-45, 1e-300, 1e39, 1e308, -0.0]),
    st.sampled_from(["", "many", "1e999", "0x10", "½", " 3", "nan", "-inf"]),
).map(str)
PLAIN = st.characters(blacklist_characters="\x00")  # argv cannot hold NUL
TEXT = st.one_of(
    st.text(PLAIN, max_size=30),
    st.just(""),
    st.text(PLAIN, min_size=200, max_size=400),
    st.binary(min_size=1, max_size=12).map(os.fsdecode),  # non-UTF-8 bytes, as argv has them
)
PATHS = st.sampled_from(["lm", "classifier", "file", "empty", "missing"])


def mostly(valid: st.SearchStrategy, wrong: st.SearchStrategy = NUMBERS) -> st.SearchStrategy:
    """A flag left out, given a valid value, or given anything (one time in six), so that
    a whole command line is valid often enough for the commands' work to run too."""
    return st.one_of(st.none(), st.none(), valid.map(str), valid.map(str), valid.map(str), wrong)


def place(preferred: str) -> st.SearchStrategy:
    """The right path half of the time, any path otherwise."""
    return st.one_of(st.just(preferred), PATHS)


SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, str]:
    """A quick language model, a classifier fine-tuned from it for one step, a file and
    an empty folder; "missing" names nothing."""
    root = tmp_path_factory.mktemp("cli")
    lm = root / "lm"
    config = PRESETS["quick"]
    train.save_run_config(lm, config, TRAINING["quick"])
    save_preset(train.with_preprocessor(build_gpt(config), load_gpt2_tokenizer()), lm)
    classifier = root / "classifier"
    code, _, err = outcome(
        ["finetune", "--checkpoint", str(lm), "--max-steps", "1", "--out", str(classifier)]
    )
    assert code == 0, err
    (root / "file").write_text("a sentence\n", encoding="utf-8")
    (root / "empty").mkdir()
    return {name: str(root / name) for name in ("lm", "classifier", "file", "empty", "missing")}


def outcome(argv: list[str]) -> tuple[int, str, str]:
    """Run the command line in this process: (exit status, standard output, error)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(argv)
            code = 0
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def assert_clean(argv: list[str]) -> tuple[int, str, str]:
    code, out, err = outcome(argv)
    event(f"exit status {code}")
    shown = f"{argv!r}\n{err[-2000:]}"
    assert code in (0, 2), shown
    assert "Traceback" not in err, shown
    if code == 2:
        messages = [line for line in err.splitlines() if "error:" in line]
        assert len(messages) == 1, shown
        assert out == "", shown
    else:
        assert out.strip(), shown
    return code, out, err


def flags(**values) -> list[str]:
    """``--name value`` for each value given (None: the flag is left out)."""
    argv = []
    for name, value in values.items():
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", value]
    return argv


@SLOW
@given(
    path=place("lm"),
    prompts=st.lists(st.one_of(*[st.text(PLAIN, max_size=8)] * 3, TEXT), max_size=2),
    sampler=st.sampled_from(["greedy", "top_k", "top_p"] * 3 + ["beam", ""]),
    max_new_tokens=mostly(st.integers(0, 8)),
    k=mostly(st.integers(1, 60)),
    p=mostly(st.floats(0.01, 1.0)),
    temperature=mostly(st.floats(0.05, 5.0)),
    seed=mostly(st.integers(0, 2**32 - 1)),
)
def test_generate(places, path, prompts, sampler, **numbers):
    argv = ["generate", "--checkpoint", places[path], "--sampler", sampler, *flags(**numbers)]
    for prompt in prompts:
        argv += ["--prompt", prompt]
    code, out, _ = assert_clean(argv)
    if code == 0:
        assert path == "lm"
        for prompt in prompts or ["ROMEO:"]:
            assert prompt in out  # every prompt comes back, whole, before its continuation


@SLOW
@given(
    path=place("classifier"),
    sentences=st.lists(st.one_of(*[st.text(PLAIN, max_size=8)] * 3, TEXT), max_size=3),
    file=st.one_of(st.none(), st.none(), st.just("file"), PATHS),
)
@example(path="classifier", sentences=['\U0010f27f\x1d"\nÍ¡\x0cF', ""], file=None)  # found so
def test_classify(places, path, sentences, file):
    argv = ["classify", "--checkpoint", places[path], *sentences]
    argv += flags(file=None if file is None else places[file])
    code, out, _ = assert_clean(argv)
    if code == 0:
        assert path == "classifier"
        lines = out.splitlines()
        assert len(lines) == len(sentences) + (file == "file")  # one line a sentence
        for line in lines:
            label, probability, _ = line.split("\t")
            assert label in ("acceptable", "unacceptable") and 0.5 <= float(probability) <= 1


@settings(max_examples=60, deadline=None)
@given(
    preset=st.sampled_from([*sorted(PRESETS), "huge", ""]),
    out=st.one_of(st.none(), st.just("missing"), PATHS),
    strategy=st.sampled_from(["default", "mirrored", "cluster"]),
    epochs=mostly(st.integers(1, 20)),
    minutes=mostly(st.floats(0.01, 60.0)),
    seed=mostly(st.integers(0, 2**32 - 1)),
)
def test_pretrain_up_to_its_training(places, preset, out, strategy, **numbers):
    argv = ["pretrain", "--preset", preset, "--strategy", strategy]
    argv += flags(out=None if out is None else places[out], **numbers)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train, "load_shakespeare", lambda tokenizer: None)
        patch.setattr(train, "pretrain", lambda config, run, *args, **kw: {"epochs": run.epochs})
        code, printed, _ = assert_clean(argv)
    if code == 0:
        epochs = json.loads(printed)["epochs"]
        assert isinstance(epochs, int) and epochs > 0
        assert out not in ("file", "lm") or Path(places[out]).is_dir()


@settings(max_examples=60, deadline=None)
@given(
    path=place("lm"),
    pretrain_first=st.booleans(),
    lm_weight=mostly(st.floats(0.0, 2.0)),
    learning_rate=mostly(st.floats(1e-6, 1e-2)),
    batch_size=mostly(st.integers(1, 64)),
    epochs=mostly(st.integers(1, 5)),
    seed=mostly(st.integers(0, 2**32 - 1)),
    max_steps=mostly(st.integers(1, 100)),
)
def test_finetune_up_to_its_training(places, path, pretrain_first, **numbers):
    argv = ["finetune", "--checkpoint", places[path], "--out", places["missing"]]
    argv += ["--pretrain-first"] * pretrain_first + flags(**numbers)
    seen = {}

    def run_once(data, config, save_to=None):
        seen["config"] = config
        score = {"mcc": 0.0, "accuracy": 0.5, "confusion": [[1, 1], [1, 1]]}
        return {
            "config": {},
            "steps": 1,
            "minutes": 0.0,
            **dict.fromkeys(cola.EVALUATION_SPLITS, score),
        }

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cola, "prepare_cola", lambda checkpoint, tokenizer: None)
        patch.setattr(cola, "pretrain_if_missing", lambda folder, tokenizer: None)
        patch.setattr(cola, "text_tokenizer", lambda checkpoint: None)
        patch.setattr(cola, "run_once", run_once)
        code, _, _ = assert_clean(argv)
    if code == 0:
        assert path == "lm" or pretrain_first
        config = seen["config"]
        assert config.learning_rate > 0 and config.batch_size > 0 and config.epochs > 0
        assert config.lm_weight >= 0 and 0 <= config.seed < 2**32


@SLOW
@given(
    source=st.one_of(PATHS, TEXT.filter(lambda text: not text.startswith("hf://"))),
    out=st.one_of(PATHS, TEXT),
)
def test_convert_refuses_what_is_not_a_checkpoint(places, source, out):
    argv = ["convert", "--from", places.get(source, source), "--out", places.get(out, out)]
    code, _, _ = assert_clean(argv)
    assert code == 2
    assert not Path(places["missing"]).exists()  # nothing written on the way to the error
