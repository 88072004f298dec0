"""Propensities of campaign-log rows that do not carry one: estimated from the row's features,
they undo a targeting the features explain, where each action's share does not."""

from __future__ import annotations

import numpy as np

from forecasting.propensity import MIN_PROPENSITY, fill_propensities


def _targeted_log(n: int = 20_000, seed: int = 0):
    """Coupons sent mostly to lapsing customers (long since their last purchase), who buy
    less anyway; the coupon adds 1.0 to everyone's outcome."""
    rng = np.random.default_rng(seed)
    weeks_since = rng.exponential(10.0, n)
    other = rng.normal(size=n)
    chance = 0.1 + 0.8 / (1 + np.exp(-(weeks_since - 10.0) / 3.0))  # of a coupon (action 1)
    action = (rng.random(n) < chance).astype(np.int64)
    outcome = 5.0 - 0.3 * weeks_since + 1.0 * action + rng.normal(0, 1, n)
    features = np.column_stack([weeks_since, other])
    true = np.where(action == 1, chance, 1 - chance)
    return features, action, outcome, true


def _ipw_effect(action: np.ndarray, outcome: np.ndarray, propensity: np.ndarray) -> float:
    """The Hajek estimate of mean outcome under action 1 minus under action 0."""
    w1, w0 = (action == 1) / propensity, (action == 0) / propensity
    return float((w1 * outcome).sum() / w1.sum() - (w0 * outcome).sum() / w0.sum())


def test_estimated_propensities_undo_a_targeting_the_features_explain() -> None:
    features, action, outcome, true = _targeted_log()
    unlogged = np.full(len(action), np.nan)
    estimated = fill_propensities(features, action, unlogged, 2)
    shares = np.bincount(action)[action] / len(action)
    assert np.abs(estimated - true).mean() < 0.03 < 0.2 < np.abs(shares - true).mean()
    assert estimated.min() >= MIN_PROPENSITY
    # The coupon's effect is 1.0: the shares give the targeting's bias, the estimates little.
    assert abs(_ipw_effect(action, outcome, true) - 1.0) < 0.1
    assert abs(_ipw_effect(action, outcome, estimated) - 1.0) < 0.2
    assert _ipw_effect(action, outcome, shares) < -1.5  # lapsing customers buy less


def test_logged_propensities_are_kept_and_small_logs_take_the_shares() -> None:
    features, action, _, true = _targeted_log(n=2_000, seed=1)
    partly = true.copy()
    partly[::2] = np.nan  # half the rows logged theirs
    filled = fill_propensities(features, action, partly, 2)
    assert np.array_equal(filled[1::2], true[1::2])
    assert np.isfinite(filled).all() and (filled > 0).all()
    # Too few rows of an action to fit a regression on: each action's share of those rows.
    few = np.full(60, np.nan)
    small = fill_propensities(features[:60], np.r_[np.zeros(55, int), np.ones(5, int)], few, 2)
    assert np.allclose(small[:55], 55 / 60) and np.allclose(small[55:], 5 / 60)
