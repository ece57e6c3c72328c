"""The command line: it pre-trains the quick preset and generates from what it wrote, and
every mistake of the user's ends in one message and exit status 2."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gpt_lesson.__main__ import main
from gpt_lesson.config import PRESETS, TRAINING
from gpt_lesson.gpt1.causal_lm import build_gpt
from gpt_lesson.gpt1.presets import save_preset
from gpt_lesson.pretraining.train import save_run_config, with_preprocessor
from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer


def run_cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "gpt_lesson", *args], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_pretrain_generate_finetune_and_classify(tmp_path):
    run = tmp_path / "run"
    output = run_cli("pretrain", "--preset", "quick", "--out", str(run), "--epochs", "1")
    summary = json.loads(output[output.index("{") :])
    assert summary["epochs_run"] == 1 and summary["val_bits_per_char"] > 0
    for name in ("config.json", "run.json", "tokenizer.json", "model.weights.h5", "history.csv"):
        assert (run / name).exists(), name

    text = run_cli(
        "generate",
        "--checkpoint",
        str(run),
        "--prompt",
        "ROMEO:",
        "--prompt",
        "日本語 😀, Hello computer",
        "--max-new-tokens",
        "5",
        "--sampler",
        "greedy",
    )
    assert text.startswith("ROMEO:") and len(text.strip()) > len("ROMEO:")
    assert "\n\n日本語 😀, Hello computer" in text  # the second prompt's continuation

    tuned = tmp_path / "cola"
    output = run_cli(
        "finetune", "--task", "cola", "--checkpoint", str(run), "--max-steps", "3",
        "--learning-rate", "1e-3", "--out", str(tuned),
    )  # fmt: skip
    assert "dev                MCC" in output
    summary = json.loads(output[output.index("{\n") :])
    assert summary["steps"] == 3 and -1.0 <= summary["dev"]["mcc"] <= 1.0
    assert sum(map(sum, summary["dev"]["confusion"])) == 527
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("The book was read by Mary.\nBook the Mary.\n", encoding="utf-8")
    lines = run_cli("classify", "--checkpoint", str(tuned), "--file", str(sentences)).splitlines()
    assert [line.split("\t")[2] for line in lines] == [
        "The book was read by Mary.",
        "Book the Mary.",
    ]
    for line in lines:
        label, probability, _ = line.split("\t")
        assert label in ("acceptable", "unacceptable") and 0.5 <= float(probability) <= 1.0


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """An untrained quick model saved as pretrain saves one (no training needed here)."""
    folder = tmp_path_factory.mktemp("run")
    config = PRESETS["quick"]
    save_run_config(folder, config, TRAINING["quick"])
    save_preset(with_preprocessor(build_gpt(config), load_gpt2_tokenizer()), folder)
    return folder


def copy_of(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    return copy


def fails_cleanly(capsys, *args: str) -> str:
    """Runs the command line in this process; it must exit with 2 and one message."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error and error.strip(), error
    return error


def generate_from(folder: Path, *more: str) -> tuple[str, ...]:
    return ("generate", "--checkpoint", str(folder), "--max-new-tokens", "2", *more)


def test_a_missing_run_folder(capsys, tmp_path):
    assert "no such run folder" in fails_cleanly(capsys, *generate_from(tmp_path / "nowhere"))


def test_a_folder_without_config(capsys, tmp_path):
    assert "holds no config.json" in fails_cleanly(capsys, *generate_from(tmp_path))


def test_missing_and_truncated_weights(capsys, run_folder, tmp_path):
    folder = copy_of(run_folder, tmp_path)
    weights = folder / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:1000])
    assert "cannot be read" in fails_cleanly(capsys, *generate_from(folder))
    weights.unlink()
    assert "model.weights.h5 is missing" in fails_cleanly(capsys, *generate_from(folder))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not valid JSON"),
        ('{"model": {}}', "does not describe a GPT1Backbone"),
        ('{"class_name": "GPT1Backbone", "config": {"vocab_size": 10, "width": 3}}',
         "another version"),
        ('{"class_name": "GPT1Backbone", "config": {"vocab_size": 0, "sequence_length": 8,'
         ' "hidden_dim": 8, "num_layers": 1, "num_heads": 2, "intermediate_dim": 8}}',
         "config.json: "),
    ],
)  # fmt: skip
def test_a_config_of_the_wrong_shape(capsys, run_folder, tmp_path, content, expected):
    folder = copy_of(run_folder, tmp_path)
    (folder / "config.json").write_text(content, encoding="utf-8")
    assert expected in fails_cleanly(capsys, *generate_from(folder))


