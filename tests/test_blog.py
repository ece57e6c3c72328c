"""The seed's code path: its token stream, framing, model, loss and metric."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gpt_lesson import blog
from gpt_lesson.config import PRESETS, GPTConfig
from gpt_lesson.data import read_text

ONE_LAYER = GPTConfig(
    vocab_size=50,
    sequence_length=8,
    hidden_dim=16,
    num_layers=1,
    num_heads=2,
    intermediate_dim=16,
    dropout=0.0,
)


@pytest.fixture(scope="module")
def seed_ids() -> np.ndarray:
    return blog.seed_token_ids(read_text("shakespeare"))


def test_seed_pieces_split_the_space_off_every_word():
    assert blog.seed_pieces("First Citizen: we 'tis  so") == [
        "First",
        " ",
        "Citizen",
        ":",
        " ",
        "we",
        " ",
        "'",
        "tis",
        " ",
        " ",
        "so",
    ]


def test_seed_stream_reproduces_the_blog_s_printed_window(seed_ids):
    assert len(seed_ids) == 543_569  # GPT-2's own tokenization gives 338,025
    inputs, labels = blog.seed_windows(seed_ids)
    assert inputs[0, :3].tolist() == [50258, 5962, 220]  # as the blog printed its batch
    assert inputs[0, -3:].tolist() == [14813, 220, 1462]
    assert labels[0, -1] == blog.END_ID
    assert np.mean(labels == 220) == pytest.approx(0.3077, abs=1e-4)


def test_windows_without_end_token_hold_64_text_tokens(seed_ids):
    inputs, labels = blog.seed_windows(seed_ids[:1000], blog.Recipe(end_token=False))
    assert inputs.shape == labels.shape == (1000 // 64, 64)
    assert (labels[:, :-1] == inputs[:, 1:]).all()
    assert labels[0, -1] == seed_ids[63]


def test_blog_model_has_the_seed_s_shape_and_parameter_count():
    model = blog.build_blog_model(PRESETS["blog"])
    embedding = (50_260 + 64) * 512
    block = 4 * (512 * 512 + 512) + (512 * 1024 + 1024 + 1024 * 512 + 512) + 2 * 2 * 512
    output = 512 * 50_260 + 50_260
    assert model.count_params() == embedding + 12 * block + output
    assert model.output.shape == (None, None, 50_260)


def test_softmax_and_logit_outputs_agree_on_the_loss():
    config = ONE_LAYER
    ids = np.random.default_rng(0).integers(0, 49, size=(2, 8))
    labels = np.roll(ids, -1, axis=1)
    logits_recipe = dataclasses.replace(blog.BLOG, softmax_output=False)
    logits_model = blog.build_blog_model(config, logits_recipe)
    softmax_model = blog.build_blog_model(config, blog.BLOG)
    softmax_model.set_weights(logits_model.get_weights())
    from_logits = blog.make_masked_loss(49, from_logits=True)(labels, logits_model(ids))
    from_probs = blog.make_masked_loss(49, from_logits=False)(labels, softmax_model(ids))
    assert float(from_logits) == pytest.approx(float(from_probs), rel=1e-5)


def test_the_seed_mask_hides_exclamation_marks_and_the_fixed_one_does_not():
    config = ONE_LAYER
    ids = np.array([[5, 0, 7, 8]])
    for recipe, sees_it in ((blog.BLOG, False), (blog.FIXED, True)):
        model = blog.build_blog_model(config, recipe)
        before = model(ids).numpy()[0, 3]
        table = model.get_layer("embedding").token_embedding.embeddings
        shift = np.zeros((50, 16), dtype="float32")
        shift[0] = np.random.default_rng(0).normal(size=16) * 3.0  # move the embedding of "!"
        table.assign(table + shift)
        after = model(ids).numpy()[0, 3]
        # With one layer, position 3 sees the "!" at position 1 only if the mask lets it.
        assert (not np.allclose(before, after, atol=1e-6)) == sees_it


def test_run_recipe_trains_reuses_its_cache_and_cuts_longer_runs(seed_ids, tmp_path):
    config = GPTConfig(
        sequence_length=64, hidden_dim=16, num_layers=1, num_heads=2, intermediate_dim=16
    )

    def run(steps: int, cache=tmp_path) -> blog.Curves:
        return blog.run_recipe(
            "tiny",
            blog.FIXED,
            config,
            seed_ids[:20_000],
            steps=steps,
            trim_vocabulary=True,
            cache=cache,
            jit_compile=False,
        )

    first = run(4)
    assert len(first.loss) == len(first.accuracy) == 4
    assert run(4) == first
    cut = run(2)  # read from the 4-step run, not trained again
    assert cut.loss == first.loss[:2] and cut.accuracy == first.accuracy[:2]
    assert len(list(tmp_path.iterdir())) == 1
    fresh = run(2, cache=None)  # and the cut is what a 2-step run gives
    assert fresh.loss == pytest.approx(cut.loss, rel=1e-6)
