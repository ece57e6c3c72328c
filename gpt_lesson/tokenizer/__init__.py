"""Text to ids (chapter 1): GPT-2's byte-level BPE, exactly, eager and inside ``tf.data``
(``gpt2``); vocabularies trimmed to the ids a corpus uses that can still spell any text
(``vocabulary``); the one home of the ids this book gives its special tokens
(``special_tokens``, free of TensorFlow); and GPT-1's own BPE, for the released weights
(``gpt1``)."""

from gpt_lesson._lazy import lazy_exports

_PUBLIC = {
    "BookGPT2Tokenizer": "gpt2",
    "gpt2_tokenizer_from_files": "gpt2",
    "load_gpt2_tokenizer": "gpt2",
    "spellable": "gpt2",
    "GPT1Tokenizer": "gpt1",
    "gpt1_tokenizer_from_files": "gpt1",
    "Vocabulary": "vocabulary",
    "SPECIAL_TOKENS": "special_tokens",
    "EXTRA_TOKENS": "special_tokens",
    "GPT2_PATTERN": "gpt2",
    "read_merges": "gpt2",
    "read_vocabulary": "gpt2",
    "split_into_pieces": "gpt2",
    "tiktoken_reference": "gpt2",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
