"""A trained model is a KerasHub preset: it round-trips, generates for batches of any text,
and a failed save leaves the folder as it was."""

import dataclasses
import json
import shutil
from pathlib import Path

import keras
import keras_hub
import numpy as np
import pytest

from gpt_lesson.config import PRESETS
from gpt_lesson.gpt1.causal_lm import GPT1CausalLM, build_gpt
from gpt_lesson.gpt1.presets import CheckpointError, load_checkpoint, save_preset
from gpt_lesson.pretraining.generate import generate, generate_texts
from gpt_lesson.pretraining.train import with_preprocessor
from gpt_lesson.tokenizer.gpt2 import spellable

PROMPTS = ["ROMEO:", "日本語のテキスト", "emoji 😀👍🏽", "Hello, computer", ""]


@pytest.fixture(scope="module")
def trimmed(tokenizer):
    """GPT-2's tokenizer trimmed to a few words' tokens, plus bytes and merge ancestors."""
    used = tokenizer.encode("ROMEO: But soft, what light through yonder window breaks?")
    vocabulary = spellable(tokenizer, [*used, tokenizer.pad_id, tokenizer.start_id])
    return tokenizer.trimmed(vocabulary), vocabulary


@pytest.fixture(scope="module")
def preset(tmp_path_factory, trimmed):
    small, vocabulary = trimmed
    # A wide initialisation, so that greedy choices vary and a wrong cache would show.
    config = dataclasses.replace(
        PRESETS["quick"], vocab_size=small.vocab_size, initializer_range=0.5
    )
    keras.utils.set_random_seed(0)
    model = with_preprocessor(build_gpt(config), small)
    folder = tmp_path_factory.mktemp("preset")
    save_preset(model, folder)
    return folder, model


def test_from_preset_round_trips_config_weights_and_tokenizer(preset, trimmed):
    folder, model = preset
    loaded = GPT1CausalLM.from_preset(str(folder))
    assert loaded.backbone.gpt_config == model.backbone.gpt_config
    ids = np.random.default_rng(0).integers(0, model.backbone.gpt_config.vocab_size, (2, 16))
    np.testing.assert_array_equal(loaded(ids), model(ids))
    text = "ROMEO: 日本 and emoji 😀"
    assert loaded.preprocessor.tokenizer.encode(text) == trimmed[0].encode(text)
    assert load_checkpoint(folder).vocabulary == trimmed[1]


def test_the_trimmed_tokenizer_holds_the_gpt2_ids_so_the_preset_stores_them_once(preset, trimmed):
    folder, _ = preset
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    assert tokenizer["config"]["gpt2_ids"] == list(trimmed[1].gpt2_ids)
    assert not (folder / "gpt2_ids.json").exists()
    assert GPT1CausalLM.from_preset(str(folder)).preprocessor.tokenizer.kept == trimmed[1]


def test_a_batch_of_any_prompts_generates(preset):
    texts = generate_texts(load_checkpoint(preset[0]), PROMPTS, max_new_tokens=6)
    assert len(texts) == len(PROMPTS)
    for prompt, text in zip(PROMPTS, texts, strict=True):
        assert text.startswith(prompt) and len(text) > len(prompt)


def test_keras_hub_generate_continues_as_the_package_loop_does(preset):
    folder, model = preset
    checkpoint = load_checkpoint(folder)
    tokenizer = checkpoint.tokenizer
    for prompt in ("ROMEO:", "emoji 😀👍🏽"):
        ids = tokenizer.encode(prompt)
        expected = generate(model, checkpoint.config, ids, 8, sampler="greedy")
        (text,) = generate_texts(checkpoint, [prompt], 8, sampler="greedy", stop_at_end=False)
        assert text == tokenizer.decode(expected)


def test_generation_stops_at_the_end_token(preset):
    checkpoint = load_checkpoint(preset[0])
    tokenizer, model = checkpoint.tokenizer, checkpoint.model
    ids = tokenizer.encode("ROMEO:")
    continuation = generate(model, checkpoint.config, ids, 8)[len(ids) :]
    # Stop at greedy decoding's third new token: the text ends with its first occurrence.
    stop = continuation[2]
    model.compile(sampler="greedy", weighted_metrics=None)
    stopped = model.generate(["ROMEO:"], max_length=len(ids) + 8, stop_token_ids=[stop])
    first = continuation.index(stop)
    assert stopped[0] == tokenizer.decode(ids + continuation[: first + 1])


def test_a_max_length_past_the_context_is_refused(preset):
    model = load_checkpoint(preset[0]).model
    with pytest.raises(ValueError, match="more than the model's context of sequence_length=32"):
        model.generate(["ROMEO:"], max_length=33)


def test_every_keras_hub_sampler_runs(preset):
    checkpoint = load_checkpoint(preset[0])
    for sampler in ("greedy", "top_k", "top_p", "random", keras_hub.samplers.BeamSampler()):
        (text,) = generate_texts(checkpoint, ["ROMEO:"], 4, sampler=sampler, seed=1)
        assert text.startswith("ROMEO:")


def test_a_failed_save_leaves_the_preset_as_it_was(preset, tmp_path, monkeypatch):
    folder, model = preset
    target = tmp_path / "run"
    save_preset(model, target)
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}

    def fail_halfway(self, preset_dir, **kwargs):
        (Path(preset_dir) / "config.json").write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(GPT1CausalLM, "save_to_preset", fail_halfway)
    with pytest.raises(OSError, match="disk full"):
        save_preset(model, target)
    after = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging folder left


def test_gpt2_ids_of_another_run_are_refused(tmp_path):
    """In a preset saved before the tokenizer held its ids (``gpt2_ids.json`` beside it)."""
    folder = tmp_path / "copy"
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "presets" / "causal_lm", folder)
    (folder / "gpt2_ids.json").write_text("[1, 2, 3]")
    with pytest.raises(CheckpointError, match="from different runs"):
        load_checkpoint(folder)
