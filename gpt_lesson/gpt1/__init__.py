"""GPT-1 as a KerasHub model family (chapters 2, 3, 5), in the shape of KerasHub's ``gpt2``:
``backbone`` (ids -> hidden states), ``causal_lm`` (logits and generation) and its
``causal_lm_preprocessor`` (text -> ids), ``classifier`` (the head W_y on the extract token),
``presets`` (saved whole or not at all, loaded with one clear error per bad file),
``attention`` (every block's attention weights) and ``convert`` (the released GPT-1 and GPT-2
from Hugging Face checkpoints). The model and its head import without TensorFlow."""

from gpt_lesson._lazy import lazy_exports

_PUBLIC = {
    "GPT1Backbone": "backbone",
    "GPT1CausalLM": "causal_lm",
    "build_gpt": "causal_lm",
    "GPT1CausalLMPreprocessor": "causal_lm_preprocessor",
    "GPT1Classifier": "classifier",
    "GPT1ClassifierPreprocessor": "classifier",
    "ExtractState": "classifier",
    "ClassificationHead": "classifier",
    "build_classifier": "classifier",
    "extend_checkpoint": "classifier",
    "load_classifier": "classifier",
    "Checkpoint": "presets",
    "CheckpointError": "presets",
    "load_checkpoint": "presets",
    "save_preset": "presets",
    "attention_weights": "attention",
    "convert_checkpoint": "convert",
    "FineTuningClassifier": "classifier",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
