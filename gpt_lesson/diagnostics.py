"""Checks for a language model whose metric does not move; each returns a :class:`Check`.

They need only arrays of token ids, a Keras model and its loss, so they apply to any
causal LM and dataset, not just this book's. Each check answers one question whose
wrong answer has stalled real training runs: are the labels the next tokens? what does
the padding mask hide? what accuracy does always guessing the commonest token get? is
the untrained loss ln(V)? has the model collapsed onto one prediction? do gradients
reach every layer? which learning rates make the loss fall? can the model memorise one
batch? does the metric compute what it claims? Chapter 4 runs them on the seed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

Decode = Callable[[int], str]
LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


@dataclass(frozen=True)
class Check:
    """One diagnostic's answer: what was checked, whether it passed, and the evidence."""

    name: str
    passed: bool
    detail: str
    figure: Figure | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return f"[{'pass' if self.passed else 'FAIL'}] {self.name}: {self.detail}"


def _show(decode: Decode | None, token_id: int) -> str:
    return f"{token_id} {decode(token_id)!r}" if decode else str(token_id)


def labels_are_shifted_inputs(inputs: np.ndarray, labels: np.ndarray, pad_id: int) -> Check:
    """Causal LM labels are the inputs moved one step left: labels[:, t] == inputs[:, t + 1]."""
    inputs, labels = np.asarray(inputs), np.asarray(labels)
    if inputs.shape != labels.shape:
        return Check(
            "labels are shifted inputs",
            False,
            f"inputs {inputs.shape} and labels {labels.shape} differ in shape",
        )
    compared = labels[:, :-1] != pad_id
    wrong = compared & (labels[:, :-1] != inputs[:, 1:])
    count, total = int(wrong.sum()), int(compared.sum())
    if count == 0:
        return Check("labels are shifted inputs", True, f"all {total:,} positions agree")
    row, column = map(int, np.argwhere(wrong)[0])
    return Check(
        "labels are shifted inputs",
        False,
        f"{count:,} of {total:,} labels are not the next input (first: window {row}, "
        f"position {column}); build labels as ids[1:] of the same window as inputs = ids[:-1]",
    )


def padding_mask_hides(
    inputs: np.ndarray, mask: np.ndarray, pad_id: int, decode: Decode | None = None
) -> Check:
    """A padding mask (True = visible) should hide exactly the pad tokens, nothing else."""
    inputs, visible = np.asarray(inputs), np.asarray(mask, dtype=bool)
    real_hidden = ~visible & (inputs != pad_id)
    pad_visible = visible & (inputs == pad_id)
    hidden_ids = Counter(inputs[real_hidden].tolist()).most_common(3)
    passed = not real_hidden.any() and not pad_visible.any()
    words = ", ".join(f"{_show(decode, i)} x{n:,}" for i, n in hidden_ids) or "none"
    detail = (
        f"hides {int(real_hidden.sum()):,} real tokens ({words}); "
        f"pad {pad_id} occurs {int((inputs == pad_id).sum()):,} times, "
        f"{int(pad_visible.sum()):,} of them left visible"
    )
    if not passed:
        detail += "; compute the mask as inputs != pad_id"
    return Check("padding mask hides only padding", passed, detail)


