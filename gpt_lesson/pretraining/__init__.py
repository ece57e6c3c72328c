"""Pre-training (chapter 3): token ids cut into windows for ``tf.data`` (``pipeline``), the
masked LM loss and its metrics (``objectives``), ``pretrain`` and the run folder it writes
(``train``) and its logs read back (``history``), exact resumption (``resume``),
``tf.distribute`` (``distribute``), and the uncached generation loop beside KerasHub's cached
one (``generate``, ``sampler_settings``). The optimizer and its schedules are shared with
fine-tuning, in ``gpt_lesson.optimization``."""

from gpt_lesson._lazy import lazy_exports

_PUBLIC = {
    "masked_lm_loss": "objectives",
    "MaskedLMLoss": "objectives",
    "MaskedAccuracy": "objectives",
    "LMData": "train",
    "load_shakespeare": "train",
    "pretrain": "train",
    "generate_texts": "generate",
    "make_strategy": "distribute",
    "cached_next": "generate",
    "read_log": "history",
    "bits_per_character": "objectives",
    "perplexity": "objectives",
    "token_nll": "objectives",
    "steps_per_epoch": "train",
    "matthews_correlation": "objectives",
    "text_nats_and_bits": "train",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