def test_weights_of_another_model(capsys, run_folder, tmp_path, edit_backbone_config):
    folder = copy_of(run_folder, tmp_path)
    edit_backbone_config(folder, lambda config: config.update(hidden_dim=2 * config["hidden_dim"]))
    assert "do not fit together" in fails_cleanly(capsys, *generate_from(folder))


def test_config_and_task_files_that_disagree(capsys, run_folder, tmp_path):
    folder = copy_of(run_folder, tmp_path)
    record = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    record["config"]["dropout"] = 0.5
    (folder / "config.json").write_text(json.dumps(record), encoding="utf-8")
    assert "describe different models" in fails_cleanly(capsys, *generate_from(folder))


@pytest.mark.parametrize("name", ["tokenizer.json", "assets/tokenizer/merges.txt", "task.json"])
def test_a_preset_missing_a_file(capsys, run_folder, tmp_path, name):
    folder = copy_of(run_folder, tmp_path)
    (folder / name).unlink()
    assert f"{name} is missing" in fails_cleanly(capsys, *generate_from(folder))


def test_classify_refuses_a_language_model_and_an_empty_request(capsys, run_folder):
    error = fails_cleanly(capsys, "classify", "--checkpoint", str(run_folder), "A sentence.")
    assert "holds a GPT1CausalLM, not a GPT1Classifier" in error
    assert "Give sentences" in fails_cleanly(capsys, "classify", "--checkpoint", str(run_folder))


def test_errors_come_alone_without_tensorflow_start_up_lines(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gpt_lesson", *generate_from(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"python -m gpt_lesson generate: error: {tmp_path / 'nowhere'}: no such run folder. "
        "Pass a folder written by pretrain or save_preset (it holds config.json and "
        "model.weights.h5)."
    ]


def test_a_prompt_longer_than_the_context(capsys, run_folder):
    prompt = " ".join(["the"] * (PRESETS["quick"].sequence_length + 1))
    error = fails_cleanly(capsys, *generate_from(run_folder, "--prompt", prompt))
    assert "context" in error


def test_bad_flags_are_refused_by_argparse(capsys, run_folder):
    assert "invalid int value" in fails_cleanly(capsys, *generate_from(run_folder, "--k", "many"))
    assert "invalid choice" in fails_cleanly(capsys, "finetune", "--task", "mnli")


def test_help_shows_the_examples_line_by_line():
    text = subprocess.run(
        [sys.executable, "-m", "gpt_lesson", "--help"], capture_output=True, text=True
    ).stdout
    assert "\n  python -m gpt_lesson pretrain --preset lesson --out runs/lesson\n" in text


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            ("--sampler", "top_k", "--temperature", "0"),
            "temperature must be a finite number above 0 that float32 holds",
        ),
        (("--sampler", "top_k", "--temperature", "nan"), "got nan"),
        (("--sampler", "top_p", "--temperature", "-1"), "got -1.0"),
        (
            ("--sampler", "top_k", "--k", "0"),
            "k must be a whole number from 1 (the likeliest k ids), got 0",
        ),
        (("--sampler", "top_k", "--k", "-3"), "got -3"),
        (("--sampler", "top_p", "--p", "0"), "p must be in (0, 1]"),
        (("--sampler", "top_p", "--p", "1.5"), "got 1.5"),
        (("--max-new-tokens", "-1"), "--max-new-tokens must be 0 or more, got -1"),
    ],
)
def test_sampler_settings_out_of_range_are_refused_before_loading(
    capsys, tmp_path, flags, expected
):
    # The folder does not exist: the settings are checked before any model is loaded.
    args = ("generate", "--checkpoint", str(tmp_path / "nowhere"), *flags)
    assert expected in fails_cleanly(capsys, *args)


def test_no_new_tokens_gives_the_prompt_unchanged(capsys, run_folder):
    main([*generate_from(run_folder, "--prompt", "ROMEO: hello")[:3], "--max-new-tokens", "0",
          "--prompt", "ROMEO: hello"])  # fmt: skip
    assert capsys.readouterr().out == "ROMEO: hello\n"


def test_the_default_length_fits_a_short_context(capsys, run_folder):
    # The quick preset's context is 32 tokens, less than the default of 100 new tokens.
    main(["generate", "--checkpoint", str(run_folder), "--sampler", "greedy"])
    assert capsys.readouterr().out.startswith("ROMEO:")