def _shares(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values, most frequent first, and the share of ``values`` each one is."""
    ids, counts = np.unique(values, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return ids[order], counts[order] / counts.sum()


def label_shares(labels: np.ndarray, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct label ids, most frequent first, and the share of labels each one is."""
    labels = np.asarray(labels)
    return _shares(labels[labels != pad_id])


def _token_bars(
    ids: np.ndarray, shares: np.ndarray, decode: Decode | None, top: int, color: str, what: str
) -> tuple[Figure, plt.Axes]:
    """A bar per token: the ``top`` most frequent ``ids`` and their shares."""
    figure, axes = plt.subplots(figsize=(7, 3.2))
    names = [repr(decode(int(i))) if decode else str(int(i)) for i in ids[:top]]
    axes.bar(range(len(names)), shares[:top], color=color)
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axes.set_xlabel(f"{what} token")
    axes.set_ylabel(f"share of {what}s")
    return figure, axes


def beats_majority_baseline(
    labels: np.ndarray,
    accuracy: float,
    pad_id: int,
    decode: Decode | None = None,
    margin: float = 0.01,
    top: int = 10,
) -> Check:
    """Accuracy must beat always predicting the most frequent label by ``margin``."""
    ids, shares = label_shares(labels, pad_id)
    baseline = float(shares[0])
    passed = accuracy > baseline + margin
    detail = (
        f"accuracy {accuracy:.4f} vs {baseline:.4f} for always predicting "
        f"{_show(decode, int(ids[0]))}"
    )
    if not passed:
        detail += ": the model has learned no more than the commonest label"
    figure, axes = _token_bars(ids, shares, decode, top, "tab:blue", "label")
    axes.axhline(accuracy, color="tab:red", linestyle="--", label=f"accuracy {accuracy:.3f}")
    axes.legend()
    figure.tight_layout()
    plt.close(figure)
    return Check("beats the majority baseline", passed, detail, figure)


def log_probabilities(model: keras.Model, inputs: np.ndarray, from_logits: bool) -> np.ndarray:
    """log p(next token) at every position, whether the model outputs logits or probabilities."""
    outputs = tf.convert_to_tensor(model(inputs, training=False))
    if from_logits:
        return tf.nn.log_softmax(outputs, axis=-1).numpy()
    return tf.math.log(tf.maximum(outputs, 1e-30)).numpy()


def initial_loss_matches_uniform(
    model: keras.Model,
    inputs: np.ndarray,
    labels: np.ndarray,
    pad_id: int,
    from_logits: bool,
    tolerance: float = 0.5,
) -> Check:
    """An untrained model should be unsure of everything: loss close to ln(vocabulary)."""
    log_p = log_probabilities(model, inputs, from_logits)
    labels = np.asarray(labels)
    keep = labels != pad_id
    loss = float(-np.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0][keep].mean())
    uniform = math.log(log_p.shape[-1])
    passed = abs(loss - uniform) <= tolerance
    detail = f"loss {loss:.3f} nats vs ln({log_p.shape[-1]:,}) = {uniform:.3f}"
    if not passed:
        detail += "; the initial weights make confident predictions: use smaller init scales"
    return Check("initial loss is ln(V)", passed, detail)


def prediction_collapse(
    model: keras.Model,
    inputs: np.ndarray,
    from_logits: bool,
    decode: Decode | None = None,
    threshold: float = 0.9,
    top: int = 10,
) -> Check:
    """Has the model collapsed onto one prediction? Share of its top guess, and its entropy."""
    log_p = log_probabilities(model, inputs, from_logits)
    ids, shares = _shares(log_p.argmax(axis=-1).ravel())
    entropy = float(-(np.exp(log_p) * log_p).sum(axis=-1).mean())
    passed = shares[0] < threshold
    detail = (
        f"{shares[0]:.1%} of positions predict {_show(decode, int(ids[0]))}; "
        f"{len(ids):,} distinct predictions; mean entropy {entropy:.2f} nats"
    )
    if not passed:
        detail += ": the output ignores its context"
    figure, axes = _token_bars(ids, shares, decode, top, "tab:orange", "prediction")
    axes.set_title(f"mean entropy of the predictions: {entropy:.2f} nats")
    figure.tight_layout()
    plt.close(figure)
    return Check("predictions have not collapsed", passed, detail, figure)


def masked_metric_matches_numpy(
    metric: Callable, labels: np.ndarray, outputs: np.ndarray, pad_id: int, tolerance: float = 1e-6
) -> Check:
    """A masked accuracy must equal the fraction of non-pad labels that are the argmax."""
    labels, outputs = np.asarray(labels), np.asarray(outputs)
    keep = labels != pad_id
    expected = float((outputs.argmax(axis=-1) == labels)[keep].mean())
    got = float(keras.ops.convert_to_numpy(metric(tf.constant(labels), tf.constant(outputs))))
    passed = abs(got - expected) <= tolerance
    detail = f"metric {got:.6f}, NumPy {expected:.6f} over {int(keep.sum()):,} non-pad labels"
    if not passed:
        detail += "; check its mask and the axis of its argmax"
    return Check("masked metric matches NumPy", passed, detail)


def _layer_of(variable: keras.Variable) -> str:
    return variable.path.split("/")[0]


