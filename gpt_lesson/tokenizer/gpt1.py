"""GPT-1's own tokenizer, as a KerasHub tokenizer that presets save and load.

GPT-1 does not use GPT-2's byte-level BPE. Its text is cleaned up and lower-cased, cut into
words and punctuation marks, and each word is merged by BPE from its characters, the last
of which carries the end-of-word suffix ``</w>`` (``"the"`` -> ``"the</w>"``). The released
vocabulary (Hugging Face's ``vocab.json`` and ``merges.txt``) holds 40,478 tokens: the
characters, with and without ``</w>``, and 40,000 merges. A character the vocabulary lacks
becomes ``<unk>``.

**Which pre-tokenizer.** OpenAI's code (``finetune-transformer-lm``, ``text_utils.py``)
cleaned text with ftfy and cut it with spaCy's English tokenizer, and the released model
was trained on text cut that way. Hugging Face's ``OpenAIGPTTokenizer`` uses spaCy and ftfy
when they are installed and otherwise BERT's basic tokenizer, and its fast tokenizer
always uses the latter. The two disagree on some text (spaCy cuts "don't" into "do" and
"n't", BERT's into "don", "'" and "t"; BERT's also strips accents). This module uses BERT's
basic tokenizer, through the ``tokenizers`` library as Hugging Face's fast tokenizer does:
it needs no spaCy model download, it is deterministic, and it is what ``transformers``
gives by default. Its cuts differ from the training text's mostly on contractions and
accents, which may cost the released model a little on such words.

Decoding joins the words with single spaces: ``decode(encode(s))`` is the normalised text
(lower-cased, accents stripped, a space around every punctuation mark), not ``s``.

**The special tokens.** The paper adds its start, delimiter and extract tokens at
fine-tuning time, as new rows after the vocabulary; so does this tokenizer (with the names
of OpenAI's code), after ``<unk>`` when the vocabulary lacks it and a ``<pad>`` the book's
batches need: :func:`with_special_tokens`.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import tokenizers
from tokenizers import decoders, models, normalizers, pre_tokenizers

from gpt_lesson._keras_hub import PipelineTokenizer
from gpt_lesson.tasks.transformations import SpecialIds
from gpt_lesson.tokenizer.gpt2 import TextIds, read_merges

UNKNOWN = "<unk>"
END_OF_WORD = "</w>"
# The rows appended after the released vocabulary, in this order (OpenAI's names for the
# paper's three; the pad is the book's, for batches of unequal lengths).
APPENDED = {"pad": "<pad>", "start": "_start_", "delimiter": "_delimiter_", "extract": "_classify_"}


@keras.saving.register_keras_serializable(package="gpt_lesson")
class GPT1Tokenizer(TextIds, PipelineTokenizer):
    """GPT-1's BPE: BERT's basic normalisation and cutting, then merges on characters with
    ``</w>`` ending each word. The vocabulary must hold ``<unk>`` and the appended tokens
    (:func:`with_special_tokens`); the extract token is KerasHub's ``end_token``."""

    special_tokens_by_role = {
        "pad_token": APPENDED["pad"],
        "start_token": APPENDED["start"],
        "end_token": APPENDED["extract"],
    }

    def build_pipeline(
        self, vocabulary: dict[str, int], merges: list[tuple[str, str]]
    ) -> tokenizers.Tokenizer:
        """Hugging Face's fast OpenAI-GPT tokenizer on this vocabulary and these merges."""
        pipeline = tokenizers.Tokenizer(
            models.BPE(
                vocab=vocabulary,
                merges=merges,
                unk_token=UNKNOWN,
                end_of_word_suffix=END_OF_WORD,
                fuse_unk=False,
            )
        )
        pipeline.normalizer = normalizers.BertNormalizer(lowercase=True)
        pipeline.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        pipeline.decoder = decoders.BPEDecoder(suffix=END_OF_WORD)
        return pipeline

    @property
    def special_ids(self) -> SpecialIds:
        """The ids the input transformations add, in this vocabulary."""
        return SpecialIds(
            **{role: self.token_to_id(token) for role, token in APPENDED.items()},
            unknown=self.token_to_id(UNKNOWN),
        )


def with_special_tokens(vocabulary: dict[str, int]) -> dict[str, int]:
    """``vocabulary`` with ``<unk>`` (when it lacks one) and :data:`APPENDED` as new ids
    after its last."""
    names = [token for token in (UNKNOWN, *APPENDED.values()) if token not in vocabulary]
    return {**vocabulary, **{token: len(vocabulary) + i for i, token in enumerate(names)}}


def gpt1_tokenizer_from_files(vocabulary: str | Path, merges: str | Path) -> GPT1Tokenizer:
    """GPT-1's tokenizer from Hugging Face's ``vocab.json`` and ``merges.txt``, with the
    special tokens appended."""
    table = json.loads(Path(vocabulary).read_text(encoding="utf-8"))
    return GPT1Tokenizer(with_special_tokens(table), read_merges(merges))
