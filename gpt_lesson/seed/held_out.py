"""Every run judged on the same held-out text, at the same steps.

A run's training batches are not a fair yardstick for comparing runs: the seed reads its
windows in text order, so the last steps of a run cover a stretch of the play that depends
on the run's length, and a model that predicts one token for everything scores whatever
that stretch's share of the token happens to be. :class:`HeldOutEvaluation` instead
evaluates the model, without dropout, on one fixed set of windows that no run trains on,
at fixed steps: the masked loss, the accuracy, the entropy of the predictions, and the
share of positions where the model predicts the held-out labels' most frequent token.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
import numpy as np
import tensorflow as tf

from gpt_lesson.seed.layer_probe import log_probabilities

MEASURES = ("loss", "accuracy", "entropy", "predicts_majority")


class HeldOutEvaluation(keras.callbacks.Callback):
    """Evaluates on held-out windows before the given steps (step ``n`` is the model after
    ``n`` updates; the run's last step count is evaluated when training ends)."""

    def __init__(
        self,
        steps: Iterable[int],
        inputs: np.ndarray,
        labels: np.ndarray,
        pad_id: int,
        from_logits: bool,
        batch_size: int = 64,
    ) -> None:
        super().__init__()
        self.steps = sorted(set(steps))
        labels = np.asarray(labels)
        ids, counts = np.unique(labels[labels != pad_id], return_counts=True)
        self.majority_id = int(ids[counts.argmax()])
        self.batches = [
            (tf.constant(inputs[i : i + batch_size]), tf.constant(labels[i : i + batch_size]))
            for i in range(0, len(inputs), batch_size)
        ]
        self.pad_id, self.from_logits = pad_id, from_logits
        self.evaluated: list[int] = []
        self.values: dict[str, list[float]] = {measure: [] for measure in MEASURES}

    def on_train_begin(self, logs: dict | None = None) -> None:
        model, pad_id, majority = self.model, self.pad_id, self.majority_id
        from_logits = self.from_logits

        @tf.function
        def sums(inputs, labels):
            log_p = log_probabilities(model(inputs, training=False), from_logits)
            keep = tf.cast(labels != pad_id, tf.float32)
            picked = tf.gather(log_p, tf.cast(labels, tf.int32), batch_dims=2)
            predicted = tf.argmax(log_p, axis=-1, output_type=tf.int32)
            per_token = (
                -picked,
                tf.cast(predicted == tf.cast(labels, tf.int32), tf.float32),
                -tf.reduce_sum(tf.exp(log_p) * log_p, axis=-1),
                tf.cast(predicted == majority, tf.float32),
            )
            return tf.stack([tf.reduce_sum(v * keep) for v in per_token] + [tf.reduce_sum(keep)])

        self._sums = sums

    def evaluate(self, step: int) -> None:
        """Record the measures of the model as it is now, as those of ``step``."""
        total = sum(self._sums(inputs, labels).numpy() for inputs, labels in self.batches)
        self.evaluated.append(step)
        for measure, value in zip(MEASURES, total[:-1] / total[-1], strict=True):
            self.values[measure].append(float(value))

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if batch in self.steps:
            self.evaluate(batch)

    def on_train_end(self, logs: dict | None = None) -> None:
        final = self.params["steps"]
        if final in self.steps and final not in self.evaluated:
            self.evaluate(final)

    def record(self) -> dict:
        """The measures per evaluated step, as plain lists."""
        return {"steps": self.evaluated, **self.values}


EARLY = (10, 20, 50)  # where the plateau is reached: looked at more closely


def evaluation_steps(steps: int, every: int) -> tuple[int, ...]:
    """Every ``every`` steps from 0, the ``EARLY`` steps, and the end of a run of
    ``steps`` updates."""
    early = {step for step in EARLY if step < steps}
    return tuple(sorted(set(range(0, steps, every)) | early | {steps}))
