"""The book's figures, one function each; every function returns its matplotlib Figure.

The figures draw data that other modules compute (a check's evidence, a run's record), so
that this module needs neither Keras nor TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from gpt_lesson.seed.diagnostics import OneBatchFit, RangeTest, TokenShares


def token_frequencies(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """How often each id in ``range(vocab_size)`` occurs in ``ids``."""
    return np.bincount(ids, minlength=vocab_size)


def plot_token_statistics(ids: np.ndarray, vocab_size: int, decode) -> Figure:
    """Rank-frequency (Zipf) plot and cumulative coverage of a token stream.

    Top: count of the r-th most frequent token against r, log-log, the top five labelled
    with their text. Bottom: the fraction of the stream covered by the k most frequent
    distinct tokens, which shows how little of the 50,257-token vocabulary a corpus uses.
    """
    counts = np.sort(token_frequencies(ids, vocab_size))[::-1]
    counts = counts[counts > 0]
    ranks = np.arange(1, len(counts) + 1)
    top_ids = np.argsort(token_frequencies(ids, vocab_size))[::-1][:5]

    figure, (zipf, coverage) = plt.subplots(2, 1, figsize=(8, 7.5))  # stacked: legible on phones
    zipf.loglog(ranks, counts, color="C0")
    for rank, token in enumerate(top_ids, start=1):
        zipf.plot(rank, counts[rank - 1], "o", color="C0", markersize=4)
        zipf.annotate(
            repr(decode([int(token)])),
            (rank, counts[rank - 1]),
            xytext=(8, 12 - 9 * rank),
            textcoords="offset points",
            fontsize=9,
        )
    zipf.set_xlabel("rank of the token (1 = most frequent)")
    zipf.set_ylabel("occurrences in the corpus")
    zipf.set_title("Token frequencies follow Zipf's law")

    covered = np.cumsum(counts) / counts.sum()
    coverage.semilogx(ranks, covered, color="C1")
    for share in (0.5, 0.9):
        k = int(np.searchsorted(covered, share)) + 1
        coverage.plot(k, share, "o", color="C1", markersize=4)
        coverage.annotate(
            f"{k:,} tokens cover {share:.0%}",
            (k, share),
            xytext=(-110, 8),
            textcoords="offset points",
            fontsize=9,
        )
    coverage.set_xlabel("number of distinct tokens, most frequent first")
    coverage.set_ylabel("fraction of the token stream")
    coverage.set_title(f"{len(counts):,} of {vocab_size:,} ids are used")
    figure.tight_layout()
    return figure


def plot_causal_mask(size: int) -> Figure:
    """The causal mask of a ``size``-token context: who may attend to whom.

    Row i is the query position, column j the key position. Cell (i, j) is allowed
    (M_ij = 0, shown blue) when j <= i and masked (M_ij = -inf, shown light grey) when j > i.
    The image's array is the boolean matrix ``allowed[i, j] = j <= i``.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}.")
    allowed = np.tril(np.ones((size, size), dtype=bool))
    figure, axes = plt.subplots(figsize=(4.6, 4.2))
    colours = ListedColormap(["#f2f2f2", "#3b75af"])
    axes.imshow(allowed, cmap=colours, vmin=0, vmax=1)
    if size <= 16:
        for i in range(size):
            for j in range(size):
                label, colour = ("0", "white") if allowed[i, j] else ("−∞", "#777777")
                axes.text(j, i, label, ha="center", va="center", fontsize=8, color=colour)
    positions = np.arange(size)
    axes.set_xticks(positions, [str(p) for p in positions])
    axes.set_yticks(positions, [str(p) for p in positions])
    axes.set_xticks(positions[:-1] + 0.5, minor=True)
    axes.set_yticks(positions[:-1] + 0.5, minor=True)
    axes.grid(which="minor", color="white", linewidth=1)
    axes.tick_params(which="minor", length=0)
    axes.xaxis.set_label_position("top")
    axes.xaxis.tick_top()
    axes.set_xlabel("key position j (the token looked at)")
    axes.set_ylabel("query position i (the token looking)")
    axes.set_title(f"Causal mask M for k = {size}: attend to j ≤ i only", pad=12)
    figure.tight_layout()
    return figure


