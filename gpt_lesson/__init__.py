"""gpt_lesson: the companion package of the gpt-lesson book, laid out by idea.

Each folder holds one idea of GPT-1 and is taught by the chapters named beside it:

- ``config`` (module): ``GPTConfig``, its presets and ``parameter_count``, training recipes
  and profiles (chapters 2, 3);
- ``data`` (module): the sources table and ``fetch`` (download, mirror, sha256, cache) and
  the corpus and task readers (1, 5);
- ``tokenizer/``: GPT-2's byte-level BPE, trimmed vocabularies, the one home of the special
  ids, GPT-1's own BPE (1);
- ``gpt1/``: the model family in KerasHub's shape: backbone, causal LM and its
  preprocessor, the classification head, presets, attention weights, converters from
  Hugging Face checkpoints (2, 3, 5, "The real weights");
- ``pretraining/``: windows and ``tf.data``, the masked LM loss, ``pretrain``, exact resume,
  ``tf.distribute``, the uncached generation loop (3, appendix);
- ``seed/``: the blog's code path, the checks for a metric that does not move, the layer
  probe, held-out judging and chapter 4's grid read back (4);
- ``tasks/``: input transformations, batches, fine-tuning with L3, zero-shot, CoLA, the
  play's own tasks, statistics (5, 6);
- ``figures/``: plots, diagrams, tables and code shown from source (every chapter);
- ``optimization`` (module): AdamW, the learning-rate schedules and the stop callbacks that
  pre-training and fine-tuning share (3, 5);
- ``_keras_hub``: the only module that touches Keras', KerasHub's or TensorFlow's private
  names, version-checked; ``_files``: files written whole or not at all; ``runtime``:
  TensorFlow's settings, chosen before it starts; ``doctor``: what this machine has;
  ``__main__``: the command line.

Code that makes the committed results lives outside the package, in ``experiments/``;
``benchmarks/`` only times things.
"""

from gpt_lesson import runtime
from gpt_lesson._lazy import lazy_exports

# Before any module imports TensorFlow: oneDNN on, start-up chatter off (see runtime).
runtime.apply_defaults()

__version__ = "0.1.0"

# The public API: each name and the module that defines it, imported on first use, so that
# ``import gpt_lesson`` stays light and TensorFlow starts only when needed.
_PUBLIC = {
    "GPTConfig": "config",
    "TrainConfig": "config",
    "PRESETS": "config",
    "TRAINING": "config",
    "get_preset": "config",
    "parameter_count": "config",
    "fetch": "data",
    "GPT1Backbone": "gpt1.backbone",
    "GPT1CausalLM": "gpt1.causal_lm",
    "build_gpt": "gpt1.causal_lm",
    "GPT1CausalLMPreprocessor": "gpt1.causal_lm_preprocessor",
    "GPT1Classifier": "gpt1.classifier",
    "GPT1ClassifierPreprocessor": "gpt1.classifier",
    "load_classifier": "gpt1.classifier",
    "Checkpoint": "gpt1.presets",
    "CheckpointError": "gpt1.presets",
    "load_checkpoint": "gpt1.presets",
    "save_preset": "gpt1.presets",
    "attention_weights": "gpt1.attention",
    "convert_checkpoint": "gpt1.convert",
    "BookGPT2Tokenizer": "tokenizer.gpt2",
    "GPT1Tokenizer": "tokenizer.gpt1",
    "load_gpt2_tokenizer": "tokenizer.gpt2",
    "spellable": "tokenizer.gpt2",
    "Vocabulary": "tokenizer.vocabulary",
    "masked_lm_loss": "pretraining.objectives",
    "load_shakespeare": "pretraining.train",
    "pretrain": "pretraining.train",
    "generate_texts": "pretraining.generate",
    "FinetuneConfig": "tasks.fine_tuning",
    "prepare_cola": "tasks.cola",
    "run_once": "tasks.cola",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
