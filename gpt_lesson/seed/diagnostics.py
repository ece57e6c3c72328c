"""Checks for a language model whose metric does not move; each returns a :class:`Check`.

They need only arrays of token ids, a Keras model and its loss, so they apply to any
causal LM and dataset, not just this book's. Each check answers one question whose
wrong answer has stalled real training runs: are the labels the next tokens? what does
the padding mask hide? what accuracy does always guessing the commonest token get? is
the untrained loss ln(V)? has the model collapsed onto one prediction? do gradients
reach every layer? which learning rates make the loss fall? can the model memorise one
batch? does the metric compute what it claims? Chapter 4 runs them on the seed.

A check that has more to show than a line of evidence returns it as data
(:attr:`Check.evidence`), and ``gpt_lesson.figures.plots`` draws it: the checks compute,
the figures module draws.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from gpt_lesson.figures.plots import moving_average
from gpt_lesson.figures.tables import Table
from gpt_lesson.seed import layer_probe

Decode = Callable[[int], str]
LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


@dataclass(frozen=True, eq=False)
class TokenShares:
    """The commonest tokens of some labels or predictions, most frequent first, and the
    share of the positions each one is (``plots.plot_token_shares`` draws it)."""

    what: str  # "label" or "prediction"
    names: tuple[str, ...]  # the tokens as shown: their text, or their ids
    shares: np.ndarray
    accuracy: float | None = None  # the model's accuracy, to compare with the bars
    entropy: float | None = None  # the mean entropy of the predictions (nats)


@dataclass(frozen=True, eq=False)
class RangeTest:
    """The learning-rate range test's curve and its choice (``plots.plot_range_test``)."""

    rates: np.ndarray  # one per batch, rising exponentially
    losses: np.ndarray  # the loss of each batch
    smooth: np.ndarray  # its moving average, centred on rates[offset:]
    suggested: int  # index into rates: where the smoothed loss falls fastest
    stop: int  # index into rates: where it stops falling

    @property
    def offset(self) -> int:
        """The index of the rate the first smoothed value is centred on."""
        return (len(self.losses) - len(self.smooth)) // 2


@dataclass(frozen=True, eq=False)
class OneBatchFit:
    """The loss of every step on one batch, against that batch's label entropy and the
    target below it (``plots.plot_one_batch_fit`` draws it)."""

    losses: np.ndarray
    label_entropy: float
    target: float


@dataclass(frozen=True)
class Check:
    """One diagnostic's answer: what was checked, whether it passed, and the evidence: a
    line of text, and for some checks data to draw."""

    name: str
    passed: bool
    detail: str
    evidence: TokenShares | RangeTest | OneBatchFit | None = field(
        default=None, repr=False, compare=False
    )

    def __str__(self) -> str:
        return f"[{self.verdict}] {self.name}: {self.detail}"

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "FAIL"


def check_table(checks: Iterable[tuple[str, Check]]) -> Table:
    """(what it ran on, check) pairs as a table of run, check, verdict and evidence."""
    rows = [(on, check.name, check.verdict, check.detail) for on, check in checks]
    return Table(("run on", "check", "verdict", "evidence"), rows)


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


def _top_shares(
    what: str, ids: np.ndarray, shares: np.ndarray, decode: Decode | None, top: int, **measured
) -> TokenShares:
    """The ``top`` most frequent ``ids``, shown as text if there is a ``decode``."""
    names = tuple(repr(decode(int(i))) if decode else str(int(i)) for i in ids[:top])
    return TokenShares(what, names, shares[:top], **measured)


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
    evidence = _top_shares("label", ids, shares, decode, top, accuracy=accuracy)
    return Check("beats the majority baseline", passed, detail, evidence)


def log_probabilities(model: keras.Model, inputs: np.ndarray, from_logits: bool) -> np.ndarray:
    """log p(next token) at every position, whether the model outputs logits or probabilities."""
    outputs = tf.convert_to_tensor(model(inputs, training=False))
    return layer_probe.log_probabilities(outputs, from_logits).numpy()


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
    evidence = _top_shares("prediction", ids, shares, decode, top, entropy=entropy)
    return Check("predictions have not collapsed", passed, detail, evidence)


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