def plot_attention(weights: np.ndarray, tokens: list[str], title: str | None = None) -> Figure:
    """Heatmap of one head's attention weights, rows and columns labelled with the tokens.

    ``weights[i, j]`` is how much the token at position i (the query, on the y axis)
    attends to the token at position j (the key, on the x axis); each row sums to 1.
    The image's array is ``weights`` itself. With at most 16 tokens every cell is
    annotated with its weight.
    """
    weights = np.asarray(weights)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise ValueError(f"weights must be a square matrix, got shape {weights.shape}.")
    if len(tokens) != weights.shape[0]:
        raise ValueError(f"{len(tokens)} tokens for a {weights.shape[0]}x{weights.shape[0]} map.")
    size = len(tokens)
    figure, axes = plt.subplots(figsize=(1.6 + 0.55 * size, 1.2 + 0.5 * size))
    image = axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=max(float(weights.max()), 1e-9))
    if size <= 16:
        for i in range(size):
            for j in range(size):
                value = weights[i, j]
                colour = "black" if value > 0.6 * weights.max() else "white"
                axes.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=colour)
    positions = np.arange(size)
    axes.set_xticks(positions, tokens, rotation=90)
    axes.set_yticks(positions, tokens)
    axes.set_xlabel("key: the token attended to")
    axes.set_ylabel("query: the token attending")
    axes.set_title(title or "Attention weights")
    figure.colorbar(image, ax=axes, label="attention weight", shrink=0.8)
    figure.tight_layout()
    return figure


def plot_learning_rate(schedule, total_steps: int) -> Figure:
    """The learning rate at every step of a schedule (warmup, then decay)."""
    steps = np.arange(total_steps + 1)
    rates = [float(schedule(step)) for step in steps]
    figure, axes = plt.subplots(figsize=(6, 3))
    axes.plot(steps, rates, color="C0")
    axes.set_xlabel("training step")
    axes.set_ylabel("learning rate")
    axes.set_title("Linear warmup, then cosine decay")
    figure.tight_layout()
    return figure


