"""The classifier of GPT-1's fine-tuning: W_y on the final hidden state at the extract token.

GPT-1's second stage keeps the pre-trained Transformer and adds one linear layer W_y that
reads the final hidden state h at the extract token: P(y | x) = softmax(h W_y). The model
keeps its language-model output, through the same tied embedding W_e, for the auxiliary
objective L1 (``gpt_lesson.tasks.fine_tuning``). A task's tokens that the pre-trained vocabulary
lacks get output units of their own first (:func:`extend_checkpoint`).

The head is one layer, :class:`ClassificationHead`: fine-tuning trains it beside the LM
output (:func:`build_classifier`), and the fine-tuned :class:`GPT1Classifier`, a KerasHub
text classifier saved as a preset, keeps the same backbone and head.
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
from gpt_lesson.gpt1.presets import Checkpoint, PresetKind, load_task
from gpt_lesson.tasks.transformations import COMBINES, SPECIAL, SpecialIds
from gpt_lesson.tokenizer.vocabulary import Vocabulary

if TYPE_CHECKING:  # tokenizers need TensorFlow; the head does not
    from gpt_lesson.tokenizer.gpt2 import BookGPT2Tokenizer


def extend_checkpoint(
    checkpoint: Checkpoint,
    new_gpt2_ids: Sequence[int],
    special: SpecialIds = SPECIAL,
    seed=0,
    tokenizer: BookGPT2Tokenizer | keras_hub.tokenizers.Tokenizer | None = None,
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
    from gpt_lesson.tokenizer.gpt2 import BookGPT2Tokenizer, spellable

    config = checkpoint.config
    old_ids = (
        checkpoint.vocabulary.gpt2_ids
        if checkpoint.vocabulary is not None
        else tuple(range(config.vocab_size))
    )
    wanted = sorted({*old_ids, *map(int, new_gpt2_ids), *special.fresh})
    if isinstance(tokenizer, BookGPT2Tokenizer):
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
    """The hidden state at the (first) extract token of each sequence: (..., T, d) -> (..., d)."""

    def __init__(self, extract_id: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.extract_id = extract_id

    def call(self, hidden, token_ids):
        is_extract = ops.cast(ops.equal(token_ids, self.extract_id), "int32")
        position = ops.one_hot(ops.argmax(is_extract, axis=-1), ops.shape(token_ids)[-1])
        return ops.einsum("...t,...td->...d", ops.cast(position, hidden.dtype), hidden)

    def get_config(self) -> dict:
        return {**super().get_config(), "extract_id": self.extract_id}


class ClassificationHead(keras.layers.Layer):
    """GPT-1's head: the hidden state at the extract token, dropout, then W_y (with a bias,
    initialised N(0, 0.02) like the rest of the model).

    The one head of the package: fine-tuning trains it (:func:`build_classifier`) and the
    saved :class:`GPT1Classifier` reads text with the same object, so nothing is copied.
    ``combine`` is the task's (``gpt_lesson.tasks.transformations.Task``): ``"one"`` reads
    one sequence an example; for several, ``"sum"`` adds their states before W_y
    (similarity) and ``"choose"`` scores each with a one-unit W_y, the logits being over
    the sequences (multiple choice).
    """

    def __init__(
        self,
        extract_id: int,
        num_classes: int = 2,
        dropout: float = 0.1,
        combine: str = "one",
        initializer_range: float = 0.02,
        **kwargs,
    ) -> None:
        if combine not in COMBINES:
            raise ValueError(f"combine must be one of {COMBINES}, got {combine!r}.")
        super().__init__(**kwargs)
        self.extract = ExtractState(extract_id, name="extract_state")
        self.dropout = keras.layers.Dropout(dropout, name="head_dropout")
        self.w_y = keras.layers.Dense(
            1 if combine == "choose" else num_classes,
            kernel_initializer=keras.initializers.RandomNormal(stddev=initializer_range),
            name="w_y",
        )
        self.extract_id, self.num_classes, self.rate = extract_id, num_classes, dropout
        self.combine, self.initializer_range = combine, initializer_range

    def build(self, hidden_shape, token_ids_shape=None) -> None:
        self.w_y.build((None, hidden_shape[-1]))  # W_y reads states of width d

    def call(self, hidden, token_ids, training=None):
        """Final hidden states (batch, T, d) and ids (batch, T), or (batch, sequences, T, d)
        and (batch, sequences, T) for ``"sum"`` and ``"choose"`` -> class logits."""
        states = self.extract(hidden, token_ids)
        if self.combine == "sum":
            states = ops.sum(states, axis=1)
        logits = self.w_y(self.dropout(states, training=training))
        return ops.squeeze(logits, axis=-1) if self.combine == "choose" else logits

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "extract_id": self.extract_id,
            "num_classes": self.num_classes,
            "dropout": self.rate,
            "combine": self.combine,
            "initializer_range": self.initializer_range,
        }


class FineTuningClassifier(keras.Model):
    """What fine-tuning trains: ids -> {"label": the head's class logits, "lm": the language
    model's logits h W_e^T, through the tied embedding, for the auxiliary L1}, from one pass
    through the backbone. Ids are (batch, T), or (batch, sequences, T) for a task of several
    sequences an example, each of which runs through the Transformer alone."""

    def __init__(self, backbone: GPT1Backbone, head: ClassificationHead, **kwargs) -> None:
        super().__init__(**{"name": "gpt_classifier", **kwargs})
        self.backbone, self.head = backbone, head
        head.build((None, None, backbone.gpt_config.hidden_dim))  # W_y exists from the start

    def call(self, token_ids, training=False):
        shape = ops.shape(token_ids)
        hidden = self.backbone(ops.reshape(token_ids, (-1, shape[-1])), training=training)
        lm_logits = self.backbone.token_embedding(hidden, reverse=True)

        def per_sequence(x):  # (batch × sequences, T, n) -> the ids' own shape, then n
            return ops.reshape(x, (*shape, x.shape[-1]))

        label = self.head(per_sequence(hidden), token_ids, training=training)
        return {"label": label, "lm": per_sequence(lm_logits)}


def build_classifier(
    language_model: keras.Model,
    config: GPTConfig,
    extract_id: int,
    num_classes: int = 2,
    dropout: float = 0.1,
    combine: str = "one",
) -> FineTuningClassifier:
    """ids -> {"label": class logits (batch, classes), "lm": LM logits (batch, seq, V)}.

    The pre-trained model's backbone with a fresh :class:`ClassificationHead`: dropout then
    a linear layer W_y initialised N(0, 0.02) on the hidden state at the extract token.
    The LM logits are the pre-trained model's own, through the tied embedding W_e, for the
    auxiliary L1. ``combine`` is the task's (``transformations.Task``): other than
    ``"one"``, the ids hold several sequences per example.
    """
    head = ClassificationHead(extract_id, num_classes, dropout, combine, config.initializer_range)
    return FineTuningClassifier(language_model.backbone, head)


@keras.saving.register_keras_serializable(package="gpt_lesson")
class GPT1ClassifierPreprocessor(keras_hub.models.Preprocessor):
    """Text -> ids as GPT-1's classification transformation writes them: start, the
    sentence's BPE ids (its beginning, if too long), extract, then pads."""

    backbone_cls = GPT1Backbone
    tokenizer_cls = Deferred("gpt_lesson.tokenizer.gpt2", "BookGPT2Tokenizer")

    @classmethod
    def from_config(cls, config: dict) -> GPT1ClassifierPreprocessor:
        """Keras rebuilds the saved tokenizer by its registered name, which exists only once
        its module is imported: reading ``tokenizer_cls`` imports it."""
        _ = cls.tokenizer_cls
        return super().from_config(config)

    def __init__(self, tokenizer: BookGPT2Tokenizer, sequence_length: int = 512, **kwargs) -> None:
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

    The backbone and the :class:`ClassificationHead` of one sequence, without the LM output
    fine-tuning needed. Made from a fine-tuned model by :func:`as_text_classifier` (the same
    backbone and ``head``), saved with ``save_preset`` and loaded with ``from_preset`` (or
    :func:`load_classifier`); ``labels`` names the classes.
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
        head: ClassificationHead | None = None,
        **kwargs,
    ) -> None:
        # === Layers ===
        self.backbone, self.preprocessor = backbone, preprocessor
        if head is None:
            initializer_range = backbone.gpt_config.initializer_range
            head = ClassificationHead(extract_id, num_classes, dropout, "one", initializer_range)
        check_head(head, num_classes, extract_id, dropout)
        self.head = head
        # === Functional model ===
        # The head's call traced in this model's graph, not the head as one layer: its
        # extract state, dropout and W_y are this model's own layers, as in the presets
        # saved before the head was a layer, so that their weights keep their saved places.
        token_ids = backbone.input
        super().__init__(
            inputs=token_ids, outputs=head.call(backbone(token_ids), token_ids), **kwargs
        )
        # === Config ===
        self.labels = tuple(labels) or tuple(str(k) for k in range(num_classes))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_classes": self.head.num_classes,
            "extract_id": self.head.extract_id,
            "labels": list(self.labels),
            "dropout": self.head.rate,
        }

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """P(class | text) for each text: (len(texts), num_classes)."""
        return keras.ops.convert_to_numpy(keras.ops.softmax(self.predict(list(texts), verbose=0)))


