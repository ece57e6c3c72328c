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
