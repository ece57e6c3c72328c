"""gpt_lesson: the companion package of the gpt-lesson book.

Each module holds one idea of GPT-1 and is taught by one chapter:

- ``data``: the sources table and ``fetch`` (download, mirror, sha256, cache) (chapter 1);
- ``tokenizer``: GPT-2's byte-level BPE, exactly, eager and inside ``tf.data``, and
  trimmed vocabularies that can still spell any text (1, 3);
- ``adapter``: the only module that touches KerasHub's internals, version-checked;
- ``pipeline``: token ids cached on disk, the seed's framing and the standard one (1, 3);
- ``config``: ``GPTConfig``, presets, training recipes and profiles (2, 3);
- ``model``: ``GPT1Backbone`` and ``GPT1CausalLM``, as KerasHub models built from KerasHub
  layers, and the parameter count; they import without TensorFlow (2, 3);
- ``causal_lm_preprocessor``: text -> the ids and mask the model reads (TensorFlow) (3);
- ``special_tokens``: the ids of the tokens GPT-2's vocabulary lacks, in one place (1, 5);
- ``deferred``: a model class names its TensorFlow-based preprocessor without importing it;
- ``objectives``: the masked LM loss, accuracy, perplexity, bits per character (3);
- ``vocabulary``: a vocabulary trimmed to the ids a corpus uses (3);
- ``train``: AdamW, warmup + cosine, the run folder it writes (3);
- ``checkpoints``: presets saved whole or not at all, and loaded back with one clear error
  for each bad file (3);
- ``convert`` and ``gpt1_tokenizer``: the released GPT-1 and GPT-2 from Hugging Face
  checkpoints, as presets of the book's model, and GPT-1's own BPE ("The real weights");
- ``resume``: the run state that lets a killed run continue exactly (3);
- ``distribute``: ``tf.distribute`` strategies, from one CPU to many machines (appendix);
- ``generate``: the cached loop beside its uncached reference, batches of text (3);
- ``sampler_settings``: what a KerasHub sampler may be set to, checked before it samples (3);
- ``attention``: every block's attention weights (2, 3);
- ``blog``: the seed's code path, faithfully, and its one-factor recipes (4);
- ``diagnostics``: checks for a model whose metric does not move (4);
- ``layer_probe`` and ``held_out``: per-layer gradients, Adam's steps and the output change
  during ``fit``, and every run judged on the same held-out text (4);
- ``study``: chapter 4's grid of runs, and how a run met the plateau (4);
- ``transformations``, ``classifier``, ``batches``: a task's input as GPT-1 reads it, the
  head W_y on the extract token, and batches by length (5);
- ``finetune``, ``zero_shot`` and ``cola``: L3 = L2 + λ·L1, the LM alone, CoLA's ablation (5);
- ``plots``, ``diagrams``, ``tables``, ``source``: the book's figures, tables and shown code;
- ``files``: writing a file whole or not at all (every file the package writes);
- ``runtime``: TensorFlow's settings, chosen before it starts (oneDNN on);
- ``doctor``: whether this machine has what the book and its tests need.
"""

import importlib

from gpt_lesson import runtime

# Before any module imports TensorFlow: oneDNN on, start-up chatter off (see runtime).
runtime.apply_defaults()

__version__ = "0.1.0"

# The public API: each name and the module that defines it. They are imported on first
# use, so that ``import gpt_lesson`` stays light and TensorFlow starts only when needed.
_PUBLIC = {
    "GPTConfig": "config",
    "TrainConfig": "config",
    "PRESETS": "config",
    "TRAINING": "config",
    "get_preset": "config",
    "GPT1Backbone": "model",
    "GPT1CausalLM": "model",
    "GPT1CausalLMPreprocessor": "causal_lm_preprocessor",
    "build_gpt": "model",
    "parameter_count": "model",
    "GPT2Tokenizer": "tokenizer",
    "GPT1Tokenizer": "gpt1_tokenizer",
    "load_gpt2_tokenizer": "tokenizer",
    "spellable": "tokenizer",
    "Vocabulary": "vocabulary",
    "Checkpoint": "checkpoints",
    "CheckpointError": "checkpoints",
    "load_checkpoint": "checkpoints",
    "save_preset": "checkpoints",
    "convert_checkpoint": "convert",
    "load_shakespeare": "train",
    "pretrain": "train",
    "generate_texts": "generate",
    "attention_weights": "attention",
    "GPT1Classifier": "classifier",
    "GPT1ClassifierPreprocessor": "classifier",
    "load_classifier": "classifier",
    "FinetuneConfig": "finetune",
    "prepare_cola": "cola",
    "run_once": "cola",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"gpt_lesson.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module 'gpt_lesson' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