def _train_step(model: keras.Model, optimizer: keras.Optimizer, loss_fn: LossFn):
    """A compiled step: (inputs, labels) -> (loss, gradients), gradients applied."""

    @tf.function
    def step(inputs, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(inputs, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss, gradients

    return step


def gradient_norms(
    model: keras.Model,
    loss_fn: LossFn,
    optimizer: keras.Optimizer,
    batches: list[tuple[np.ndarray, np.ndarray]],
    vanishing: float = 1e-3,
) -> Check:
    """Trains on ``batches`` and records each layer's gradient norm at every step.

    Fails if a gradient is not finite, or if some layer's norm at the end is below
    ``vanishing`` times the largest layer's (that layer has stopped learning).
    """
    step = _train_step(model, optimizer, loss_fn)
    layers = sorted({_layer_of(v) for v in model.trainable_variables}, key=_layer_order(model))
    history: dict[str, list[float]] = {name: [] for name in layers}
    for inputs, labels in batches:
        _, gradients = step(inputs, labels)
        squares: dict[str, float] = dict.fromkeys(layers, 0.0)
        for variable, gradient in zip(model.trainable_variables, gradients, strict=True):
            if gradient is not None:
                squares[_layer_of(variable)] += float(tf.reduce_sum(tf.square(gradient)))
        for name in layers:
            history[name].append(math.sqrt(squares[name]))
    last = {name: norms[-1] for name, norms in history.items()}
    finite = all(math.isfinite(n) for norms in history.values() for n in norms)
    largest = max(last.values())
    weak = [name for name, norm in last.items() if norm < vanishing * largest]
    passed = finite and not weak
    detail = ", ".join(f"{name} {norm:.2e}" for name, norm in last.items())
    detail = f"last step: {detail}"
    if not finite:
        detail += "; some gradients are not finite"
    if weak:
        detail += f"; vanishing in {', '.join(weak)}"
    figure, axes = plt.subplots(figsize=(7, 3.6))
    colors = plt.cm.viridis(np.linspace(0, 1, len(layers)))
    for color, name in zip(colors, layers, strict=True):
        axes.plot(history[name], color=color, label=name)
    axes.set_yscale("log")
    axes.set_xlabel("training step")
    axes.set_ylabel("gradient norm")
    axes.legend(fontsize=6, ncol=2, loc="upper right")
    figure.tight_layout()
    plt.close(figure)
    return Check("gradients reach every layer", passed, detail, figure)


def _layer_order(model: keras.Model) -> Callable[[str], int]:
    names = [layer.name for layer in model.layers]
    return lambda name: names.index(name) if name in names else len(names)


def learning_rate_range(
    model: keras.Model,
    loss_fn: LossFn,
    batches: list[tuple[np.ndarray, np.ndarray]],
    lowest: float = 1e-6,
    highest: float = 1e-1,
) -> Check:
    """The learning-rate range test: raise Adam's rate exponentially, one batch per step,
    and see where the loss falls fastest; a good peak rate is a little below that.

    Fails if the loss never falls below its starting value.
    """
    if len(batches) < 10:
        raise ValueError(f"The range test needs at least 10 batches, got {len(batches)}.")
    rates = np.geomspace(lowest, highest, len(batches))
    optimizer = keras.optimizers.Adam(learning_rate=float(rates[0]))
    step = _train_step(model, optimizer, loss_fn)
    losses = []
    for rate, (inputs, labels) in zip(rates, batches, strict=True):
        optimizer.learning_rate.assign(float(rate))
        loss, _ = step(inputs, labels)
        losses.append(float(loss))
    smooth = np.convolve(losses, np.ones(5) / 5, mode="same")
    slope = np.gradient(smooth)
    best = int(np.argmin(slope[2:-2])) + 2
    passed = smooth[2:-2].min() < smooth[2] - 0.1
    detail = (
        f"loss falls fastest at lr {rates[best]:.1e}; lowest loss {min(losses):.2f} at lr "
        f"{rates[int(np.argmin(losses))]:.1e} (start {losses[0]:.2f})"
    )
    if not passed:
        detail += ": no rate in the range made the loss fall"
    figure, axes = plt.subplots(figsize=(7, 3.2))
    axes.plot(rates, losses, color="tab:gray", alpha=0.5, label="per step")
    axes.plot(rates[2:-2], smooth[2:-2], color="tab:blue", label="5-step mean")
    axes.axvline(rates[best], color="tab:red", linestyle="--", label="steepest descent")
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("loss (nats)")
    axes.legend()
    figure.tight_layout()
    plt.close(figure)
    return Check("some learning rate makes the loss fall", passed, detail, figure)


def overfits_one_batch(
    model: keras.Model,
    loss_fn: LossFn,
    optimizer: keras.Optimizer,
    batch: tuple[np.ndarray, np.ndarray],
    steps: int,
    target_loss: float = 0.5,
) -> Check:
    """A model that can learn memorises a single batch: its loss falls below ``target_loss``.

    If it cannot, the fault is in the model, loss or optimizer, not in the data's size.
    """
    step = _train_step(model, optimizer, loss_fn)
    inputs, labels = batch
    losses = [float(step(inputs, labels)[0]) for _ in range(steps)]
    passed = losses[-1] < target_loss
    detail = f"loss {losses[0]:.2f} -> {losses[-1]:.2f} nats after {steps} steps on one batch"
    if not passed:
        detail += f" (target < {target_loss}): the model cannot even memorise"
    figure, axes = plt.subplots(figsize=(7, 3.2))
    axes.plot(losses)
    axes.axhline(target_loss, color="tab:red", linestyle="--", label="target")
    axes.set_xlabel("step on the same batch")
    axes.set_ylabel("loss (nats)")
    axes.legend()
    figure.tight_layout()
    plt.close(figure)
    return Check("overfits one batch", passed, detail, figure)
