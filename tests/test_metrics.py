from __future__ import annotations

import numpy as np
import pytest

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