def test_the_api_refuses_a_prompt_it_would_have_to_cut(run_folder):
    from gpt_lesson.gpt1.presets import load_checkpoint

    model = load_checkpoint(run_folder).model
    with pytest.raises(ValueError, match="does not fit max_length=24"):
        model.generate(["日本語のテキスト 🤖 " * 3, "ROMEO:"], max_length=24)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (("--learning-rate", "0"), "--learning-rate must be more than 0, got 0.0"),
        (("--batch-size", "-2"), "--batch-size must be more than 0, got -2"),
        (("--epochs", "0"), "--epochs must be more than 0"),
        (("--max-steps", "0"), "--max-steps must be more than 0"),
        (("--lm-weight", "nan"), "--lm-weight (λ) must be 0 or more, got nan"),
    ],
)
def test_finetune_settings_out_of_range_are_refused(capsys, tmp_path, flags, expected):
    args = ("finetune", "--checkpoint", str(tmp_path / "nowhere"), *flags)
    assert expected in fails_cleanly(capsys, *args)


def test_finetune_on_a_missing_folder_stops_instead_of_pre_training(capsys, tmp_path):
    error = fails_cleanly(capsys, "finetune", "--checkpoint", str(tmp_path / "typo"))
    assert "typo: no such run folder" in error
    assert not (tmp_path / "typo").exists()  # nothing was pre-trained there


def test_classify_on_a_missing_folder_names_what_it_should_hold(capsys, tmp_path):
    error = fails_cleanly(capsys, "classify", "--checkpoint", str(tmp_path / "nope"), "A b.")
    assert "nope: no such folder" in error and "finetune --out FOLDER" in error
    assert "GPT1CausalLM" not in error


def test_the_api_checks_its_sampler_against_the_vocabulary(run_folder):
    import keras_hub

    from gpt_lesson.gpt1.presets import load_checkpoint
    from gpt_lesson.pretraining.generate import generate_texts

    checkpoint = load_checkpoint(run_folder)
    vocabulary = checkpoint.config.vocab_size
    too_many = keras_hub.samplers.TopKSampler(k=vocabulary + 1)
    with pytest.raises(ValueError, match=f"k must be a whole number from 1 to the vocabulary's "
                       f"{vocabulary} .*got {vocabulary + 1}"):  # fmt: skip
        generate_texts(checkpoint, "ROMEO:", max_new_tokens=2, sampler=too_many)
    checkpoint.model.compile(sampler=keras_hub.samplers.TopPSampler(p=0.9, temperature=1e39))
    with pytest.raises(ValueError, match="temperature must be a finite number above 0"):
        checkpoint.model.generate("ROMEO:", max_length=8)
    fine = keras_hub.samplers.TopPSampler(p=0.9)  # its k is None: no limit
    assert generate_texts(checkpoint, "ROMEO:", 2, sampler=fine, seed=0)[0].startswith("ROMEO:")


def test_finetune_refuses_a_classifier_folder_and_names_what_it_needs(capsys, run_folder):
    classifier = run_folder.parent / "classifier"
    shutil.copytree(run_folder, classifier)
    task = json.loads((classifier / "task.json").read_text(encoding="utf-8"))
    (classifier / "task.json").write_text(
        json.dumps({**task, "class_name": "GPT1Classifier"}), encoding="utf-8"
    )
    error = fails_cleanly(capsys, "finetune", "--checkpoint", str(classifier))
    assert "holds a GPT1Classifier, not a GPT1CausalLM" in error
    assert "python -m gpt_lesson pretrain --out FOLDER" in error


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "is a folder; give a text file"),
        (b"ok\n\xff\xfe\n", "is not UTF-8 text (byte 3: invalid start byte); save it as UTF-8"),
    ],
)
def test_classify_names_a_file_it_cannot_read(capsys, tmp_path, content, expected):
    path = tmp_path / "sentences"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    error = fails_cleanly(capsys, "classify", "--file", str(path))
    assert f"--file {path} {expected}" in error


def test_text_that_is_not_utf8_and_seeds_past_32_bits_are_refused(capsys, run_folder):
    undecodable = os.fsdecode(b"ROMEO \xff")  # what Python makes of such bytes in argv
    error = fails_cleanly(capsys, *generate_from(run_folder, "--prompt", undecodable))
    assert "--prompt 1 is not UTF-8 text (character 6 is an undecodable byte)" in error
    error = fails_cleanly(capsys, *generate_from(run_folder, "--seed", str(2**32)))
    assert f"--seed must be a whole number from 0 to {2**32 - 1}, got {2**32}" in error
    assert "--epochs must be more than 0" in fails_cleanly(capsys, "pretrain", "--epochs", "0")
