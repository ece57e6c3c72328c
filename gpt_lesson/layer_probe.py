"""Per-layer gradient norms and update sizes during ``fit``: where learning happens.

Two questions about a deep network that will not learn, each asked of every layer:

- how large is the gradient that reaches it (Xiong et al. 2020 compare post-LN and pre-LN
  this way, at initialisation and later)?
- how far does one optimizer step move its weights, relative to their size (Liu et al.
  2020 argue that post-LN's trouble is the amplified effect of these updates)?

:class:`LayerProbe` answers both at chosen training steps: the gradient on one fixed
batch, computed without dropout so that it depends on the weights alone, and
``||W_after - W_before|| / ||W_before||`` over the real training step. A layer is a
top-level layer of the model (an embedding, a decoder block, the output), its norm the
Euclidean norm over all its variables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import keras
import numpy as np
import tensorflow as tf


def layer_of(variable: keras.Variable) -> str:
    """The top-level layer a variable belongs to: the first part of its path."""
    return variable.path.split("/")[0]


def layers_in_order(model: keras.Model) -> list[str]:
    """The names of the layers that own trainable variables, input side first."""
    owners = {layer_of(v) for v in model.trainable_variables}
    return [layer.name for layer in model.layers if layer.name in owners]


def norms_by_layer(model: keras.Model, tensors: Iterable, layers: list[str]) -> np.ndarray:
    """The Euclidean norm, per layer of ``layers``, of tensors paired with the model's
    trainable variables (gradients, weights or weight changes)."""
    squares = dict.fromkeys(layers, 0.0)
    for variable, tensor in zip(model.trainable_variables, tensors, strict=True):
        if tensor is not None:
            squares[layer_of(variable)] += float(np.sum(np.square(tensor)))
    return np.sqrt([squares[name] for name in layers])


class LayerProbe(keras.callbacks.Callback):
    """Records each layer's gradient norm and relative update at the given steps."""

    def __init__(
        self,
        steps: Iterable[int],
        batch: tuple[np.ndarray, np.ndarray],
        loss_fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    ) -> None:
        super().__init__()
        self.steps = sorted(set(steps))
        self.inputs, self.labels = (tf.constant(array) for array in batch)
        self.loss_fn = loss_fn
        self.layers: list[str] = []
        self.gradient_norm: list[list[float]] = []
        self.update_ratio: list[list[float]] = []
        self._before: list[np.ndarray] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.layers = layers_in_order(self.model)
        model, loss_fn = self.model, self.loss_fn

        @tf.function
        def gradients(inputs, labels):
            with tf.GradientTape() as tape:
                loss = loss_fn(labels, model(inputs, training=False))
            return tape.gradient(loss, model.trainable_variables)

        self._gradients = gradients

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if batch not in self.steps:
            return
        grads = [tf.convert_to_tensor(g).numpy() for g in self._gradients(self.inputs, self.labels)]
        self.gradient_norm.append(norms_by_layer(self.model, grads, self.layers).tolist())
        self._before = [v.numpy() for v in self.model.trainable_variables]

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._before is None:
            return
        after = [v.numpy() for v in self.model.trainable_variables]
        change = norms_by_layer(
            self.model, [a - b for a, b in zip(after, self._before, strict=True)], self.layers
        )
        size = norms_by_layer(self.model, self._before, self.layers)
        self.update_ratio.append((change / np.maximum(size, 1e-30)).tolist())
        self._before = None

    def record(self) -> dict:
        """The measurements as plain lists: steps x layers."""
        probed = self.steps[: len(self.gradient_norm)]
        return {
            "steps": probed,
            "layers": self.layers,
            "gradient_norm": self.gradient_norm,
            "update_ratio": self.update_ratio,
        }
