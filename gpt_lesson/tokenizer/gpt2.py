"""GPT-2's byte-level BPE, exactly, on top of KerasHub's ``BytePairTokenizer``.

GPT-2 tokenizes in two steps. A regular expression first cuts the text into *pieces*
(words with their leading space, numbers, punctuation runs, whitespace runs), then the
byte-pair merges turn each piece into vocabulary ids. KerasHub's ``BytePairTokenizer``
gets the merges right but not the pieces: its graph path approximates GPT-2's regex,
whose ``\\s+(?!\\S)`` look-ahead RE2 cannot express, and its eager path uses Llama 3's
regex. This module keeps KerasHub's merges and replaces only the piece splitter (the hooks
it plugs into are in ``gpt_lesson._keras_hub``):

- eager calls (``encode``) use the ``tokenizers`` library with GPT-2's own regex;
- graph calls (inside ``tf.data``) use :func:`split_into_pieces`, which reproduces the
  look-ahead with two RE2 splits and a regrouping step.

The whole vocabulary is GPT-2's 50,257 tokens plus the seed's three extra ids:
pad = 50257, start = 50258, end = 50259. A trimmed one (:func:`spellable`,
:meth:`BookGPT2Tokenizer.trimmed`) keeps a corpus's tokens, the specials, the 256 bytes and the
tokens GPT-2 merges the kept ones from, so it still encodes every string, and exactly as
GPT-2 does wherever GPT-2's tokens are all kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import tensorflow as tf
import tensorflow_text as tf_text
import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
from tokenizers import pre_tokenizers

from gpt_lesson._keras_hub import PieceSplittingTokenizer
from gpt_lesson.data import fetch
from gpt_lesson.tokenizer.special_tokens import EXTRA_TOKENS, SPECIAL_TOKENS
from gpt_lesson.tokenizer.vocabulary import Vocabulary

# The pre-tokenizing regex of GPT-2's encoder.py (Python's ``regex`` module).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# Python's ``\s`` is Unicode White_Space; RE2's ``\s`` is only [\t\n\f\r ], so spell it out.
_WS = (
    r"\t\n\x{0b}\f\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
)
_WHITESPACE_RUN = rf"[{_WS}]+"
_LAST_WHITESPACE_CHAR = rf"[{_WS}]$"
# GPT2_PATTERN without the look-ahead alternative; valid only inside one regrouped piece.
_PIECE = rf"'s|'t|'re|'ve|'m|'ll|'d| ?\p{{L}}+| ?\p{{N}}+| ?[^{_WS}\p{{L}}\p{{N}}]+|[{_WS}]+"


def _following(x: tf.Tensor, fill: int | bool) -> tf.Tensor:
    """``x`` shifted left by one: element i holds x[i + 1], the last holds ``fill``."""
    return tf.concat([x[1:], tf.fill(tf.shape(x[:1]), tf.constant(fill, x.dtype))], axis=0)


def _preceding(x: tf.Tensor, fill: int | bool) -> tf.Tensor:
    """``x`` shifted right by one: element i holds x[i - 1], the first holds ``fill``."""
    return tf.concat([tf.fill(tf.shape(x[:1]), tf.constant(fill, x.dtype)), x[:-1]], axis=0)


def split_into_pieces(texts: tf.Tensor) -> tf.RaggedTensor:
    """Cut a batch of strings into GPT-2's pieces with RE2 only (graph-safe).

    ``tensorflow_text.regex_split`` stops reading at a NUL byte. NUL and \\x01 fall in the
    same class of GPT-2's regex, so we split a copy with NUL replaced by \\x01 and then
    cut the original text at the same byte offsets.
    """
    pieces = _split_nul_free(tf.strings.regex_replace(texts, r"\x00", "\x01"))
    lengths = tf.strings.length(pieces.flat_values)
    offsets = tf.cumsum(lengths, exclusive=True)  # byte offset of each piece in the batch
    first_piece_of_row = tf.gather(pieces.row_starts(), pieces.value_rowids())
    starts = offsets - tf.gather(offsets, first_piece_of_row)  # offset within its own text
    cut = tf.strings.substr(
        texts[:, tf.newaxis],
        pieces.with_flat_values(starts).to_tensor(),
        pieces.with_flat_values(lengths).to_tensor(),
    )
    return tf.RaggedTensor.from_tensor(cut, lengths=pieces.row_lengths())


def _split_nul_free(texts: tf.Tensor) -> tf.RaggedTensor:
    """GPT-2's pieces of texts that hold no NUL byte.

    ``\\s+(?!\\S)`` makes GPT-2 give the last character of a whitespace run to the word
    after it (``"a  b"`` -> ``"a", " ", " b"``). Without look-ahead we (1) split text into
    whitespace and non-whitespace runs, (2) split the last character off every
    whitespace run, (3) glue that character to the run that follows it (or back onto its
    own run at the end of the text), then (4) apply the rest of GPT-2's regex per group.
    """
    runs = tf_text.regex_split(texts, _WHITESPACE_RUN, _WHITESPACE_RUN)
    parts = tf_text.regex_split(runs, _LAST_WHITESPACE_CHAR, _LAST_WHITESPACE_CHAR)
    parts = parts.merge_dims(1, 2)  # (batch, parts)

    flat = parts.flat_values
    rows = parts.value_rowids()
    has_next = _following(rows, fill=-1) == rows
    has_prev = _preceding(rows, fill=-1) == rows
    is_ws = tf.strings.regex_full_match(flat, _WHITESPACE_RUN)
    # The last character of a whitespace run: whitespace, and no whitespace follows it.
    is_run_end = is_ws & ~(has_next & _following(is_ws, fill=False))
    joins_word = has_prev & _preceding(is_run_end, fill=False)
    closes_final_run = has_prev & _preceding(is_ws, fill=False) & is_run_end & ~has_next
    starts_group = ~(joins_word | closes_final_run)

    group_ids = tf.cumsum(tf.cast(starts_group, tf.int64)) - 1
    groups = tf.strings.unsorted_segment_join(
        flat, group_ids, num_segments=tf.reduce_sum(tf.cast(starts_group, tf.int64))
    )
    groups_per_row = tf.math.unsorted_segment_sum(
        tf.cast(starts_group, tf.int64), rows, num_segments=parts.nrows()
    )
    pieces = tf_text.regex_split(groups, _PIECE, _PIECE)
    return tf.RaggedTensor.from_row_lengths(pieces, groups_per_row).merge_dims(1, 2)


def read_merges(path: str | Path) -> list[str]:
    """GPT-2's merge rules from ``vocab.bpe``: the ``#version`` header and blank lines dropped.

    The seed split the file on newlines and kept the trailing empty line, which makes
    KerasHub's tokenizer crash with an unpack error; a malformed line is reported here
    with its line number instead.
    """
    merges = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip() or (number == 1 and line.startswith("#version")):
            continue
        if len(line.split(" ")) != 2:
            raise ValueError(
                f"{path}, line {number}: a merge rule is two tokens separated by one space, "
                f"got {line!r}. Re-fetch the file with gpt_lesson.data.fetch('gpt2-merges')."
            )
        merges.append(line)
    return merges


def read_vocabulary(path: str | Path) -> dict[str, int]:
    """GPT-2's token -> id table from ``encoder.json``."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}). Re-fetch it with "
            "gpt_lesson.data.fetch('gpt2-encoder')."
        ) from error


