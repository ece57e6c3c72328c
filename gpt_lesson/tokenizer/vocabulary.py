"""A vocabulary trimmed to the GPT-2 ids a corpus uses, renumbered 0..n-1.

Tiny Shakespeare uses 11,706 of GPT-2's 50,257 tokens. On a CPU the output layer (one
logit per vocabulary entry, for every position) dominates the cost of a small model, so
training on the used ids only is about four times cheaper. A :class:`Vocabulary` is the
mapping between the two numberings: GPT-2 ids to compact ids (``compact``) and back
(``expand``). The model's own tokenizer is trimmed to the same ids
(``BookGPT2Tokenizer.trimmed``), so it encodes text straight to compact ids, and it carries
the mapping (``BookGPT2Tokenizer.kept``), which a preset saves in its ``tokenizer.json``.
Like nanoGPT's character vocabulary, the set is taken from the whole corpus, so every
validation token has an output unit; the model still learns nothing else from the
validation text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Vocabulary:
    """Compact id i stands for GPT-2 id ``gpt2_ids[i]`` (sorted ascending)."""

    gpt2_ids: tuple[int, ...]

    @classmethod
    def used_by(cls, *streams: np.ndarray, always: tuple[int, ...] = ()) -> Vocabulary:
        """The ids occurring in ``streams`` plus ``always`` (e.g. pad, start, end)."""
        used = np.unique(np.concatenate([*streams, np.asarray(always, dtype=np.int64)]))
        return cls(tuple(int(i) for i in used))

    @property
    def size(self) -> int:
        return len(self.gpt2_ids)

    def compact(self, ids: np.ndarray) -> np.ndarray:
        """GPT-2 ids -> compact ids; an id outside the vocabulary is an error."""
        table = np.asarray(self.gpt2_ids)
        ids = np.asarray(ids)
        positions = np.searchsorted(table, ids).clip(max=len(table) - 1)
        missing = table[positions] != ids
        if missing.any():
            raise ValueError(
                f"{int(missing.sum())} ids are not in this vocabulary (first: "
                f"{int(ids[missing][0])}); build the vocabulary from a corpus that contains them."
            )
        return positions.astype(np.int32)

    def expand(self, compact_ids: np.ndarray) -> np.ndarray:
        """Compact ids -> GPT-2 ids, for the tokenizer to decode."""
        return np.asarray(self.gpt2_ids)[np.asarray(compact_ids)]

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        """The ``gpt2_ids.json`` that presets saved before the tokenizer carried its ids."""
        return cls(tuple(json.loads(path.read_text(encoding="utf-8"))))
