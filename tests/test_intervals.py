"""Welch's interval: t quantiles against printed tables, and intervals with known answers."""

import numpy as np
import pytest

from gpt_lesson.intervals import t_quantile, welch_difference


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
