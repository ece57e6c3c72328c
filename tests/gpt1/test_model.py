"""GPT-1 from KerasHub layers: shapes, causality, parameter count, save/load, learning."""

import dataclasses

import keras
import numpy as np
import pytest

from gpt_lesson._keras_hub import block_parts
from gpt_lesson.config import PAPER_VOCAB_SIZE, PRESETS, GPTConfig, get_preset, parameter_count
from gpt_lesson.gpt1.causal_lm import build_gpt
from gpt_lesson.pretraining.objectives import masked_lm_loss

TINY = dataclasses.replace(PRESETS["quick"], vocab_size=61, sequence_length=16, dropout=0.0)


@pytest.fixture(params=[False, True], ids=["post-LN", "pre-LN"])
def tiny(request) -> tuple[GPTConfig, keras.Model]:
    keras.utils.set_random_seed(0)
    config = dataclasses.replace(TINY, normalize_first=request.param)
    return config, build_gpt(config)


@pytest.mark.parametrize("name", [n for n in PRESETS if n != "gpt1"])
def test_every_small_preset_matches_the_parameter_formula(name):
    config = get_preset(name)
    assert build_gpt(config).count_params() == parameter_count(config)


def test_the_paper_model_has_117m_parameters():
    config = dataclasses.replace(get_preset("gpt1"), vocab_size=PAPER_VOCAB_SIZE)
    assert parameter_count(config) == 116_534_784
    assert build_gpt(config).count_params() == 116_534_784


def test_logits_have_one_row_per_position_and_token(tiny):
    config, model = tiny
    ids = np.random.default_rng(0).integers(0, config.vocab_size, (3, 11)).astype("int32")
    assert tuple(model(ids).shape) == (3, 11, config.vocab_size)


@pytest.mark.parametrize("t", [0, 7, 15])
def test_changing_token_t_changes_no_logit_before_t(tiny, t):
    config, model = tiny
    ids = np.random.default_rng(1).integers(0, config.vocab_size, (1, 16)).astype("int32")
    changed = ids.copy()
    changed[0, t] = (ids[0, t] + 1) % config.vocab_size
    before, after = np.asarray(model(ids)), np.asarray(model(changed))
    np.testing.assert_allclose(before[:, :t], after[:, :t], atol=1e-6)
    assert np.abs(before[:, t] - after[:, t]).max() > 1e-4


def test_weights_round_trip_gives_equal_logits(tiny, tmp_path):
    config, model = tiny
    ids = np.arange(16, dtype="int32")[None] % config.vocab_size
    model.save_weights(tmp_path / "model.weights.h5")
    keras.utils.set_random_seed(123)  # a differently initialised twin
    twin = build_gpt(config)
    assert not np.allclose(np.asarray(twin(ids)), np.asarray(model(ids)))
    twin.load_weights(tmp_path / "model.weights.h5")
    np.testing.assert_array_equal(np.asarray(twin(ids)), np.asarray(model(ids)))


def test_initial_weights_are_normal_with_std_002():
    keras.utils.set_random_seed(0)
    model = build_gpt(TINY)
    kernel = block_parts(model.backbone.transformer_layers[0]).feedforward_in.kernel
    assert abs(float(np.std(np.asarray(kernel))) - 0.02) < 0.003


def test_a_tiny_model_overfits_one_batch(tiny):
    config, model = tiny
    ids = np.random.default_rng(2).integers(0, config.vocab_size, (4, 17)).astype("int32")
    inputs, labels = ids[:, :-1], ids[:, 1:]
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=lambda y, z: masked_lm_loss(y, z, pad_id=-1),
    )
    history = model.fit(inputs, labels, epochs=150, batch_size=4, verbose=0)
    assert history.history["loss"][0] > 3.5  # about ln 61 = 4.11 at the start
    assert history.history["loss"][-1] < 0.05


@pytest.mark.parametrize(
    "change, message",
    [
        ({"num_heads": 3}, "divisible by num_heads"),
        ({"dropout": -0.1}, "dropout"),
        ({"num_layers": 0}, "num_layers"),
    ],
)
def test_impossible_configs_say_what_to_change(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(TINY, **change)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="known presets: blog, gpt1"):
        get_preset("gpt5")
