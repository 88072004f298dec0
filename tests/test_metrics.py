from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats as stats
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.metrics import decile_mape, mean_absolute_error, normalized_gini, spearman


def test_normalized_gini_orders() -> None:
    actual = np.array([0.0, 1.0, 5.0, 10.0, 0.0, 3.0])
    assert normalized_gini(actual, actual) == pytest.approx(1.0)
    assert normalized_gini(actual, actual * 3 + 1) == pytest.approx(1.0)
    assert normalized_gini(actual, -actual) == pytest.approx(-1.0)
    rng = np.random.default_rng(0)
    big = rng.gamma(0.5, 10.0, 50_000)
    assert abs(normalized_gini(big, rng.random(50_000))) < 0.03


def test_decile_mape_and_errors() -> None:
    actual = np.arange(100, dtype=float) + 1
    assert decile_mape(actual, actual) == pytest.approx(0.0)
    assert decile_mape(actual, actual * 1.1) == pytest.approx(0.1)
    assert mean_absolute_error(actual, actual + 2) == pytest.approx(2.0)
    assert spearman(actual, actual**2) == pytest.approx(1.0)


def test_gini_needs_positive_total() -> None:
    with pytest.raises(ValueError, match="positive total"):
        normalized_gini(np.zeros(3), np.ones(3))


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.tuples(st.integers(0, 6), st.floats(-5, 5, allow_nan=False)), min_size=3, max_size=40
    )
)
def test_spearman_is_scipys_with_ties(values: list[tuple[int, float]]) -> None:
    actual = np.array([v[0] for v in values], float)  # few distinct values: ties
    predicted = np.array([v[1] for v in values])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns where a side is constant
        expected = stats.spearmanr(actual, predicted).statistic
    if np.isnan(expected):
        assert np.isnan(spearman(actual, predicted))
    else:
        assert spearman(actual, predicted) == pytest.approx(expected, abs=1e-12)
