"""Welch's interval: t quantiles against printed tables, and intervals with known answers;
the bootstrap over seeds and test examples, and the smallest detectable difference."""

import numpy as np
import pytest

from gpt_lesson.pretraining.objectives import matthews_correlation
from gpt_lesson.tasks.intervals import (
    binary_scores,
    bootstrap_difference,
    detectable_difference,
    t_quantile,
    welch_difference,
)


@pytest.mark.parametrize(
    ("freedom", "expected"),  # Student's t, 0.975 quantile, from any printed table
    [(1, 12.706), (2, 4.303), (9, 2.262), (18, 2.101), (30, 2.042), (1e6, 1.960)],
)
def test_t_quantiles_match_the_tables(freedom, expected):
    assert t_quantile(0.975, freedom) == pytest.approx(expected, abs=1e-3)


def test_equal_samples_give_an_interval_around_zero_and_shifted_ones_move_it():
    rng = np.random.default_rng(0)
    a = rng.normal(0.1, 0.02, 10)
    same = welch_difference(a, a)
    assert same.mean == 0.0 and same.low < 0.0 < same.high and not same.excludes_zero
    shifted = welch_difference(a + 0.1, a)
    assert shifted.mean == pytest.approx(0.1) and shifted.excludes_zero


def test_the_interval_is_the_textbook_one_for_a_worked_example():
    # Two samples of 3: means 2 and 5, variances 1 and 4; SE = sqrt(1/3 + 4/3), df ~ 2.94.
    difference = welch_difference([1.0, 2.0, 3.0], [3.0, 5.0, 7.0])
    error = np.sqrt(5 / 3)
    freedom = (5 / 3) ** 2 / ((1 / 3) ** 2 / 2 + (4 / 3) ** 2 / 2)
    assert difference.standard_error == pytest.approx(error)
    assert difference.freedom == pytest.approx(freedom)
    half = t_quantile(0.975, freedom) * error
    assert (difference.low, difference.high) == pytest.approx((-3 - half, -3 + half))


def test_too_few_values_are_refused_with_what_is_needed():
    with pytest.raises(ValueError, match="at least 2 values"):
        welch_difference([0.1], [0.2, 0.3])


def test_binary_scores_match_the_package_s_mcc_and_accuracy():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 200)
    predictions = rng.integers(0, 2, (5, 200))
    predictions[4] = 1  # one class only: MCC undefined, counted as 0
    mcc = binary_scores(predictions, labels, "mcc")
    for row, value in zip(predictions, mcc, strict=True):
        assert value == pytest.approx(matthews_correlation(labels, row), abs=1e-12)
    assert mcc[4] == 0.0
    accuracy = binary_scores(predictions, labels, "accuracy")
    assert accuracy == pytest.approx(np.mean(predictions == labels, axis=1))
    with pytest.raises(ValueError, match="accuracy"):
        binary_scores(predictions, labels, "f1")


def test_the_bootstrap_counts_the_test_examples_as_well_as_the_seeds():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 300)
    # Ten seeds that agree closely: right on 70% of the examples, the same examples each time.
    right = rng.random(300) < 0.7
    first = np.array(
        [np.where(right ^ (rng.random(300) < 0.02), labels, 1 - labels) for _ in range(10)]
    )
    second = np.where(rng.random((10, 300)) < 0.5, labels, 1 - labels)  # chance
    seeds_only = welch_difference(
        np.mean(first == labels, axis=1), np.mean(second == labels, axis=1)
    )
    both = bootstrap_difference(first, second, labels, resamples=500)
    assert both.mean == pytest.approx(seeds_only.mean)
    assert both.low < both.mean < both.high and both.excludes_zero
    # the examples add spread the seeds alone do not show
    assert both.high - both.low > seeds_only.high - seeds_only.low
    same = bootstrap_difference(first, first, labels, resamples=200)
    assert same.mean == 0.0 and same.low <= 0.0 <= same.high


def test_the_detectable_difference_is_about_2_8_standard_errors():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.0, 0.03, 200), rng.normal(0.0, 0.03, 200)
    error = welch_difference(a, b).standard_error
    # (1.96 + 0.84) standard errors for many seeds; more for few, where t is wider
    assert detectable_difference(a, b) == pytest.approx(2.80 * error, rel=0.01)
    assert (
        detectable_difference(a[:5], b[:5]) > 2.80 * welch_difference(a[:5], b[:5]).standard_error
    )
