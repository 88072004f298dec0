"""Feature standardisation: a column constant in training is left unscaled, so a new value at
forecast time moves the input by its plain difference instead of by a million."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from forecasting.scaling import feature_scale


def test_constant_columns_are_left_unscaled_and_named(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    features = np.column_stack(
        [rng.normal(3.0, 2.0, 500), np.full(500, 7.0), np.full(500, 0.0)]
    ).astype(np.float32)
    with caplog.at_level(logging.INFO, logger="ltv.forecasting"):
        scale = feature_scale(features, ("varies", "always_7", "always_0"))
    assert scale[0] == pytest.approx(2.0, rel=0.1)
    np.testing.assert_array_equal(scale[1:], [1.0, 1.0])
    assert "always_7" in caplog.text and "always_0" in caplog.text and "varies" not in caplog.text
    # A value never seen in training stays a moderate input (it was 1e6 standard deviations).
    mean = features.mean(axis=0)
    scaled = (np.array([3.0, 8.0, 1.0], np.float32) - mean) / scale
    assert np.abs(scaled).max() < 2.0


def test_non_finite_features_are_refused_by_name_and_row() -> None:
    from forecasting.scaling import require_finite

    features = np.zeros((5, 3))
    features[3, 1] = np.nan
    with pytest.raises(
        ValueError, match=r"rows: features \['b'\] .* in 1 rows \(first: \['c3'\]\)"
    ):
        require_finite(features, ("a", "b", "c"), "rows", np.array([f"c{i}" for i in range(5)]))
    require_finite(np.ones((2, 3)), ("a", "b", "c"), "rows")  # finite: no error
