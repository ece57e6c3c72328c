"""The seed's code path: its token stream, framing, model, loss and metric."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from gpt_lesson.config import PRESETS, GPTConfig
from gpt_lesson.data import read_text
from gpt_lesson.seed import blog

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


def test_seed_batches_wrap_63_tokens_in_start_and_end_and_pass_over_the_text_once():
    ids = np.arange(63 * 20 + 7, dtype=np.int32)  # 20 full windows, 7 tokens dropped
    batches = list(blog.seed_batches(*blog.seed_windows(ids)))
    assert [tuple(x.shape) for x, _ in batches] == [(16, 64), (4, 64)]
    inputs = np.concatenate([x.numpy() for x, _ in batches])
    labels = np.concatenate([y.numpy() for _, y in batches])
    assert np.all(inputs[:, 0] == blog.START_ID) and np.all(labels[:, -1] == blog.END_ID)
    np.testing.assert_array_equal(labels[:, :-1], inputs[:, 1:])
    np.testing.assert_array_equal(inputs[:, 1:].ravel(), ids[: 63 * 20])


def test_the_seed_s_special_ids_are_the_tokenizer_s():
    from gpt_lesson.tokenizer.special_tokens import SPECIAL_TOKENS

    ids = {"<|pad|>": blog.PAD_ID, "<|start|>": blog.START_ID, "<|end|>": blog.END_ID}
    assert ids == SPECIAL_TOKENS == {"<|pad|>": 50257, "<|start|>": 50258, "<|end|>": 50259}


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
    fixed = dataclasses.replace(blog.BLOG, mask_hides_id_zero=False)
    for recipe, sees_it in ((blog.BLOG, False), (fixed, True)):
        model = blog.build_blog_model(config, recipe)
        before = model(ids).numpy()[0, 3]
        table = model.get_layer("embedding").token_embedding.embeddings
        shift = np.zeros((50, 16), dtype="float32")
        shift[0] = np.random.default_rng(0).normal(size=16) * 3.0  # move the embedding of "!"
        table.assign(table + shift)
        after = model(ids).numpy()[0, 3]
        # With one layer, position 3 sees the "!" at position 1 only if the mask lets it.
        assert (not np.allclose(before, after, atol=1e-6)) == sees_it


def test_schedules_warm_up_hold_and_decay_as_the_recipe_says():
    constant = blog.learning_rate(blog.BLOG)
    assert constant == 1e-3
    held = blog.learning_rate(blog.Recipe(warmup_steps=10))
    assert [float(held(s)) for s in (0, 5, 10, 50)] == pytest.approx([0, 5e-4, 1e-3, 1e-3])
    paper = blog.learning_rate(
        blog.Recipe(learning_rate=2.5e-4, warmup_steps=10, decay_to_zero_at=30)
    )
    assert [float(paper(s)) for s in (5, 10, 20, 30)] == pytest.approx(
        [1.25e-4, 2.5e-4, 1.25e-4, 0], abs=1e-9
    )


def test_the_paper_s_initialisation_replaces_keras_hub_s_defaults():
    keras.utils.set_random_seed(0)
    default = blog.build_blog_model(ONE_LAYER)
    paper = blog.build_blog_model(ONE_LAYER, dataclasses.replace(blog.BLOG, initializer_range=0.02))
    for name in ("embedding", "decoder_0", "output"):
        kernels = [
            w for w in paper.get_layer(name).weights if "kernel" in w.path or "embeddings" in w.path
        ]
        assert kernels
        for weight in kernels:
            values = weight.numpy()
            if "position" in weight.path:
                continue
            assert values.std() == pytest.approx(0.02, rel=0.25), weight.path
    default_kernel = default.get_layer("output").kernel.numpy()
    assert default_kernel.std() > 0.05  # Glorot uniform for a 16 x 50 kernel: about 0.17


def test_shuffled_batches_follow_their_seed_and_text_order_is_kept_without_one():
    inputs = np.arange(40, dtype=np.int32).reshape(40, 1)

    def first_rows(shuffle_seed):
        batches = blog.seed_dataset(inputs, inputs, batch_size=4, shuffle_seed=shuffle_seed)
        return [int(x[0, 0]) for x, _ in batches.take(20)]  # two epochs of 10 batches

    assert first_rows(None) == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36] * 2
    assert first_rows(1) == first_rows(1)
    assert first_rows(1) != first_rows(2)
    assert first_rows(1)[:10] != first_rows(1)[10:]  # a new order each epoch


def test_predicted_entropy_is_ln_v_for_uniform_and_zero_for_certain_predictions():
    labels = np.array([[1, 2, 3, 9]])
    uniform = np.full((1, 4, 10), 0.1, dtype="float32")
    assert float(blog.predicted_entropy(labels, uniform, pad_id=9)) == pytest.approx(np.log(10))
    certain = np.zeros((1, 4, 10), dtype="float32")
    certain[..., 0] = 50.0
    assert float(blog.predicted_entropy(labels, certain, pad_id=9, from_logits=True)) < 1e-6


def test_train_recipe_logs_every_step_and_probes_the_layers(seed_ids):
    config = GPTConfig(
        sequence_length=64, hidden_dim=16, num_layers=1, num_heads=2, intermediate_dim=16
    )
    windows = blog.frame(seed_ids[:20_000], trim_vocabulary=True)
    _, log, probe = blog.train_recipe(
        blog.BLOG, config, windows, steps=4, jit_compile=False, probe_steps=(0, 3)
    )
    assert len(log.loss) == len(log.accuracy) == len(log.entropy) == 4
    assert log.entropy[0] == pytest.approx(np.log(windows.vocabulary.size), abs=0.05)
    record = probe.record()
    assert record["steps"] == [0, 3]
    assert record["layers"] == ["embedding", "decoder_0", "output"]
    _, again, _ = blog.train_recipe(blog.BLOG, config, windows, steps=4, jit_compile=False)
    assert again.loss == pytest.approx(log.loss, rel=1e-6)  # seeded: the same run twice
