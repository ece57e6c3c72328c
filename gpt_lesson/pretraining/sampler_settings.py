"""What a KerasHub sampler may be set to, checked before it samples.

Out of range, KerasHub fails deep inside its compiled loop (``top_k`` with k past the
vocabulary), or samples silently from a distribution that is not the one asked for (a
temperature that float32 turns into 0 or infinity, a p of 0). These checks name the
setting, its range and the value instead.
"""

from __future__ import annotations

import keras_hub
import numpy as np

FLOAT32 = np.finfo(np.float32)  # the samplers divide float32 logits by the temperature


def check_sampler_settings(
    k: int = 1, p: float = 1.0, temperature: float = 1.0, vocabulary_size: int | None = None
) -> None:
    """Refuse a setting out of its range: k a whole number from 1 (to the vocabulary's
    size, when it is known), p in (0, 1], a temperature that float32 holds above 0."""
    most = f" to the vocabulary's {vocabulary_size}" if vocabulary_size else ""
    if (
        isinstance(k, bool)
        or not isinstance(k, int | np.integer)
        or k < 1
        or (vocabulary_size is not None and k > vocabulary_size)
    ):
        raise ValueError(f"k must be a whole number from 1{most} (the likeliest k ids), got {k!r}.")
    if not (isinstance(p, int | float) and 0.0 < p <= 1.0):  # NaN fails too
        raise ValueError(f"p must be in (0, 1] (the probability mass kept), got {p!r}.")
    if not (isinstance(temperature, int | float) and FLOAT32.tiny <= temperature <= FLOAT32.max):
        raise ValueError(
            f"temperature must be a finite number above 0 that float32 holds ({FLOAT32.tiny:.1e} "
            f"to {FLOAT32.max:.1e}; 1 leaves the logits as they are, and the greedy sampler "
            f"is the limit of 0), got {temperature!r}."
        )


def check_sampler(sampler: keras_hub.samplers.Sampler, vocabulary_size: int) -> None:
    """:func:`check_sampler_settings` for a sampler's own k, p and temperature (a setting
    it lacks, or leaves at None as ``TopPSampler`` does its k, is not checked)."""

    def setting(name: str, neutral: float) -> float:
        value = getattr(sampler, name, None)
        return neutral if value is None else value

    check_sampler_settings(
        setting("k", 1), setting("p", 1.0), setting("temperature", 1.0), vocabulary_size
    )