def _train_step(model: keras.Model, optimizer: keras.Optimizer, loss_fn: LossFn):
    """A compiled step: (inputs, labels) -> loss, gradients applied."""

    @tf.function
    def step(inputs, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(inputs, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    return step


def gradients_reach_every_layer(probe: dict, vanishing: float = 1e-3) -> Check:
    """At the last probed step, every layer's gradient norm is at least ``vanishing`` times
    the largest layer's; ``probe`` is a ``LayerProbe.record()``.

    The detail gives step 0 too; ``plots.plot_layer_heatmaps`` draws the probe's norms as a
    layers x steps heatmap. A layer whose gradient vanished only after training began points
    at whatever happened first (a collapse, say), not at the initialisation: read step 0
    for that.
    """
    norms = np.asarray(probe["gradient_norm"], dtype=float)  # steps x layers
    relative = norms / norms.max(axis=1, keepdims=True)
    finite = bool(np.isfinite(norms).all())
    passed = finite and bool((relative[-1] >= vanishing).all())

    def weakest(row: int) -> str:
        layer = probe["layers"][int(relative[row].argmin())]
        return f"at step {probe['steps'][row]} {layer} gets {relative[row].min():.1e}"

    detail = f"{weakest(-1)} of the largest layer's gradient ({weakest(0)})"
    if not passed:
        detail += f"; under {vanishing:g}, that layer has stopped learning"
        healthy_at_start = bool((relative[0] >= vanishing).all())
        detail += (
            ": it vanished during training (every layer got its share at step 0)"
            if healthy_at_start
            else ", and some layer was already starved at step 0 (the initialisation)"
        )
    if not finite:
        detail += "; some gradients are not finite"
    return Check("gradients reach every layer", passed, detail)


def range_test_choice(losses: list[float]) -> tuple[np.ndarray, int, int]:
    """The smoothed range-test curve, the index where it stops falling (its minimum) and
    the suggested index: where it falls fastest per log-rate step, below that one.

    The raw per-batch loss is noisy and, past the minimum, diverges; the steepest point of
    the raw or lightly smoothed curve often sits in that tail, a rate that blows up.
    """
    window = max(5, len(losses) // 10)
    smooth = moving_average(losses, window)
    offset = window // 2  # smooth[i] is centred on rates[i + offset]
    stop = int(np.argmin(smooth))
    slope = np.gradient(smooth)
    suggested = int(np.argmin(slope[: max(stop, 1)]))
    return smooth, stop + offset, suggested + offset


def learning_rate_range(
    model: keras.Model,
    loss_fn: LossFn,
    batches: list[tuple[np.ndarray, np.ndarray]],
    lowest: float = 1e-6,
    highest: float = 1e-1,
) -> Check:
    """The learning-rate range test: raise Adam's rate exponentially, one batch per step,
    smooth the loss curve, and suggest the rate where it falls fastest, below the rate
    where it stops falling (:func:`range_test_choice`); the evidence is a :class:`RangeTest`.

    Fails if the smoothed loss never falls clearly below its starting value.
    """
    if len(batches) < 20:
        raise ValueError(f"The range test needs at least 20 batches, got {len(batches)}.")
    rates = np.geomspace(lowest, highest, len(batches))
    optimizer = keras.optimizers.Adam(learning_rate=float(rates[0]))
    step = _train_step(model, optimizer, loss_fn)
    losses = []
    for rate, (inputs, labels) in zip(rates, batches, strict=True):
        optimizer.learning_rate.assign(float(rate))
        losses.append(float(step(inputs, labels)))
    smooth, stop, suggested = range_test_choice(losses)
    passed = bool(smooth.min() < smooth[0] - 0.1)
    detail = (
        f"the smoothed loss falls fastest at lr {rates[suggested]:.1e} and stops falling at "
        f"{rates[stop]:.1e} (lowest {smooth.min():.2f} nats, start {smooth[0]:.2f})"
    )
    if not passed:
        detail += ": no rate in the range made the loss fall"
    evidence = RangeTest(rates, np.asarray(losses), smooth, suggested, stop)
    return Check("some learning rate makes the loss fall", passed, detail, evidence)


def overfits_one_batch(
    model: keras.Model,
    loss_fn: LossFn,
    optimizer: keras.Optimizer,
    batch: tuple[np.ndarray, np.ndarray],
    steps: int,
    pad_id: int,
    fraction: float = 0.5,
) -> Check:
    """A model that can learn memorises a single batch: its loss on that batch falls below
    ``fraction`` of the batch's own label entropy, the best loss a model that knows only
    the label frequencies can reach. A collapsed model stays at that entropy.

    If it cannot, the fault is in the model, loss or optimizer, not in the data's size.
    The evidence is a :class:`OneBatchFit`.
    """
    step = _train_step(model, optimizer, loss_fn)
    inputs, labels = batch
    _, shares = label_shares(labels, pad_id)
    entropy = float(-(shares * np.log(shares)).sum())
    target = fraction * entropy
    losses = [float(step(inputs, labels)) for _ in range(steps)]
    passed = losses[-1] < target
    detail = (
        f"loss {losses[0]:.2f} -> {losses[-1]:.2f} nats after {steps} steps on one batch; "
        f"the batch's label entropy is {entropy:.2f}, the target {target:.2f}"
    )
    if not passed:
        detail += ": the model cannot even memorise"
    evidence = OneBatchFit(np.asarray(losses), entropy, target)
    return Check("overfits one batch", passed, detail, evidence)
