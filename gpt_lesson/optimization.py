"""The optimizer, its learning-rate schedules and the early stop, shared by pre-training
(chapter 3), the seed's recipes (chapter 4) and fine-tuning (chapter 5).

Every run uses AdamW with decoupled weight decay on the matrices only and gradients
clipped by their global norm (:func:`make_optimizer`); they differ in the schedule:

- pre-training and the seed's paper recipe: a linear warmup, then a cosine decay
  (:func:`warmup_cosine`, Keras' own ``CosineDecay``; :func:`make_schedule` for a
  ``TrainConfig``);
- fine-tuning, as in the paper: a linear warmup, then a linear decay to 0
  (:func:`warmup_linear`; :class:`WarmupLinearDecay`, since Keras has no schedule with a
  warmup and a linear decay).

:class:`StopAfter` ends a run after a number of minutes or of steps (quick runs, and
chapter 3's 15-minute budget).
"""

from __future__ import annotations

import math
import time
from typing import Protocol

import keras
from keras import ops

from gpt_lesson.config import TrainConfig


def warmup_cosine(
    peak: float, warmup_steps: int, decay_steps: int, final_fraction: float = 0.0
) -> keras.optimizers.schedules.CosineDecay:
    """0 -> ``peak`` linearly over ``warmup_steps``, then a cosine decay over
    ``decay_steps`` to ``final_fraction * peak`` (1: constant after the warmup)."""
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        warmup_target=peak,
        warmup_steps=warmup_steps,
        decay_steps=decay_steps,
        alpha=final_fraction,
    )


def make_schedule(recipe: TrainConfig, total_steps: int) -> keras.optimizers.schedules.CosineDecay:
    """Learning rate: linear warmup from 0 to the peak, then cosine decay to 0."""
    warmup = min(recipe.warmup_steps, max(total_steps - 1, 0))
    return warmup_cosine(recipe.learning_rate, warmup, decay_steps=max(total_steps - warmup, 1))


@keras.saving.register_keras_serializable(package="gpt_lesson")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """0 -> peak linearly over ``warmup_steps``, then linearly down to 0 at ``total_steps``."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int) -> None:
        self.peak, self.warmup_steps, self.total_steps = peak, warmup_steps, total_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = self.peak * step / max(self.warmup_steps, 1)
        remaining = (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1)
        return ops.where(step < self.warmup_steps, warmup, self.peak * ops.maximum(remaining, 0.0))

    def get_config(self) -> dict:
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
        }


def warmup_linear(peak: float, warmup_fraction: float, total_steps: int) -> WarmupLinearDecay:
    """The paper's fine-tuning schedule: a warmup over ``warmup_fraction`` of the steps (at
    least one), then a linear decay to 0 at ``total_steps``."""
    warmup = max(1, math.ceil(warmup_fraction * total_steps))
    return WarmupLinearDecay(peak, warmup, total_steps)


class Regularization(Protocol):
    """What the optimizer reads off a recipe (``TrainConfig``, ``FinetuneConfig``)."""

    weight_decay: float  # decoupled, on matrices only
    clipnorm: float  # the largest global norm of the gradients


def make_optimizer(
    model: keras.Model,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
    recipe: Regularization,
) -> keras.Optimizer:
    """AdamW on ``learning_rate`` (a rate or a schedule), decay on matrices only,
    gradients clipped."""
    optimizer = keras.optimizers.AdamW(
        learning_rate=learning_rate, weight_decay=recipe.weight_decay, clipnorm=recipe.clipnorm
    )
    # Biases and layer-norm gains and offsets are vectors: no decay for them.
    optimizer.exclude_from_weight_decay(
        var_list=[v for v in model.trainable_variables if len(v.shape) < 2]
    )
    return optimizer


class StopAfter(keras.callbacks.Callback):
    """Stops training after the first batch that ends ``minutes`` after ``fit`` began, or
    after ``steps`` batches in all, whichever comes first (None: no such limit). The epoch
    is closed as usual, so validation and checkpoints still run."""

    def __init__(self, minutes: float | None = None, steps: int | None = None) -> None:
        super().__init__()
        self.seconds = None if minutes is None else minutes * 60.0
        self.steps, self.done = steps, 0
        self.start = time.monotonic()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.start = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.done += 1
        out_of_time = self.seconds is not None and time.monotonic() - self.start >= self.seconds
        if out_of_time or (self.steps is not None and self.done >= self.steps):
            self.model.stop_training = True