def check_head(head: ClassificationHead, num_classes: int, extract_id: int, dropout: float) -> None:
    """Refuse a head that reads several sequences, or that disagrees with the config."""
    if head.combine != "one":
        raise ValueError(
            f'GPT1Classifier reads one text; a head that combines several ("{head.combine}") '
            "cannot classify text alone."
        )
    if (head.num_classes, head.extract_id, head.rate) != (num_classes, extract_id, dropout):
        raise ValueError(
            f"The head has {head.num_classes} classes, extract id {head.extract_id} and "
            f"dropout {head.rate}, not {num_classes}, {extract_id} and {dropout}."
        )


def as_text_classifier(
    trained: FineTuningClassifier, tokenizer: BookGPT2Tokenizer, labels: Sequence[str]
) -> GPT1Classifier:
    """The fine-tuned ``trained`` as a ``GPT1Classifier`` that reads text with
    ``tokenizer``: the same backbone and the same head, nothing copied."""
    head, backbone = trained.head, trained.backbone
    return GPT1Classifier(
        backbone,
        num_classes=head.num_classes,
        extract_id=head.extract_id,
        labels=labels,
        preprocessor=GPT1ClassifierPreprocessor(tokenizer, backbone.gpt_config.sequence_length),
        dropout=head.rate,
        head=head,
    )


CLASSIFIER = PresetKind(
    GPT1Classifier,
    written_by="`python -m gpt_lesson finetune --out FOLDER`",
    no_folder="no such folder. Pass a folder written by `python -m gpt_lesson finetune --out "
    "FOLDER` (it holds a fine-tuned classifier's config.json, task.json and model.weights.h5).",
)


def load_classifier(folder: str | Path) -> GPT1Classifier:
    """The fine-tuned classifier saved in ``folder``, with one clear error per bad file."""
    return load_task(folder, CLASSIFIER)