class TextIds:
    """What the book reads off a KerasHub tokenizer of its own: ids of Python strings and
    back, the special ids by short names, and the number of ids a model must embed."""

    @property
    def pad_id(self) -> int:
        return self.pad_token_id

    @property
    def start_id(self) -> int:
        return self.start_token_id

    @property
    def end_id(self) -> int:
        return self.end_token_id

    @property
    def vocab_size(self) -> int:
        """Number of ids the model must embed (50,260 for GPT-2's with pad, start and end)."""
        return self.vocabulary_size()

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (for GPT-2's, exactly as its encoder.py gives them)."""
        return self.tokenize(text).tolist()

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids`` (for GPT-2's, ``decode(encode(s)) == s`` for every ``s``)."""
        return self.detokenize([int(i) for i in ids])


# Registered under its first name, GPT2Tokenizer, which the presets saved before it was
# renamed still name in their tokenizer.json.
@keras.saving.register_keras_serializable(package="gpt_lesson", name="GPT2Tokenizer")
class BookGPT2Tokenizer(TextIds, PieceSplittingTokenizer):
    """GPT-2's byte-level BPE as this book uses it: GPT-2's pieces exactly, the book's pad,
    start and end tokens, and vocabularies trimmed to a corpus. (KerasHub's own
    ``keras_hub.tokenizers.GPT2Tokenizer`` approximates the pieces and has none of these.)

    ``encode``/``decode`` work on Python strings and lists; calling the layer on a string
    tensor (for example inside ``Dataset.map``) runs the graph path, which gives the
    same ids. Decoding a special id gives its name, e.g. ``"<|start|>"``. The vocabulary
    may be GPT-2's whole (:func:`load_gpt2_tokenizer`) or a trimmed one (:meth:`trimmed`);
    either way it holds the three special tokens, which KerasHub's preprocessors find as
    ``pad_token_id``, ``start_token_id`` and ``end_token_id``. A trimmed one knows which
    GPT-2 id each of its ids stands for (``kept``), and saves it in its config as
    ``gpt2_ids`` (in a preset's ``tokenizer.json``).
    """

    split_into_pieces = staticmethod(split_into_pieces)
    special_tokens_by_role = {
        "pad_token": "<|pad|>",
        "start_token": "<|start|>",
        "end_token": "<|end|>",
    }

    def __init__(self, vocabulary=None, merges=None, gpt2_ids=None, **kwargs) -> None:
        super().__init__(vocabulary=vocabulary, merges=merges, **kwargs)
        # The GPT-2 ids a trimmed tokenizer kept; None: its ids are GPT-2's own.
        self.kept = None if gpt2_ids is None else Vocabulary(tuple(gpt2_ids))

    def get_config(self) -> dict:
        config = super().get_config()
        if self.kept is not None:
            config["gpt2_ids"] = list(self.kept.gpt2_ids)
        return config

    def trimmed(self, keep: Vocabulary) -> BookGPT2Tokenizer:
        """A tokenizer whose id i is this one's ``keep.gpt2_ids[i]``, and that says so
        (its ``kept`` is ``keep``). This one must number GPT-2's ids itself (not be trimmed).

        Only merges whose result is kept survive. When ``keep`` is :func:`spellable`, every
        string still encodes (the 256 bytes are kept), and a string whose GPT-2 tokens are
        all kept gets exactly GPT-2's tokens: the merges GPT-2 applies to reach a kept token
        are all kept too, so no other merge can come first.
        """
        if self.kept is not None:
            raise ValueError(
                "Trim GPT-2's whole tokenizer (load_gpt2_tokenizer()), not a trimmed one."
            )
        names = {**{i: t for t, i in EXTRA_TOKENS.items()}}
        tokens = [names.get(i) or self.id_to_token(i) for i in keep.gpt2_ids]
        kept_tokens = set(tokens)
        merges = [merge for merge in self.merges if merge.replace(" ", "") in kept_tokens]
        if not merges:  # KerasHub's merge table cannot be built from an empty list
            raise ValueError(
                "The trimmed vocabulary holds no merged token, only bytes and specials: build "
                "it from a text of more than single characters (spellable(tokenizer, ids))."
            )
        return type(self)({token: i for i, token in enumerate(tokens)}, merges, keep.gpt2_ids)


def merge_parents(tokenizer: BookGPT2Tokenizer) -> dict[str, tuple[str, str]]:
    """Each merged token and the two tokens its merge rule joins."""
    rules = (merge.split(" ") for merge in tokenizer.merges)
    return {left + right: (left, right) for left, right in rules}


def spellable(tokenizer: BookGPT2Tokenizer, gpt2_ids) -> Vocabulary:
    """``gpt2_ids``, the 256 byte tokens, the special tokens and every token a kept token is
    merged from.

    The bytes let any text be spelled; the ancestors let the trimmed tokenizer reach each
    kept token by GPT-2's own merges (see :meth:`BookGPT2Tokenizer.trimmed`).
    """
    parents = merge_parents(tokenizer)
    gpt2_ids = [*gpt2_ids, *SPECIAL_TOKENS.values()]
    tokens = {tokenizer.id_to_token(int(i)) for i in gpt2_ids if int(i) < tokenizer.vocab_size}
    tokens |= set(pre_tokenizers.ByteLevel.alphabet())
    todo = list(tokens)
    while todo:
        for parent in parents.get(todo.pop(), ()):
            if parent not in tokens:
                tokens.add(parent)
                todo.append(parent)
    extra = {int(i) for i in gpt2_ids if int(i) >= tokenizer.vocab_size}
    return Vocabulary(tuple(sorted({tokenizer.token_to_id(t) for t in tokens} | extra)))


def gpt2_tokenizer_from_files(vocabulary: str | Path, merges: str | Path) -> BookGPT2Tokenizer:
    """GPT-2's tokenizer from its two files (``encoder.json`` or Hugging Face's
    ``vocab.json``; ``vocab.bpe`` or ``merges.txt``), the seed's pad, start and end appended
    after the vocabulary: ids 50,257 to 50,259 for GPT-2's own."""
    table = read_vocabulary(vocabulary)
    appended = {token: len(table) + i for i, token in enumerate(SPECIAL_TOKENS)}
    return BookGPT2Tokenizer({**table, **appended}, read_merges(merges))


def load_gpt2_tokenizer() -> BookGPT2Tokenizer:
    """GPT-2's tokenizer built from the two files ``fetch`` provides."""
    return gpt2_tokenizer_from_files(fetch("gpt2-encoder"), fetch("gpt2-merges"))


def tiktoken_reference() -> tiktoken.Encoding:
    """An independent implementation to check against: tiktoken's GPT-2 encoding, built
    from the same two local files (tiktoken would otherwise download them)."""
    ranks = data_gym_to_mergeable_bpe_ranks(str(fetch("gpt2-merges")), str(fetch("gpt2-encoder")))
    return tiktoken.Encoding(
        name="gpt2-local", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={}
    )
