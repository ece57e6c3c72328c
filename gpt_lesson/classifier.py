"""The classifier of GPT-1's fine-tuning: W_y on the final hidden state at the extract token.

GPT-1's second stage keeps the pre-trained Transformer and adds one linear layer W_y that
reads the final hidden state h at the extract token: P(y | x) = softmax(h W_y). The model
keeps its language-model output, through the same tied embedding W_e, for the auxiliary
objective L1 (``gpt_lesson.finetune``). A task's tokens that the pre-trained vocabulary
lacks get output units of their own first (:func:`extend_checkpoint`).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from gpt_lesson.checkpoints import Checkpoint
from gpt_lesson.config import GPTConfig
from gpt_lesson.model import build_gpt
from gpt_lesson.transformations import SPECIAL, SpecialIds
from gpt_lesson.vocabulary import Vocabulary


def extend_checkpoint(
    checkpoint: Checkpoint, new_gpt2_ids: Sequence[int], special: SpecialIds = SPECIAL, seed=0
) -> tuple[Checkpoint, int]:
    """The checkpoint with output units for ``new_gpt2_ids`` and the special tokens too.

    Every weight is copied, except the embedding rows of ids the checkpoint lacked and of
    the special tokens, which are drawn from N(0, 0.02) like the model's own
    initialisation. Returns the new checkpoint and how many ids were added.
    """
    config = checkpoint.config
    old_ids = (
        checkpoint.vocabulary.gpt2_ids
        if checkpoint.vocabulary is not None
        else tuple(range(config.vocab_size))
    )
    vocabulary = Vocabulary(tuple(sorted({*old_ids, *map(int, new_gpt2_ids), *special.fresh})))
    grown = GPTConfig(**{**config.__dict__, "vocab_size": vocabulary.size})
    model = build_gpt(grown)
    for layer in checkpoint.model.layers:
        if layer.weights and layer.name not in ("embedding", "token_embedding"):
            model.get_layer(layer.name).set_weights(layer.get_weights())

    old_tokens, positions = checkpoint.model.get_layer("embedding").get_weights()
    rng = np.random.default_rng(seed)
    tokens = rng.normal(0.0, config.initializer_range, (vocabulary.size, config.hidden_dim))
    kept = np.setdiff1d(np.asarray(old_ids), np.asarray(special.fresh))
    tokens[vocabulary.compact(kept)] = old_tokens[np.searchsorted(np.asarray(old_ids), kept)]
    model.get_layer("embedding").set_weights([tokens.astype(old_tokens.dtype), positions])
    return Checkpoint(model, grown, vocabulary), vocabulary.size - len(old_ids)


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


def final_hidden_layer(config: GPTConfig) -> str:
    """The layer whose output feeds W_e: the final layer norm (pre-LN) or the last block."""
    return "final_layer_norm" if config.normalize_first else f"decoder_{config.num_layers - 1}"


def head_layer(units: int, config: GPTConfig) -> keras.layers.Dense:
    """W_y (with a bias), initialised N(0, 0.02) like the rest of the model."""
    return keras.layers.Dense(
        units,
        kernel_initializer=keras.initializers.RandomNormal(stddev=config.initializer_range),
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
        hidden = language_model.get_layer(final_hidden_layer(config)).output
        self.body = keras.Model(language_model.input, [hidden, language_model.output])
        self.extract = ExtractState(extract_id, name="extract_state")
        self.dropout = keras.layers.Dropout(dropout, name="head_dropout")
        self.head = head_layer(1 if combine == "choose" else num_classes, config)
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
    token_ids = language_model.input
    hidden = language_model.get_layer(final_hidden_layer(config)).output
    state = ExtractState(extract_id, name="extract_state")(hidden, token_ids)
    state = keras.layers.Dropout(dropout, name="head_dropout")(state)
    class_logits = head_layer(num_classes, config)(state)
    outputs = {"label": class_logits, "lm": language_model.output}
    return keras.Model(token_ids, outputs, name="gpt_classifier")
