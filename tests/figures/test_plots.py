"""The book's figures show what their captions say: checked through the figures' data."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from gpt_lesson.figures import plots
from gpt_lesson.seed.diagnostics import OneBatchFit, RangeTest, TokenShares


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("size", [1, 5, 12, 40])
def test_causal_mask_allows_exactly_the_keys_up_to_the_query(size):
    figure = plots.plot_causal_mask(size)
    axes = figure.axes[0]
    shown = np.asarray(axes.images[0].get_array()).astype(bool)
    assert shown.shape == (size, size)
    # Row i (query) may look at column j (key) exactly when j <= i: lower-triangular.
    i, j = np.indices((size, size))
    np.testing.assert_array_equal(shown, j <= i)
    assert shown.diagonal().all()  # every position attends to itself
    assert shown[0].sum() == 1  # position 0 sees only itself


def test_causal_mask_labels_its_axes_and_cells():
    axes = plots.plot_causal_mask(4).axes[0]
    assert "query" in axes.get_ylabel() and "key" in axes.get_xlabel()
    assert [t.get_text() for t in axes.get_xticklabels()] == ["0", "1", "2", "3"]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["0", "1", "2", "3"]
    assert "k = 4" in axes.get_title()
    cells = [t.get_text() for t in axes.texts]  # row by row
    assert cells[:4] == ["0", "−∞", "−∞", "−∞"]
    assert cells.count("0") == 10 and cells.count("−∞") == 6


def test_causal_mask_refuses_an_empty_context():
    with pytest.raises(ValueError, match="at least 1"):
        plots.plot_causal_mask(0)


def _causal_weights(size: int, seed: int = 0) -> np.ndarray:
    scores = np.random.default_rng(seed).normal(size=(size, size))
    scores[np.triu_indices(size, 1)] = -np.inf
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def test_attention_heatmap_shows_the_weights_with_token_labels():
    tokens = ["Before", " we", " proceed", ","]
    weights = _causal_weights(len(tokens))
    figure = plots.plot_attention(weights, tokens, title="block 0, head 0")
    axes = figure.axes[0]
    np.testing.assert_array_equal(np.asarray(axes.images[0].get_array()), weights)
    assert [t.get_text() for t in axes.get_xticklabels()] == tokens
    assert [t.get_text() for t in axes.get_yticklabels()] == tokens
    assert axes.get_title() == "block 0, head 0"
    assert "query" in axes.get_ylabel() and "key" in axes.get_xlabel()
    assert len(figure.axes) == 2  # the heatmap and its colour bar
    assert "attention weight" in figure.axes[1].get_ylabel()
    # One annotation per cell, row by row, with the weight to two decimals.
    assert [t.get_text() for t in axes.texts] == [f"{w:.2f}" for w in weights.ravel()]


def test_attention_heatmap_of_a_long_sequence_is_not_annotated():
    tokens = [f"t{i}" for i in range(20)]
    axes = plots.plot_attention(_causal_weights(20), tokens).axes[0]
    assert len(axes.texts) == 0
    assert axes.get_title() == "Attention weights"


@pytest.mark.parametrize(
    ("weights", "tokens"),
    [(np.ones((2, 3)), ["a", "b"]), (np.eye(3), ["a", "b"]), (np.ones(3), ["a", "b", "c"])],
)
def test_attention_heatmap_refuses_mismatched_inputs(weights, tokens):
    with pytest.raises(ValueError):
        plots.plot_attention(weights, tokens)


def test_learning_rate_plot_draws_the_schedule_at_every_step():
    def schedule(step):
        return min(step, 10) / 10

    figure = plots.plot_learning_rate(schedule, total_steps=20)
    line = figure.axes[0].lines[0]
    np.testing.assert_array_equal(line.get_xdata(), np.arange(21))
    np.testing.assert_allclose(line.get_ydata(), [min(s, 10) / 10 for s in range(21)])


def test_training_curves_show_every_step_the_history_and_the_references():
    history = {"epoch": np.array([0.0, 1.0]), "val_loss": np.array([5.6, 5.1])}
    history |= {"minutes": np.array([4.0, 8.0]), "val_bits_per_char": np.array([2.6, 2.4])}
    steps = {"step": np.arange(1, 61), "loss": np.linspace(7.0, 4.0, 60)}
    figure = plots.plot_training_curves(
        history, steps, {"target": (0.0, 2.3), "ref": (2.0, 2.7)}, window=10
    )
    loss_axes, bits_axes = figure.axes
    every, smoothed, validation = loss_axes.lines
    np.testing.assert_array_equal(every.get_xdata(), steps["step"])
    assert len(smoothed.get_xdata()) == 51 and smoothed.get_xdata()[0] == 10
    np.testing.assert_allclose(smoothed.get_ydata()[0], steps["loss"][:10].mean())
    np.testing.assert_array_equal(validation.get_xdata(), [30, 60])  # each epoch's last step
    np.testing.assert_array_equal(validation.get_ydata(), [5.6, 5.1])
    np.testing.assert_array_equal(bits_axes.lines[0].get_xdata(), [4.0, 8.0])
    np.testing.assert_array_equal(bits_axes.lines[0].get_ydata(), [2.6, 2.4])
    levels = {line.get_ydata()[0] for line in bits_axes.lines[1:]}
    assert {2.3, 2.7} <= levels


def test_recipe_curves_draw_loss_accuracy_and_entropy_against_the_plateau():
    run = {
        "loss": [8.0 - 0.1 * i for i in range(40)],
        "accuracy": [0.3] * 40,
        "entropy": [5.0] * 40,
    }
    figure = plots.plot_recipe_curves({"a": [run, run]}, label_entropy=4.8, majority_share=0.31)
    loss, accuracy, entropy = figure.axes
    assert [line.get_label() for line in loss.lines] == ["a", "label entropy"]
    assert accuracy.lines[-1].get_ydata()[0] == 0.31 and entropy.lines[-1].get_ydata()[0] == 4.8
    steps = loss.lines[0].get_xdata()
    assert steps[0] == 20 and len(steps) == 21  # 20-step means end at steps 20..40


def test_layer_heatmaps_share_one_colour_scale_and_label_every_layer():
    probe = {"steps": [0, 5], "layers": ["embedding", "output"]}
    probes = {
        "small": {**probe, "gradient_norm": [[1e-3, 1e-2], [1e-4, 1e-1]]},
        "large": {**probe, "gradient_norm": [[1.0, 10.0], [1.0, 10.0]]},
    }
    figure = plots.plot_layer_heatmaps(probes, "gradient_norm", "gradient norm")
    images = [axes.images[0] for axes in figure.axes if axes.images]
    assert len(images) == 2
    assert all(image.get_clim() == (-4.0, 1.0) for image in images)
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["embedding", "output"]


def test_effects_are_ranked_with_a_dot_per_seed():
    figure = plots.plot_effects({"small": [0.1, 0.3], "none": [-0.1], "large": [1.0, 2.0]}, "x")
    (axes,) = figure.axes
    assert [t.get_text() for t in axes.get_yticklabels()] == ["none", "small", "large"]
    assert [bar.get_width() for bar in axes.patches] == pytest.approx([-0.1, 0.2, 1.5])
    assert sum(len(line.get_xdata()) for line in axes.lines if line.get_marker() == "o") == 5


def test_step0_gradients_draw_each_block_of_both_layouts_and_their_ratio_beside_sqrt_l():
    layers = ["embedding", "decoder_0", "decoder_1", "decoder_2", "output"]
    post = {"layers": layers, "gradient_norm": [[9.0, 1.0, 2.0, 4.0, 9.0]]}
    pre = {"layers": [*layers[:-1], "final_layer_norm", "output"]}
    pre["gradient_norm"] = [[9.0, 1.0, 1.0, 1.0, 5.0, 9.0]]
    np.testing.assert_array_equal(plots.block_gradients(pre), [1.0, 1.0, 1.0])
    figure = plots.plot_step0_gradients({"w": (post, pre)}, prediction=np.sqrt(3))
    norms, ratios = figure.axes
    np.testing.assert_array_equal(norms.lines[0].get_ydata(), [1.0, 2.0, 4.0])
    np.testing.assert_array_equal(norms.lines[1].get_ydata(), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(ratios.lines[0].get_ydata(), [1.0, 2.0, 4.0])
    assert ratios.lines[-1].get_ydata()[0] == pytest.approx(np.sqrt(3))


def test_probe_lines_draw_step_0_at_a_half_on_log_scales_with_marks():
    figure = plots.plot_probe_lines(
        {"a": ([0, 1, 10], [1e-2, 1e-3, 1e-4]), "b": ([0, 5], [1.0, 2.0])}, "y", marks={"b": 5}
    )
    (axes,) = figure.axes
    assert axes.get_xscale() == "log" and axes.get_yscale() == "log"
    np.testing.assert_array_equal(axes.lines[0].get_xdata(), [0.5, 1.0, 10.0])
    mark = axes.lines[-1]
    assert list(mark.get_xdata()) == [5, 5] and mark.get_color() == "C1"


def test_held_out_curves_draw_the_seeds_mean_against_the_plateau_and_the_majority_share():
    def run(shift):
        return {
            "evaluation": {
                "steps": [0, 10, 20],
                "loss": [8.0 + shift, 6.0 + shift, 5.0 + shift],
                "accuracy": [0.0, 0.3, 0.3],
                "predicts_majority": [0.0, 1.0, 1.0],
            }
        }

    figure = plots.plot_held_out_curves({"a": [run(0.0), run(1.0)], "b": []}, 5.0, 0.29)
    loss, accuracy, _ = figure.axes
    np.testing.assert_array_equal(loss.lines[0].get_xdata(), [0, 10, 20])
    np.testing.assert_allclose(loss.lines[0].get_ydata(), [8.5, 6.5, 5.5])
    assert loss.lines[-1].get_ydata()[0] == 5.0 and accuracy.lines[-1].get_ydata()[0] == 0.29
    assert [line.get_label() for line in loss.lines] == ["a", "plateau"]


def test_generation_speed_draws_both_paths_against_the_new_tokens():
    rows = [
        {"new tokens": 64, "cached tokens/s": 200.0, "uncached tokens/s": 60.0},
        {"new tokens": 256, "cached tokens/s": 180.0, "uncached tokens/s": 20.0},
    ]
    (axes,) = plots.plot_generation_speed(rows).axes
    cached, uncached = axes.lines
    assert list(cached.get_xdata()) == [64, 256] and list(cached.get_ydata()) == [200.0, 180.0]
    assert list(uncached.get_ydata()) == [60.0, 20.0]
    assert cached.get_label() == "with the key/value cache"


def test_attention_maps_show_the_chosen_heads_with_the_tokens_on_both_axes():
    weights = np.random.default_rng(0).random((2, 3, 4, 4))
    tokens = ["a", "b", "c", "d"]
    figure = plots.plot_attention_maps(weights, tokens, [(0, 1), (1, 2), (1, 0)])
    maps = [axes for axes in figure.axes if axes.images]
    assert [axes.get_title() for axes in maps] == [
        "block 0, head 1",
        "block 1, head 2",
        "block 1, head 0",
    ]
    np.testing.assert_array_equal(maps[1].images[0].get_array(), weights[1, 2])
    assert [t.get_text() for t in maps[0].get_xticklabels()] == tokens


def test_label_efficiency_draws_both_arms_every_seed_and_the_reference_lines():
    rows = [
        {
            "size": size,
            "values": {"pre-trained": [0.6, 0.62, 0.64], "random": [0.5, 0.52, 0.54]},
            "pre-trained_mean": 0.62,
            "random_mean": 0.52,
        }
        for size in (32, 128, 1000)
    ]
    thresholded = [{"size": size, "values": [0.55, 0.57]} for size in (32, 128, 1000)]
    figure = plots.plot_label_efficiency(
        {"corrupted": rows}, {"corrupted": 0.5}, {"corrupted": 0.501}, {"corrupted": thresholded}
    )
    (axes,) = figure.axes
    means = {line.get_label(): line for line in axes.lines if line.get_linewidth() == 2}
    assert list(means["pre-trained (mean of seeds)"].get_ydata()) == [0.62] * 3
    assert list(means["random (mean of seeds)"].get_xdata()) == [32, 128, 1000]
    dots = [line for line in axes.lines if line.get_marker() == "o"]
    assert sum(len(line.get_ydata()) for line in dots) == 2 * 3 * 3 + 3 * 2  # arms, threshold
    assert list(means["LM score + threshold (no fine-tuning)"].get_ydata()) == pytest.approx(
        [0.56] * 3
    )
    references = {
        line.get_label(): line.get_ydata()[0]
        for line in axes.lines
        if line.get_linestyle() in ("--", ":")
    }
    assert references == {"chance": 0.5, "majority share": 0.501}
    assert axes.get_xscale() == "log"


def test_blocks_transferred_show_every_seed_and_the_mean_in_order():
    rows = [
        {"label": "nothing", "values": [0.5, 0.52]},
        {"label": "embeddings", "values": [0.55, 0.57]},
    ]
    figure = plots.plot_blocks_transferred(rows, chance=0.5, task="corrupted")
    (axes,) = figure.axes
    assert [t.get_text() for t in axes.get_xticklabels()] == ["nothing", "embeddings"]
    mean = next(line for line in axes.lines if line.get_linewidth() == 2)
    assert list(mean.get_ydata()) == pytest.approx([0.51, 0.56])


def test_zero_shot_over_pretraining_pairs_each_snapshot_with_its_bits():
    snapshots = [
        {"step": step, "val_bits_per_char": bits, "tasks": {"follows": {"test": {"accuracy": acc}}}}
        for step, bits, acc in ((0, 4.4, 0.5), (10, 3.9, 0.52), (148, 2.6, 0.6))
    ]
    figure = plots.plot_zero_shot_over_pretraining(snapshots, {"follows": 0.5}, epoch_steps=148)
    accuracy, bits = figure.axes
    assert list(accuracy.lines[0].get_ydata()) == [0.5, 0.52, 0.6]
    assert list(bits.lines[0].get_xdata()) == [0, 10, 148]
    assert list(bits.lines[0].get_ydata()) == [4.4, 3.9, 2.6]
    assert bits.get_xscale() == "symlog"


def test_token_shares_draw_a_bar_per_token_with_the_accuracy_or_the_entropy():
    labels = TokenShares("label", ("' '", "'the'"), np.array([0.3, 0.1]), accuracy=0.31)
    axes = plots.plot_token_shares(labels).axes[0]
    assert [bar.get_height() for bar in axes.patches] == [0.3, 0.1]
    assert [tick.get_text() for tick in axes.get_xticklabels()] == ["' '", "'the'"]
    assert axes.get_lines()[0].get_ydata()[0] == 0.31 and axes.get_legend() is not None
    predictions = TokenShares("prediction", ("' '",), np.array([1.0]), entropy=0.25)
    axes = plots.plot_token_shares(predictions).axes[0]
    assert axes.get_title() == "mean entropy of the predictions: 0.25 nats"
    assert axes.get_xlabel() == "prediction token" and not axes.get_lines()


def test_range_test_draws_the_losses_the_smoothed_curve_and_both_chosen_rates():
    rates = np.geomspace(1e-6, 1e-1, 30)
    losses = np.linspace(8.0, 5.0, 30)
    smooth = plots.moving_average(losses, 5)
    axes = plots.plot_range_test(RangeTest(rates, losses, smooth, suggested=10, stop=20)).axes[0]
    raw, smoothed, suggested, stop = axes.get_lines()
    np.testing.assert_array_equal(smoothed.get_xdata(), rates[2:28])
    assert suggested.get_xdata()[0] == rates[10] and stop.get_xdata()[0] == rates[20]
    assert axes.get_xscale() == "log" and len(raw.get_ydata()) == 30


def test_one_batch_fit_draws_the_losses_against_the_entropy_and_the_target():
    fit = OneBatchFit(np.array([4.0, 3.0, 1.0]), label_entropy=3.5, target=1.75)
    losses, entropy, target = plots.plot_one_batch_fit(fit).axes[0].get_lines()
    assert list(losses.get_ydata()) == [4.0, 3.0, 1.0]
    assert entropy.get_ydata()[0] == 3.5 and target.get_ydata()[0] == 1.75
