"""The book's figures, one function each; every function returns its matplotlib Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def token_frequencies(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """How often each id in ``range(vocab_size)`` occurs in ``ids``."""
    return np.bincount(ids, minlength=vocab_size)


def plot_token_statistics(ids: np.ndarray, vocab_size: int, decode) -> Figure:
    """Rank-frequency (Zipf) plot and cumulative coverage of a token stream.

    Left: count of the r-th most frequent token against r, log-log, the top five labelled
    with their text. Right: the fraction of the stream covered by the k most frequent
    distinct tokens, which shows how little of the 50,257-token vocabulary a corpus uses.
    """
    counts = np.sort(token_frequencies(ids, vocab_size))[::-1]
    counts = counts[counts > 0]
    ranks = np.arange(1, len(counts) + 1)
    top_ids = np.argsort(token_frequencies(ids, vocab_size))[::-1][:5]

    figure, (zipf, coverage) = plt.subplots(1, 2, figsize=(11, 4))
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
