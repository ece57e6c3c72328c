"""The classifier of GPT-1's fine-tuning: W_y on the final hidden state at the extract token.

GPT-1's second stage keeps the pre-trained Transformer and adds one linear layer W_y that
reads the final hidden state h at the extract token: P(y | x) = softmax(h W_y). The model
keeps its language-model output, through the same tied embedding W_e, for the auxiliary
objective L1 (``gpt_lesson.tasks.fine_tuning``). A task's tokens that the pre-trained vocabulary
lacks get output units of their own first (:func:`extend_checkpoint`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import keras_hub
import numpy as np
from keras import ops

from gpt_lesson.config import GPTConfig
from gpt_lesson.gpt1._deferred import Deferred
from gpt_lesson.gpt1.backbone import GPT1Backbone
from gpt_lesson.gpt1.causal_lm import GPT1CausalLM, build_gpt
from gpt_lesson.gpt1.presets import (
    Checkpoint,
    CheckpointError,
    check_preset_files,
    check_same_config,
    check_task_class,
    load_task,
    read_backbone_config,
)
from gpt_lesson.tasks.transformations import SPECIAL, SpecialIds
from gpt_lesson.tokenizer.vocabulary import Vocabulary

if TYPE_CHECKING:  # tokenizers need TensorFlow; the head does not
    from gpt_lesson.tokenizer.gpt2 import GPT2Tokenizer


def extend_checkpoint(
    checkpoint: Checkpoint,
    new_gpt2_ids: Sequence[int],
    special: SpecialIds = SPECIAL,
    seed=0,
    tokenizer: GPT2Tokenizer | keras_hub.tokenizers.Tokenizer | None = None,
) -> tuple[Checkpoint, int]:
    """The checkpoint with output units for ``new_gpt2_ids`` and the special tokens too.

    Every weight is copied, except the embedding rows of ids the checkpoint lacked and of
    the special tokens, which are drawn from N(0, 0.02) like the model's own
    initialisation. With GPT-2's ``tokenizer``, the vocabulary stays spellable (its bytes
    and merge ancestors are kept) and the model gets the matching trimmed tokenizer, so
    the fine-tuned classifier can read text. Another tokenizer (a converted GPT-1's) must
    already number every id: the model keeps it, and only the special rows are drawn anew.
    Returns the new checkpoint and how many ids were added.
    """
    # Tokenizers need TensorFlow, which the rest of this module (the head) does not.
    from gpt_lesson.gpt1.causal_lm_preprocessor import GPT1CausalLMPreprocessor
    from gpt_lesson.tokenizer.gpt2 import GPT2Tokenizer, spellable

    config = checkpoint.config
    old_ids = (
        checkpoint.vocabulary.gpt2_ids
        if checkpoint.vocabulary is not None
        else tuple(range(config.vocab_size))
    )
    wanted = sorted({*old_ids, *map(int, new_gpt2_ids), *special.fresh})
    if isinstance(tokenizer, GPT2Tokenizer):
        vocabulary = spellable(tokenizer, wanted)
        tokenizer = tokenizer.trimmed(vocabulary)
    else:
        vocabulary = Vocabulary(tuple(wanted))
        check_numbers_all(tokenizer, vocabulary)
    grown = dataclasses.replace(config, vocab_size=vocabulary.size)
    model = build_gpt(grown)
    old_backbone, backbone = checkpoint.model.backbone, model.backbone
    for layer in old_backbone.layers:
        if layer.weights and layer.name != "embedding":
            backbone.get_layer(layer.name).set_weights(layer.get_weights())

    old_tokens, positions = old_backbone.embedding.get_weights()
    rng = np.random.default_rng(seed)
    tokens = rng.normal(0.0, config.initializer_range, (vocabulary.size, config.hidden_dim))
    kept = np.setdiff1d(np.asarray(old_ids), np.asarray(special.fresh))
    tokens[vocabulary.compact(kept)] = old_tokens[np.searchsorted(np.asarray(old_ids), kept)]
    backbone.embedding.set_weights([tokens.astype(old_tokens.dtype), positions])
    if tokenizer is not None:
        preprocessor = GPT1CausalLMPreprocessor(tokenizer, grown.sequence_length)
        model = GPT1CausalLM(backbone, preprocessor)
    return Checkpoint(model, grown, vocabulary), vocabulary.size - len(old_ids)


def check_numbers_all(
    tokenizer: keras_hub.tokenizers.Tokenizer | None, vocabulary: Vocabulary
) -> None:
    """Refuse a tokenizer (other than GPT-2's, which can be trimmed) whose ids are not
    exactly the vocabulary's."""
    if tokenizer is not None and vocabulary.gpt2_ids != tuple(range(tokenizer.vocabulary_size())):
        raise ValueError(
            f"{type(tokenizer).__name__} numbers {tokenizer.vocabulary_size():,} ids, but the "
            f"model needs ids {vocabulary.gpt2_ids[0]} to {vocabulary.gpt2_ids[-1]} "
            f"({vocabulary.size:,} of them): only GPT-2's tokenizer can be trimmed or grown."
        )


class ExtractState(keras.layers.Layer):
    """The hidden state at the (first) extract token of each sequence: (batch, d)."""

    def __init__(self, extract_id: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.extract_id = extract_id

    def call(self, hidden, token_ids):
        is_extract = ops.cast(ops.equal(token_ids, self.extract_id), "int32")
        position = ops.one_hot(ops.argmax(is_extract, axis=1), ops.shape(token_ids)[1])
        return ops.einsum("bt,btd->bd", ops.cast(position, hidden.dtype), hidden)

    def get_config(self) -> dict:
        return {**super().get_config(), "extract_id": self.extract_id}


def head_layer(units: int, initializer_range: float = 0.02) -> keras.layers.Dense:
    """W_y (with a bias), initialised N(0, 0.02) like the rest of the model."""
    return keras.layers.Dense(
        units,
        kernel_initializer=keras.initializers.RandomNormal(stddev=initializer_range),
        name="classification_head",
    )


class MultiSequenceClassifier(keras.Model):
    """The head for examples of several sequences, ids (batch, sequences, T): every
    sequence runs through the Transformer alone; ``"sum"`` adds their extract states before
    W_y (similarity), ``"choose"`` scores each with W_y and takes a softmax over them
    (multiple choice). Outputs as :func:`build_classifier`'s, with the LM logits per
    sequence (batch, sequences, T, V)."""

    def __init__(self, language_model, config, extract_id, combine, num_classes, dropout):
        super().__init__(name="gpt_classifier")
        self.body = hidden_and_lm_logits(language_model.backbone)
        self.extract = ExtractState(extract_id, name="extract_state")
        self.dropout = keras.layers.Dropout(dropout, name="head_dropout")
        self.head = head_layer(1 if combine == "choose" else num_classes, config.initializer_range)
        self.combine, self.width = combine, config.hidden_dim

    def call(self, token_ids, training=False):
        batch, sequences, length = ops.shape(token_ids)
        flat = ops.reshape(token_ids, (-1, length))
        hidden, lm_logits = self.body(flat, training=training)
        states = ops.reshape(self.extract(hidden, flat), (batch, sequences, self.width))
        if self.combine == "sum":
            label = self.head(self.dropout(ops.sum(states, axis=1), training=training))
        else:
            label = ops.squeeze(self.head(self.dropout(states, training=training)), axis=-1)
        return {"label": label, "lm": ops.reshape(lm_logits, (batch, sequences, length, -1))}


def build_classifier(
    language_model: keras.Model,
    config: GPTConfig,
    extract_id: int,
    num_classes: int = 2,
    dropout: float = 0.1,
    combine: str = "one",
) -> keras.Model:
    """ids -> {"label": class logits (batch, classes), "lm": LM logits (batch, seq, V)}.

    The head is dropout then a linear layer W_y initialised N(0, 0.02); the LM logits are
    the pre-trained model's own, through the tied embedding W_e, for the auxiliary L1.
    ``combine`` is the task's (``transformations.Task``): other than ``"one"``, the ids
    hold several sequences per example (:class:`MultiSequenceClassifier`).
    """
    if combine != "one":
        return MultiSequenceClassifier(
            language_model, config, extract_id, combine, num_classes, dropout
        )
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    hidden, lm_logits = hidden_and_lm_logits(language_model.backbone)(token_ids)
    state = ExtractState(extract_id, name="extract_state")(hidden, token_ids)
    state = keras.layers.Dropout(dropout, name="head_dropout")(state)
    class_logits = head_layer(num_classes, config.initializer_range)(state)
    outputs = {"label": class_logits, "lm": lm_logits}
    return keras.Model(token_ids, outputs, name="gpt_classifier")


def hidden_and_lm_logits(backbone: GPT1Backbone) -> keras.Model:
    """ids -> (final hidden states h, LM logits h W_e^T), one pass through ``backbone``."""
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    hidden = backbone(token_ids)
    return keras.Model(token_ids, [hidden, backbone.token_embedding(hidden, reverse=True)])


@keras.saving.register_keras_serializable(package="gpt_lesson")
class GPT1ClassifierPreprocessor(keras_hub.models.Preprocessor):
    """Text -> ids as GPT-1's classification transformation writes them: start, the
    sentence's BPE ids (its beginning, if too long), extract, then pads."""

    backbone_cls = GPT1Backbone
    tokenizer_cls = Deferred("gpt_lesson.tokenizer.gpt2", "GPT2Tokenizer")

    @classmethod
    def from_config(cls, config: dict) -> GPT1ClassifierPreprocessor:
        """Keras rebuilds the saved tokenizer by its registered name, which exists only once
        its module is imported: reading ``tokenizer_cls`` imports it."""
        _ = cls.tokenizer_cls
        return super().from_config(config)

    def __init__(self, tokenizer: GPT2Tokenizer, sequence_length: int = 512, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tokenizer, self.sequence_length = tokenizer, sequence_length
        self.packer = None

    def build(self, input_shape) -> None:
        # Built here, not in __init__: a preset's tokenizer learns its special ids only when
        # its vocabulary is loaded, after the preprocessor is constructed (as in KerasHub's
        # own preprocessors). Built earlier, the packer would add no start, extract or pad.
        self.packer = keras_hub.layers.StartEndPacker(
            sequence_length=self.sequence_length,
            start_value=self.tokenizer.start_token_id,
            end_value=self.tokenizer.end_token_id,  # the extract token, <|end|>
            pad_value=self.tokenizer.pad_token_id,
        )
        self.built = True

    def call(self, x, y=None, sample_weight=None):
        token_ids = self.packer(self.tokenizer(x))
        return keras.utils.pack_x_y_sample_weight(token_ids, y, sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), "sequence_length": self.sequence_length}


@keras.saving.register_keras_serializable(package="gpt_lesson")
class GPT1Classifier(keras_hub.models.TextClassifier):
    """A fine-tuned GPT-1 as a KerasHub text classifier: text -> class logits.

    The network of :func:`build_classifier` without the LM output fine-tuning needed:
    backbone, the hidden state at the extract token, dropout, W_y. Saved with
    ``save_preset`` and loaded with ``from_preset``; ``labels`` names the classes.
    """

    backbone_cls = GPT1Backbone
    preprocessor_cls = GPT1ClassifierPreprocessor

    def __init__(
        self,
        backbone: GPT1Backbone,
        num_classes: int,
        extract_id: int,
        labels: Sequence[str] = (),
        preprocessor: GPT1ClassifierPreprocessor | None = None,
        dropout: float = 0.1,
        **kwargs,
    ) -> None:
        # === Layers ===
        self.backbone, self.preprocessor = backbone, preprocessor
        self.extract = ExtractState(extract_id, name="extract_state")
        self.head_dropout = keras.layers.Dropout(dropout, name="head_dropout")
        self.head = head_layer(num_classes, backbone.gpt_config.initializer_range)
        # === Functional model ===
        token_ids = backbone.input
        state = self.extract(backbone(token_ids), token_ids)
        super().__init__(inputs=token_ids, outputs=self.head(self.head_dropout(state)), **kwargs)
        # === Config ===
        self.num_classes, self.extract_id, self.dropout = num_classes, extract_id, dropout
        self.labels = tuple(labels) or tuple(str(k) for k in range(num_classes))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "extract_id": self.extract_id,
            "labels": list(self.labels),
            "dropout": self.dropout,
        }

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """P(class | text) for each text: (len(texts), num_classes)."""
        return keras.ops.convert_to_numpy(keras.ops.softmax(self.predict(list(texts), verbose=0)))


def as_text_classifier(
    trained: keras.Model,
    backbone: GPT1Backbone,
    tokenizer: GPT2Tokenizer,
    extract_id: int,
    labels: Sequence[str],
) -> GPT1Classifier:
    """The fine-tuned ``trained`` (from :func:`build_classifier` on ``backbone``) as a
    ``GPT1Classifier`` that reads text: the same backbone, a copy of its W_y."""
    head = trained.get_layer("classification_head")
    classifier = GPT1Classifier(
        backbone,
        num_classes=head.units,
        extract_id=extract_id,
        labels=labels,
        preprocessor=GPT1ClassifierPreprocessor(tokenizer, backbone.gpt_config.sequence_length),
        dropout=trained.get_layer("head_dropout").rate,
    )
    classifier.head.set_weights(head.get_weights())
    return classifier


def load_classifier(folder: str | Path) -> GPT1Classifier:
    """The fine-tuned classifier saved in ``folder``, with one clear error per bad file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(
            f"{folder}: no such folder. Pass a folder written by `python -m gpt_lesson "
            "finetune --out FOLDER` (it holds a fine-tuned classifier's config.json, "
            "task.json and model.weights.h5)."
        )
    config = read_backbone_config(folder)
    check_preset_files(folder)
    check_task_class(folder, GPT1Classifier, "`python -m gpt_lesson finetune --out FOLDER`")
    classifier = load_task(GPT1Classifier, folder)
    check_same_config(classifier.backbone, config, folder)
    return classifier