def plot_training_curves(
    history: dict[str, np.ndarray],
    steps: dict[str, np.ndarray],
    references: dict[str, tuple[float, float]],
    window: int = 25,
) -> Figure:
    """Top: the training loss of every step (``steps.csv``), its moving average over
    ``window`` steps, and the validation loss at each epoch's end. Bottom: validation bits
    per character against wall-clock minutes, with references drawn as (minutes, bits)."""
    figure, (loss, bits) = plt.subplots(2, 1, figsize=(8, 8), layout="constrained")
    step = steps["step"]
    loss.plot(
        step, steps["loss"], color="C0", alpha=0.25, linewidth=0.8, label="training, each step"
    )
    loss.plot(
        step[window - 1 :] if len(step) >= window else step,
        moving_average(steps["loss"], window),
        color="C0",
        label=f"training, mean of the last {window} steps",
    )
    per_epoch = -(-len(step) // len(history["epoch"]))
    ends = np.minimum((history["epoch"] + 1) * per_epoch, step[-1])
    loss.plot(ends, history["val_loss"], "s-", color="C1", label="validation, end of each epoch")
    loss.set_xlabel("step")
    loss.set_ylabel("loss (nats per token)")
    loss.set_title("The loss −L1 / n: nats per token")
    loss.legend()

    bits.plot(history["minutes"], history["val_bits_per_char"], "s-", color="C1", label="this run")
    for name, (minutes, value) in references.items():
        bits.axhline(value, color="grey", linewidth=0.6, linestyle="--")
        bits.annotate(
            name,
            (0.01, value),  # x in axes fraction (left edge), y in data units
            xycoords=bits.get_yaxis_transform(),
            xytext=(0, 3),
            textcoords="offset points",
            fontsize=8,
            color="dimgrey",
        )
        if minutes:
            bits.plot(minutes, value, "x", color="grey")
    bits.set_xlabel("wall-clock minutes on this machine")
    bits.set_ylabel("validation bits per character")
    bits.set_title("Validation bits per character")
    bits.legend(loc="upper right")
    return figure


def plot_confusion_matrix(matrix: np.ndarray, class_names: list[str], title: str) -> Figure:
    """Counts ``matrix[true, predicted]`` as a heatmap, every cell annotated with its count.

    The image's array is ``matrix`` itself: rows are the labels, columns the predictions.
    """
    matrix = np.asarray(matrix)
    if matrix.shape != (len(class_names), len(class_names)):
        raise ValueError(f"a {matrix.shape} matrix for {len(class_names)} class names.")
    figure, axes = plt.subplots(figsize=(4.2, 3.6))
    axes.imshow(matrix, cmap="Blues", vmin=0)
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if count > 0.6 * matrix.max() else "black"
        axes.text(column, row, f"{count:,}", ha="center", va="center", color=colour)
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, class_names)
    axes.set_yticks(ticks, class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true label")
    axes.set_title(title)
    figure.tight_layout()
    return figure


def plot_ablation(rows: list[dict], splits: dict[str, str], metric_name: str = "MCC") -> Figure:
    """Grouped bars: one group per row of the table, one bar per split, mean ± std.

    ``rows`` hold ``"row"`` and, for each key of ``splits`` (split -> legend label),
    ``{split}_mean`` and ``{split}_std``; the error bars are the standard deviations.
    """
    figure, axes = plt.subplots(figsize=(9, 4))
    positions = np.arange(len(rows))
    width = 0.8 / len(splits)
    for index, (split, label) in enumerate(splits.items()):
        means = [row[f"{split}_mean"] for row in rows]
        errors = [row[f"{split}_std"] for row in rows]
        offset = (index - (len(splits) - 1) / 2) * width
        axes.bar(positions + offset, means, width, yerr=errors, capsize=4, label=label)
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.set_xticks(positions, [row["row"] for row in rows], fontsize=9)
    axes.set_ylabel(f"{metric_name} (mean ± std over seeds)")
    axes.set_title("Ablation on CoLA")
    axes.legend()
    figure.tight_layout()
    return figure


def plot_finetuning_curves(
    curves: dict[str, list[dict]], validation: str = "split carved from train"
) -> Figure:
    """Top: training L2 and L1 (Keras' running means within each epoch) against the step.
    Bottom: validation MCC against the step (``validation`` says which split, in the
    title). One colour per run name in ``curves``."""
    figure, (losses, mcc) = plt.subplots(2, 1, figsize=(8, 7.5))
    for index, (name, points) in enumerate(curves.items()):
        steps = [point["step"] for point in points]
        colour = f"C{index}"
        losses.plot(steps, [p["train_l2"] for p in points], "o-", color=colour, label=f"{name}: L2")
        losses.plot(
            steps, [p["train_l1"] for p in points], "s--", color=colour, label=f"{name}: L1"
        )
        mcc.plot(steps, [p["val_mcc"] for p in points], "o-", color=colour, label=name)
    losses.set_xlabel("training step")
    losses.set_ylabel("loss (nats)")
    losses.set_title("Training losses (running mean within the epoch)")
    losses.legend(fontsize=7)
    mcc.axhline(0.0, color="grey", linewidth=0.6, linestyle="--")
    mcc.set_xlabel("training step")
    mcc.set_ylabel("validation MCC")
    mcc.set_title(f"Validation MCC ({validation})")
    mcc.legend(fontsize=7)
    figure.tight_layout()
    return figure


def moving_average(values, window: int) -> np.ndarray:
    """The mean of each ``window`` consecutive values (shorter series are returned as is)."""
    values = np.asarray(values, dtype=float)
    if len(values) < window:
        return values
    return np.convolve(values, np.ones(window) / window, mode="valid")


CURVE_PANELS = (
    ("loss", "training loss (nats per token)"),
    ("accuracy", "masked accuracy"),
    ("entropy", "entropy of the predictions (nats)"),
)


def plot_recipe_curves(
    runs: dict[str, list[dict]], label_entropy: float, majority_share: float, window: int = 20
) -> Figure:
    """Per-step loss, masked accuracy and prediction entropy of training recipes, as
    ``window``-step means, one panel above the other.

    ``runs`` maps a recipe's name to its runs (records with ``loss``, ``accuracy`` and
    ``entropy`` lists, one per seed): the line is the mean over seeds, the band their
    range. The dashed lines are what a model that ignores its context gets: the entropy
    of the label distribution (its best loss, and its predictions' entropy) and the
    share of the commonest label (its accuracy).
    """
    figure, panels = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    for index, (name, seeds) in enumerate(runs.items()):
        if not seeds:
            continue  # a cell not yet run
        for axes, (field, _) in zip(panels, CURVE_PANELS, strict=True):
            length = min(len(run[field]) for run in seeds)
            smooth = np.array([moving_average(run[field][:length], window) for run in seeds])
            steps = np.arange(smooth.shape[1]) + (window if length >= window else 1)
            axes.plot(steps, smooth.mean(axis=0), color=f"C{index}", label=name)
            axes.fill_between(steps, smooth.min(0), smooth.max(0), color=f"C{index}", alpha=0.2)
    plateau = {"loss": label_entropy, "accuracy": majority_share, "entropy": label_entropy}
    names = {"loss": "label entropy", "accuracy": "majority label", "entropy": "label entropy"}
    for axes, (field, ylabel) in zip(panels, CURVE_PANELS, strict=True):
        axes.axhline(plateau[field], color="black", linestyle="--", label=names[field])
        axes.set_ylabel(ylabel)
    panels[0].legend(loc="upper right")
    panels[-1].set_xlabel("training step")
    figure.tight_layout()
    return figure


def plot_token_shares(shares: TokenShares) -> Figure:
    """A bar per token: the share of the labels or predictions each of the commonest tokens
    is (``diagnostics.beats_majority_baseline`` and ``prediction_collapse`` give them), with
    the model's accuracy across the bars, or the predictions' entropy in the title."""
    figure, axes = plt.subplots(figsize=(7, 3.2))
    colour = "tab:blue" if shares.what == "label" else "tab:orange"
    positions = range(len(shares.names))
    axes.bar(positions, shares.shares, color=colour)
    axes.set_xticks(positions, shares.names, rotation=45, ha="right")
    axes.set_xlabel(f"{shares.what} token")
    axes.set_ylabel(f"share of {shares.what}s")
    if shares.accuracy is not None:
        accuracy = shares.accuracy
        axes.axhline(accuracy, color="tab:red", linestyle="--", label=f"accuracy {accuracy:.3f}")
        axes.legend()
    if shares.entropy is not None:
        axes.set_title(f"mean entropy of the predictions: {shares.entropy:.2f} nats")
    figure.tight_layout()
    return figure


def plot_range_test(test: RangeTest) -> Figure:
    """The learning-rate range test (``diagnostics.learning_rate_range``): the loss of each
    batch and its moving average against the rate, with the suggested rate and the rate
    where the smoothed loss stops falling."""
    figure, axes = plt.subplots(figsize=(7, 3.4))
    rates, start = test.rates, test.offset
    axes.plot(rates, test.losses, color="tab:gray", alpha=0.5, label="per batch")
    axes.plot(
        rates[start : start + len(test.smooth)], test.smooth, color="tab:blue", label="smoothed"
    )
    axes.axvline(rates[test.suggested], color="tab:green", linestyle="--", label="suggested")
    axes.axvline(rates[test.stop], color="tab:red", linestyle=":", label="stops falling")
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("loss (nats)")
    axes.legend()
    figure.tight_layout()
    return figure


def plot_one_batch_fit(fit: OneBatchFit) -> Figure:
    """The loss of every step on one batch (``diagnostics.overfits_one_batch``), against the
    batch's label entropy and the target below it."""
    figure, axes = plt.subplots(figsize=(7, 3.2))
    axes.plot(fit.losses, label="loss on the batch")
    axes.axhline(
        fit.label_entropy, color="black", linestyle="--", label="label entropy of the batch"
    )
    axes.axhline(fit.target, color="tab:red", linestyle=":", label="target")
    axes.set_xlabel("step on the same batch")
    axes.set_ylabel("loss (nats)")
    axes.legend()
    figure.tight_layout()
    return figure


def plot_layer_heatmaps(probes: dict[str, dict], field: str, title: str) -> Figure:
    """One layers x steps heatmap of log10 ``field`` per run (``LayerProbe`` records),
    one above the other on one colour scale, input layers at the bottom."""
    logs = {
        name: np.log10(np.maximum(np.asarray(probe[field], dtype=float).T, 1e-30))
        for name, probe in probes.items()
    }
    low = min(float(v.min()) for v in logs.values())
    high = max(float(v.max()) for v in logs.values())
    figure, panels = plt.subplots(len(probes), 1, figsize=(8, 4.4 * len(probes)), squeeze=False)
    for axes, (name, probe) in zip(panels[:, 0], probes.items(), strict=True):
        image = axes.imshow(
            logs[name], aspect="auto", origin="lower", cmap="viridis", vmin=low, vmax=high
        )
        axes.set_xticks(range(len(probe["steps"])), probe["steps"], rotation=90)
        axes.set_yticks(range(len(probe["layers"])), probe["layers"])
        axes.set_xlabel("training step")
        axes.set_title(name)
        figure.colorbar(image, ax=axes, label=f"log10 {title}")
    figure.tight_layout()
    return figure


def block_gradients(probe: dict, step_index: int = 0) -> np.ndarray:
    """The gradient norm of each Transformer block (``decoder_*`` layers, input side
    first) at the probe's ``step_index``-th measured step."""
    blocks = [i for i, layer in enumerate(probe["layers"]) if layer.startswith("decoder_")]
    return np.asarray(probe["gradient_norm"], dtype=float)[step_index, blocks]


def plot_step0_gradients(pairs: dict[str, tuple[dict, dict]], prediction: float) -> Figure:
    """Post-LN against pre-LN at initialisation, block by block.

    ``pairs`` maps a model (a width, a seed) to its (post-LN, pre-LN) ``LayerProbe``
    records. Left: each block's gradient norm at step 0, post-LN solid, pre-LN dashed.
    Right: their ratio, beside ``prediction`` (Xiong et al.'s sqrt(L) for the top block).
    """
    figure, (norms, ratios) = plt.subplots(1, 2, figsize=(10, 4))
    for index, (name, (post, pre)) in enumerate(pairs.items()):
        post_norms, pre_norms = block_gradients(post), block_gradients(pre)
        blocks = np.arange(len(post_norms))
        norms.plot(blocks, post_norms, "-o", color=f"C{index}", label=f"{name}, post-LN")
        norms.plot(blocks, pre_norms, "--s", color=f"C{index}", label=f"{name}, pre-LN")
        ratios.plot(blocks, post_norms / pre_norms, "-o", color=f"C{index}", label=name)
    ratios.axhline(prediction, color="black", linestyle=":", label="√L (Xiong et al.)")
    norms.set_yscale("log")
    norms.set_ylabel("gradient norm at step 0")
    ratios.set_ylabel("post-LN / pre-LN gradient norm")
    for axes in (norms, ratios):
        axes.set_xlabel("block (input side first)")
        axes.legend(fontsize="small")
    figure.tight_layout()
    return figure


def plot_probe_lines(
    series: dict[str, tuple[list[int], list[float]]],
    ylabel: str,
    marks: dict[str, int] | None = None,
) -> Figure:
    """Probe measurements against the step, both on log scales (step 0 drawn at 1/2).

    ``series`` maps a line's name to its (steps, values); ``marks`` draws a vertical
    dotted line at a step for a name (where that run reached the plateau, say), in the
    line's colour.
    """
    figure, axes = plt.subplots(figsize=(8, 4.2))
    for index, (name, (steps, values)) in enumerate(series.items()):
        shown = np.maximum(np.asarray(steps, dtype=float), 0.5)
        axes.plot(shown, values, "-o", markersize=3, color=f"C{index}", label=name)
        if marks and name in marks:
            axes.axvline(max(marks[name], 0.5), color=f"C{index}", linestyle=":")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("training step (step 0 at ½)")
    axes.set_ylabel(ylabel)
    axes.legend(fontsize="small")
    figure.tight_layout()
    return figure


HELD_OUT_PANELS = (
    ("loss", "held-out loss (nats per token)"),
    ("accuracy", "held-out masked accuracy"),
    ("predicts_majority", "share of positions predicting ' '"),
)


def plot_held_out_curves(
    runs: dict[str, list[dict]], plateau: float, majority_share: float
) -> Figure:
    """Held-out loss, accuracy and share of majority predictions of training recipes at
    their evaluated steps (records with an ``evaluation``): the mean over seeds, with the
    seeds' range as a band. Dashed: the plateau on the held-out text, and the held-out
    labels' majority share."""
    figure, panels = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    for index, (name, seeds) in enumerate(runs.items()):
        if not seeds:
            continue
        steps = seeds[0]["evaluation"]["steps"]
        for axes, (field, _) in zip(panels, HELD_OUT_PANELS, strict=True):
            values = np.array([run["evaluation"][field][: len(steps)] for run in seeds])
            axes.plot(steps, values.mean(axis=0), color=f"C{index}", label=name)
            axes.fill_between(steps, values.min(0), values.max(0), color=f"C{index}", alpha=0.2)
    panels[0].axhline(plateau, color="black", linestyle="--", label="plateau")
    panels[1].axhline(majority_share, color="black", linestyle="--", label="majority label")
    for axes, (_, ylabel) in zip(panels, HELD_OUT_PANELS, strict=True):
        axes.set_ylabel(ylabel)
    panels[0].legend(loc="upper right", fontsize="small")
    panels[-1].set_xlabel("training step")
    figure.tight_layout()
    return figure


def plot_effects(effects: dict[str, list[float]], xlabel: str) -> Figure:
    """One bar per change (its mean over seeds) with a dot per seed, largest at the top."""
    ranked = sorted(effects.items(), key=lambda item: np.mean(item[1]))
    figure, axes = plt.subplots(figsize=(7, 0.45 * len(ranked) + 1.2))
    for row, (_, values) in enumerate(ranked):
        axes.barh(row, np.mean(values), color="C0" if np.mean(values) > 0 else "C3", alpha=0.6)
        axes.plot(values, [row] * len(values), "o", color="black", markersize=4)
    axes.set_yticks(range(len(ranked)), [name for name, _ in ranked])
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_xlabel(xlabel)
    figure.tight_layout()
    return figure


def plot_generation_speed(rows: list[dict]) -> Figure:
    """Tokens per second with and without the key/value cache, against the new tokens made
    (rows of ``benchmarks.generation``: "new tokens", "cached tokens/s", "uncached tokens/s")."""
    new = [row["new tokens"] for row in rows]
    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.plot(new, [row["cached tokens/s"] for row in rows], "o-", label="with the key/value cache")
    axes.plot(
        new,
        [row["uncached tokens/s"] for row in rows],
        "s--",
        label="without: a full pass per token",
    )
    axes.set_xscale("log", base=2)
    axes.set_xticks(new, [str(n) for n in new])
    axes.set_xlabel("new tokens")
    axes.set_ylabel("tokens per second")
    axes.set_ylim(bottom=0)
    axes.legend()
    figure.tight_layout()
    return figure


def plot_attention_maps(
    weights: np.ndarray, tokens: list[str], heads: list[tuple[int, int]]
) -> Figure:
    """Several heads' attention weights side by side, two a row, on one colour scale.

    ``weights`` is ``attention_weights(...)[:, 0]``: (layers, heads, T, T) for one text;
    ``heads`` picks (layer, head) pairs. Tokens label both axes: queries down, keys across.
    """
    rows = -(-len(heads) // 2)
    figure, panels = plt.subplots(
        rows, 2, figsize=(10, 5 * rows), squeeze=False, layout="constrained"
    )
    positions = np.arange(len(tokens))
    for axes, (layer, head) in zip(panels.flat, heads, strict=False):
        image = axes.imshow(weights[layer, head], cmap="viridis", vmin=0.0, vmax=1.0)
        axes.set_xticks(positions, tokens, rotation=90, fontsize=9)
        axes.set_yticks(positions, tokens, fontsize=9)
        axes.set_title(f"block {layer}, head {head}")
    for axes in panels.flat[len(heads) :]:
        axes.axis("off")
    figure.colorbar(image, ax=panels, label="attention weight", shrink=0.6)
    return figure


def plot_label_efficiency(
    curves: dict[str, list[dict]],
    chance: dict[str, float],
    majority: dict[str, float],
    thresholded: dict[str, list[dict]] | None = None,
) -> Figure:
    """One panel per task: test accuracy against the number of labelled examples (log
    scale), pre-trained and random weights, every seed a dot and the mean a line, with
    chance and the majority share of the test split marked.

    ``curves`` maps a task to ``transfer.label_efficiency``'s rows; ``thresholded`` to
    ``transfer.threshold_curve``'s (the language model's score and a threshold chosen on
    the labelled examples), drawn the same way in green."""
    figure, panels = plt.subplots(len(curves), 1, figsize=(8, 3.6 * len(curves)), squeeze=False)
    for axes, (task, rows) in zip(panels[:, 0], curves.items(), strict=True):
        sizes = [row["size"] for row in rows]
        for colour, arm in (("C0", "pre-trained"), ("C3", "random")):
            for size, row in zip(sizes, rows, strict=True):
                values = row["values"][arm]
                axes.plot([size] * len(values), values, "o", color=colour, alpha=0.35, markersize=4)
            means = [row[f"{arm}_mean"] for row in rows]
            axes.plot(sizes, means, "-", color=colour, linewidth=2, label=f"{arm} (mean of seeds)")
        for row in (thresholded or {}).get(task, []):
            axes.plot(
                [row["size"]] * len(row["values"]),
                row["values"],
                "o",
                color="C2",
                alpha=0.35,
                markersize=4,
            )
        if task in (thresholded or {}):
            points = thresholded[task]
            axes.plot(
                [row["size"] for row in points], [np.mean(row["values"]) for row in points], "-",
                color="C2", linewidth=2, label="LM score + threshold (no fine-tuning)",
            )  # fmt: skip
        axes.axhline(chance[task], color="grey", linestyle="--", linewidth=1, label="chance")
        axes.axhline(
            majority[task], color="black", linestyle=":", linewidth=1, label="majority share"
        )
        axes.set_xscale("log")
        axes.set_xticks(sizes, [f"{s:,}" for s in sizes])
        axes.minorticks_off()
        axes.set_xlabel("labelled training examples")
        axes.set_ylabel("test accuracy")
        axes.set_title(f"{task}: what the labelled examples buy, with and without pre-training")
        low, high = axes.get_ylim()
        axes.set_ylim(low - 0.6 * (high - low), high)  # room below the points for the legend
        axes.legend(fontsize=8, loc="lower right", ncol=2)
    figure.tight_layout()
    return figure


def plot_blocks_transferred(rows: list[dict], chance: float, task: str) -> Figure:
    """The paper's Figure 2 (left) at small scale: test accuracy against how much of the
    pre-trained model is transferred (``rows``: ``label``, ``values`` over seeds)."""
    figure, axes = plt.subplots(figsize=(8, 4))
    positions = np.arange(len(rows))
    for position, row in zip(positions, rows, strict=True):
        axes.plot([position] * len(row["values"]), row["values"], "o", color="C0", alpha=0.4)
    axes.plot(positions, [np.mean(row["values"]) for row in rows], "-", color="C0", linewidth=2)
    axes.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
    axes.set_xticks(positions, [row["label"] for row in rows])
    axes.set_xlabel("what starts from pre-trained weights (the rest from random weights)")
    axes.set_ylabel("test accuracy")
    axes.set_title(f"{task}: transferring more of the pre-trained model")
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def plot_zero_shot_over_pretraining(
    snapshots: list[dict], chance: dict[str, float], epoch_steps: int
) -> Figure:
    """The paper's Figure 2 (right) at small scale. Top: each task's zero-shot test accuracy
    at each snapshot of pre-training. Bottom: validation bits per character at the same
    snapshots. Steps on a symmetric log scale, so the first updates are visible."""
    figure, (accuracy, bits) = plt.subplots(2, 1, figsize=(8, 7.5), sharex=True)
    steps = [snapshot["step"] for snapshot in snapshots]
    for index, task in enumerate(chance):
        values = [snapshot["tasks"][task]["test"]["accuracy"] for snapshot in snapshots]
        accuracy.plot(steps, values, "o-", color=f"C{index}", label=task)
        accuracy.axhline(chance[task], color=f"C{index}", linestyle="--", linewidth=0.8)
    accuracy.set_ylabel("zero-shot test accuracy")
    accuracy.set_title("Zero-shot heuristics during pre-training (dashed: chance)")
    accuracy.legend(fontsize=8)
    bits.plot(steps, [snapshot["val_bits_per_char"] for snapshot in snapshots], "o-", color="k")
    for epoch_end in range(epoch_steps, max(steps) + 1, epoch_steps):
        bits.axvline(epoch_end, color="grey", linewidth=0.5)
    bits.set_xscale("symlog", linthresh=10)
    bits.set_xlim(-1, max(steps) * 1.3)  # no negative steps; room for the last point
    bits.set_xlabel("pre-training step (grey lines: ends of epochs)")
    bits.set_ylabel("validation bits per character")
    bits.set_title("The language model on the held-out text")
    figure.tight_layout()
    return figure
