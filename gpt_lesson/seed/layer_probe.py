"""Per-layer gradients, Adam's steps and the output change during ``fit``: where learning
happens, and why it stops.

Three questions about a deep network that will not learn, asked at chosen training steps:

- how large is the gradient that reaches each layer (Xiong et al. 2020 compare post-LN
  and pre-LN this way, at initialisation and later)?
- how large is the step Adam takes there, and what sets its size: the first moment over
  the square root of the second moment, or Adam's ε once the second moment is tiny?
- how much does one update change what the model predicts (Liu et al. 2020 argue that
  post-LN's trouble is this change, amplified by its dependence on the residual branches)?

:class:`LayerProbe` answers all three. The gradient is computed on one fixed batch without
dropout, so that it depends on the weights alone; the step and ``|ΔW| / |W|`` are those of
the real training step; Adam's moments are read from the optimizer after that step; the
output change is the mean KL divergence between the model's next-token distributions on
the fixed batch before and after the step. A layer is a top-level layer of the model (an
embedding, a decoder block, the output), its norm the Euclidean norm over its variables.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
import numpy as np
import tensorflow as tf

from gpt_lesson._keras_hub import adam_moments


def layer_of(variable: keras.Variable) -> str:
    """The top-level layer a variable belongs to: the first part of its path."""
    return variable.path.split("/")[0]


def layers_in_order(model: keras.Model) -> list[str]:
    """The names of the layers that own trainable variables, input side first."""
    owners = {layer_of(v) for v in model.trainable_variables}
    return [layer.name for layer in model.layers if layer.name in owners]


def sums_by_layer(model: keras.Model, tensors: Iterable, layers: list[str]) -> np.ndarray:
    """The sum, per layer of ``layers``, of arrays paired with the model's trainable
    variables (squares of gradients, moments, shares of a denominator)."""
    sums = dict.fromkeys(layers, 0.0)
    for variable, tensor in zip(model.trainable_variables, tensors, strict=True):
        if tensor is not None:
            sums[layer_of(variable)] += float(np.sum(tensor))
    return np.asarray([sums[name] for name in layers])


def norms_by_layer(model: keras.Model, tensors: Iterable, layers: list[str]) -> np.ndarray:
    """The Euclidean norm, per layer of ``layers``, of tensors paired with the model's
    trainable variables (gradients, weights or weight changes)."""
    squares = [None if t is None else np.square(t) for t in tensors]
    return np.sqrt(sums_by_layer(model, squares, layers))


def adam_terms(optimizer: keras.optimizers.Adam, variables: list) -> dict[str, list]:
    """Adam's bias-corrected moments after its last step, per variable: the first moment
    ``m̂``, the square root of the second ``√v̂``, and the share ``ε' / (√v̂ + ε')`` of the
    step's denominator that ε accounts for (Keras adds ε to the uncorrected ``√v``, which
    is ``ε' = ε / √(1 - β2^t)`` in corrected terms; the second moment accounts for the rest).
    """
    t = float(optimizer.iterations.numpy())
    first = 1.0 - optimizer.beta_1**t
    second = 1.0 - optimizer.beta_2**t
    epsilon = optimizer.epsilon / np.sqrt(second)
    terms: dict[str, list] = {"first_moment": [], "root_second_moment": [], "epsilon_share": []}
    for variable in variables:
        m, v = adam_moments(optimizer, variable)
        m, root_v = m / first, np.sqrt(v / second)
        terms["first_moment"].append(m)
        terms["root_second_moment"].append(root_v)
        terms["epsilon_share"].append(epsilon / (root_v + epsilon))
    return terms


def log_probabilities(outputs: tf.Tensor, from_logits: bool) -> tf.Tensor:
    """Log-probabilities of the next token from a model's logits or softmax output."""
    if from_logits:
        return tf.nn.log_softmax(outputs, axis=-1)
    return tf.math.log(tf.maximum(outputs, 1e-30))


