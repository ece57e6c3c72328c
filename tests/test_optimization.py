"""The optimizer and schedules shared by pre-training and fine-tuning: the learning rate at
every step against its formula (and against the schedules built before they were shared),
decay on matrices only, and the early stop."""

import math

import keras
import numpy as np
import pytest

from gpt_lesson.config import PRESETS, TrainConfig
from gpt_lesson.gpt1.causal_lm import build_gpt
from gpt_lesson.optimization import (
    StopAfter,
    WarmupLinearDecay,
    make_optimizer,
    make_schedule,
    warmup_cosine,
    warmup_linear,
)
from gpt_lesson.seed import blog


def rates(schedule, steps: int) -> np.ndarray:
    return np.array([float(schedule(step)) for step in range(steps)])


def warmup_then_cosine(step: int, peak: float, warmup: int, decay: int, alpha: float) -> float:
    if step < warmup:
        return peak * step / warmup
    done = min(step - warmup, decay) / decay
    return peak * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * done)) + alpha)


@pytest.mark.parametrize(("warmup", "total"), [(10, 110), (0, 50), (100, 40)])
def test_pretraining_schedule_is_warmup_then_cosine_at_every_step(warmup, total):
    recipe = TrainConfig(learning_rate=1e-3, warmup_steps=warmup)
    used = min(warmup, total - 1)  # a warmup longer than the run ends a step before it
    expected = [
        warmup_then_cosine(step, 1e-3, used, max(total - used, 1), 0.0) for step in range(total + 5)
    ]
    np.testing.assert_allclose(
        rates(make_schedule(recipe, total), total + 5), expected, rtol=1e-6, atol=1e-10
    )


def test_learning_rate_warms_up_linearly_then_decays_to_zero():
    schedule = make_schedule(TrainConfig(learning_rate=1e-3, warmup_steps=10), total_steps=110)
    values = [float(schedule(step)) for step in (0, 5, 10, 60, 110)]
    assert values[0] == pytest.approx(0.0, abs=1e-12)
    assert values[1] == pytest.approx(5e-4)
    assert values[2] == pytest.approx(1e-3)
    assert values[3] == pytest.approx(5e-4, rel=1e-3)  # cosine: half way down
    assert values[4] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    "recipe",
    [
        blog.Recipe(learning_rate=1e-3, warmup_steps=10),
        blog.Recipe(learning_rate=2.5e-4, warmup_steps=10, decay_to_zero_at=60),
        blog.Recipe(learning_rate=2.5e-4, decay_to_zero_at=60),
    ],
)
def test_the_seed_s_schedules_give_the_rates_they_gave_before_they_were_shared(recipe):
    decays = recipe.decay_to_zero_at is not None
    before = keras.optimizers.schedules.CosineDecay(  # blog.learning_rate as it was
        initial_learning_rate=0.0 if recipe.warmup_steps else recipe.learning_rate,
        warmup_target=recipe.learning_rate if recipe.warmup_steps else None,
        warmup_steps=recipe.warmup_steps,
        decay_steps=recipe.decay_to_zero_at - recipe.warmup_steps if decays else 1,
        alpha=0.0 if decays else 1.0,
    )
    np.testing.assert_array_equal(rates(blog.learning_rate(recipe), 80), rates(before, 80))


def test_a_constant_seed_recipe_has_a_constant_rate():
    assert blog.learning_rate(blog.Recipe(learning_rate=1e-3)) == 1e-3


def test_warmup_cosine_with_final_fraction_one_is_constant_after_the_warmup():
    np.testing.assert_allclose(
        rates(warmup_cosine(1e-3, 4, 1, final_fraction=1.0), 10),
        [0.0, 2.5e-4, 5e-4, 7.5e-4, *[1e-3] * 6],
        rtol=1e-6,
    )


def test_fine_tuning_schedule_is_warmup_then_linear_decay_at_every_step():
    peak, total = 6.25e-5, 1000
    schedule = warmup_linear(peak, warmup_fraction=0.002, total_steps=total)
    assert (schedule.warmup_steps, schedule.total_steps) == (2, total)
    expected = [
        peak * step / 2 if step < 2 else peak * max((total - step) / (total - 2), 0.0)
        for step in range(total + 3)
    ]
    np.testing.assert_allclose(rates(schedule, total + 3), expected, rtol=1e-6, atol=1e-15)
    assert warmup_linear(peak, 0.0, 10).warmup_steps == 1  # at least one warmup step


def test_schedule_warms_up_then_decays_linearly_to_zero():
    schedule = WarmupLinearDecay(1e-3, warmup_steps=2, total_steps=10)
    values = rates(schedule, 12).tolist()
    assert values[:3] == pytest.approx([0.0, 5e-4, 1e-3])
    assert values[6] == pytest.approx(1e-3 * 4 / 8)
    assert values[10:] == [0.0, 0.0]


def test_the_linear_schedule_is_serializable_under_its_registered_name():
    schedule = WarmupLinearDecay(1e-3, warmup_steps=2, total_steps=10)
    config = keras.saving.serialize_keras_object(schedule)
    assert config["registered_name"] == "gpt_lesson>WarmupLinearDecay"
    restored = keras.saving.deserialize_keras_object(config)
    np.testing.assert_array_equal(rates(restored, 12), rates(schedule, 12))


def test_weight_decay_shrinks_matrices_but_not_vectors():
    keras.utils.set_random_seed(0)
    model = build_gpt(PRESETS["quick"])
    recipe = TrainConfig(learning_rate=0.1, warmup_steps=0)
    optimizer = make_optimizer(model, make_schedule(recipe, 100), recipe)
    before = [np.array(v) for v in model.trainable_variables]
    zeros = [keras.ops.zeros_like(v) for v in model.trainable_variables]
    optimizer.apply_gradients(zip(zeros, model.trainable_variables, strict=True))
    for old, variable in zip(before, model.trainable_variables, strict=True):
        new = np.array(variable)
        if old.ndim >= 2:  # a zero gradient leaves only the decay: w -= lr * wd * w
            np.testing.assert_allclose(new, old * (1 - 0.1 * 0.01), rtol=1e-5)
        else:
            np.testing.assert_array_equal(new, old)


def steps_run(stop: StopAfter) -> int:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((40, 2), "float32"), np.zeros((40, 1), "float32")
    model.fit(x, y, batch_size=4, epochs=3, callbacks=[stop], verbose=0)
    return int(model.optimizer.iterations.numpy())


def test_stop_after_a_number_of_steps_counts_across_epochs():
    assert steps_run(StopAfter(steps=13)) == 13


def test_stop_after_no_minutes_stops_after_the_first_step():
    assert steps_run(StopAfter(minutes=0.0)) == 1


def test_stop_after_nothing_runs_every_step():
    assert steps_run(StopAfter()) == 30
