"""How sure a difference of two means is: Welch's t interval, for chapter 5's seeds.

With a handful of seeds per row, the normal approximation (± 1.96 standard errors) is too
narrow; Student's t with Welch–Satterthwaite's degrees of freedom is the textbook interval
for two samples of unequal variance. The t quantile is computed here by integrating the t
density (NumPy only), which is accurate to far more digits than a seed count justifies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def t_quantile(probability: float, freedom: float) -> float:
    """The ``probability`` quantile (above 0.5) of Student's t with ``freedom`` degrees."""
    if not 0.5 <= probability < 1.0 or freedom <= 0:
        raise ValueError(
            f"need 0.5 <= probability < 1 and freedom > 0, got {probability}, {freedom}"
        )
    log_scale = math.lgamma((freedom + 1) / 2) - math.lgamma(freedom / 2)
    scale = math.exp(log_scale) / math.sqrt(freedom * math.pi)

    def cdf(t: float) -> float:
        x = np.linspace(0.0, t, 20_001)
        density = scale * (1.0 + x**2 / freedom) ** (-(freedom + 1) / 2)
        return 0.5 + float(np.trapezoid(density, x))

    low, high = 0.0, 1.0
    while cdf(high) < probability:
        low, high = high, 2.0 * high
    for _ in range(60):  # bisection
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < probability else (low, middle)
    return (low + high) / 2


@dataclass(frozen=True)
class Difference:
    """mean(first) − mean(second), its standard error and a two-sided interval."""

    mean: float
    standard_error: float
    freedom: float
    low: float
    high: float
    level: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0


def welch_difference(
    first: Sequence[float], second: Sequence[float], level: float = 0.95
) -> Difference:
    """Welch's interval for the difference of the means of two independent samples."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"need at least 2 values in each sample, got {len(a)} and {len(b)}")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    error = math.sqrt(va + vb)
    freedom = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if error else 1e9
    half = t_quantile(0.5 + level / 2, freedom) * error
    mean = float(a.mean() - b.mean())
    return Difference(mean, error, freedom, mean - half, mean + half, level)


def binary_scores(predictions: np.ndarray, labels: np.ndarray, metric: str) -> np.ndarray:
    """Each row's accuracy or Matthews correlation (two classes) against ``labels``, for
    a matrix of predictions (runs, examples); an undefined MCC counts as 0."""
    if metric == "accuracy":
        return np.mean(predictions == labels, axis=1)
    if metric != "mcc":
        raise ValueError(f'metric must be "accuracy" or "mcc", got {metric!r}.')
    positive, predicted = labels == 1, predictions == 1
    tp = np.sum(predicted & positive, axis=1).astype(float)
    fp = np.sum(predicted & ~positive, axis=1).astype(float)
    fn = np.sum(~predicted & positive, axis=1).astype(float)
    tn = np.sum(~predicted & ~positive, axis=1).astype(float)
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (tp * tn - fp * fn) / denominator, 0.0)


def bootstrap_difference(
    first: np.ndarray,
    second: np.ndarray,
    labels: np.ndarray,
    metric: str = "accuracy",
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Difference:
    """mean(first's scores) − mean(second's), with a percentile interval that counts both
    sources of chance: the seeds (runs redrawn with replacement within each sample) and the
    test examples (one redraw of the examples for both samples, which share them).

    ``first`` and ``second`` are predictions (runs, examples) on the same ``labels``.
    Welch's interval counts the seeds only, as if the test set were the whole population.
    """
    first, second, labels = np.asarray(first), np.asarray(second), np.asarray(labels)
    rng = np.random.default_rng(seed)
    differences = np.empty(resamples)
    for i in range(resamples):
        examples = rng.integers(len(labels), size=len(labels))
        a = first[rng.integers(len(first), size=len(first))][:, examples]
        b = second[rng.integers(len(second), size=len(second))][:, examples]
        y = labels[examples]
        differences[i] = binary_scores(a, y, metric).mean() - binary_scores(b, y, metric).mean()
    mean = float(
        binary_scores(first, labels, metric).mean() - binary_scores(second, labels, metric).mean()
    )
    low, high = np.quantile(differences, [(1 - level) / 2, (1 + level) / 2])
    return Difference(
        mean, float(differences.std(ddof=1)), math.inf, float(low), float(high), level
    )


def detectable_difference(
    first: Sequence[float], second: Sequence[float], level: float = 0.95, power: float = 0.8
) -> float:
    """The smallest true difference of means that a design of these sample sizes and
    spreads finds with probability ``power`` (its ``level`` interval then excludes zero):
    (t at 1 − α/2 + t at ``power``) × the standard error, with Welch's degrees of freedom."""
    difference = welch_difference(first, second, level)
    return (
        t_quantile(0.5 + level / 2, difference.freedom) + t_quantile(power, difference.freedom)
    ) * difference.standard_error