class LayerProbe(keras.callbacks.Callback):
    """Records, at the given steps, each layer's gradient, step and Adam terms, and the
    change of the model's predictions that the step causes.

    ``record()`` holds lists of steps x layers: ``gradient_norm`` (on the fixed batch),
    ``update_ratio`` (``|ΔW| / |W|``), ``step_per_lr`` (the RMS change per weight over
    the learning rate), and Adam's ``first_moment`` and ``root_second_moment`` (RMS per
    weight) and ``epsilon_share`` (mean per weight); and per step the ``learning_rate``
    and ``output_kl`` (nats per predicted token on the fixed batch). ``sizes`` gives each
    layer's number of weights, so that norms can be read per weight.
    """

    def __init__(
        self,
        steps: Iterable[int],
        batch: tuple[np.ndarray, np.ndarray],
        loss_fn,
        pad_id: int,
        from_logits: bool,
    ) -> None:
        super().__init__()
        self.steps = sorted(set(steps))
        self.inputs, self.labels = (tf.constant(array) for array in batch)
        self.keep = tf.cast(self.labels != pad_id, tf.float32)
        self.loss_fn = loss_fn
        self.from_logits = from_logits
        self.layers: list[str] = []
        self.sizes: list[int] = []
        self.fields = (
            "gradient_norm",
            "update_ratio",
            "step_per_lr",
            "first_moment",
            "root_second_moment",
            "epsilon_share",
        )
        self.values: dict[str, list] = {field: [] for field in self.fields}
        self.learning_rate: list[float] = []
        self.output_kl: list[float] = []
        self._before: tuple[list[np.ndarray], tf.Tensor] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.layers = layers_in_order(self.model)
        variables = self.model.trainable_variables
        self.sizes = (
            sums_by_layer(self.model, [np.ones(v.shape) for v in variables], self.layers)
            .astype(int)
            .tolist()
        )
        model, loss_fn, from_logits = self.model, self.loss_fn, self.from_logits

        @tf.function
        def gradients(inputs, labels):
            with tf.GradientTape() as tape:
                loss = loss_fn(labels, model(inputs, training=False))
            return tape.gradient(loss, model.trainable_variables)

        @tf.function
        def predictions(inputs):
            return log_probabilities(model(inputs, training=False), from_logits)

        self._gradients, self._predictions = gradients, predictions

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if batch not in self.steps:
            return
        grads = [tf.convert_to_tensor(g).numpy() for g in self._gradients(self.inputs, self.labels)]
        self.values["gradient_norm"].append(norms_by_layer(self.model, grads, self.layers))
        self.learning_rate.append(
            float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        )
        weights = [v.numpy() for v in self.model.trainable_variables]
        self._before = (weights, self._predictions(self.inputs))

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._before is None:
            return
        weights, predicted = self._before
        self._before = None
        model, layers = self.model, self.layers
        after = [v.numpy() for v in model.trainable_variables]
        change = norms_by_layer(model, [a - b for a, b in zip(after, weights, strict=True)], layers)
        self.values["update_ratio"].append(
            change / np.maximum(norms_by_layer(model, weights, layers), 1e-30)
        )
        per_weight, rate = np.sqrt(self.sizes), self.learning_rate[-1]
        self.values["step_per_lr"].append(change / per_weight / rate if rate else change * 0)
        terms = adam_terms(model.optimizer, model.trainable_variables)
        for field in ("first_moment", "root_second_moment"):
            self.values[field].append(norms_by_layer(model, terms[field], layers) / per_weight)
        shares = sums_by_layer(model, terms["epsilon_share"], layers)
        self.values["epsilon_share"].append(shares / np.asarray(self.sizes))
        now = self._predictions(self.inputs)
        kl = tf.reduce_sum(tf.exp(predicted) * (predicted - now), axis=-1)
        self.output_kl.append(float(tf.reduce_sum(kl * self.keep) / tf.reduce_sum(self.keep)))

    def record(self) -> dict:
        """The measurements as plain lists: steps x layers, or one value per step."""
        probed = self.steps[: len(self.values["gradient_norm"])]
        return {
            "steps": probed,
            "layers": self.layers,
            "sizes": self.sizes,
            **{field: np.asarray(self.values[field]).tolist() for field in self.fields},
            "learning_rate": self.learning_rate,
            "output_kl": self.output_kl,
        }
