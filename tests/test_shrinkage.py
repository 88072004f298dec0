"""The effects' shrinkage from moments that add up across groups of customers: any split of
the customers gives the whole population's moments, and the shrinkage is Spearman-Brown's on
the estimates' correlation. The average effects' shrinkage towards no effect: the more
sceptical of one estimate's and the actions' pooled empirical-Bayes priors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.shrinkage import PairMoments, no_effect_shrinkage, pooled_spread


def _pair(seed: int, n: int, columns: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(3.0, 1.0, (n, columns))
    a = signal + rng.normal(0, 1.5, (n, columns))
    b = signal + rng.normal(0, 1.5, (n, columns))
    a[:, 0] = b[:, 0] = 0.0  # `none`: no effect against itself
    b[:, 3] = -a[:, 3]  # estimates that disagree: no reliability
    return a, b


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(0, 300),
    cuts=st.lists(st.integers(0, 300), max_size=5),
)
def test_moments_of_any_split_add_up_to_the_whole(seed: int, n: int, cuts: list[int]) -> None:
    a, b = _pair(seed, n)
    edges = sorted({0, n, *(c for c in cuts if c <= n)})
    parts = [PairMoments.of(a[lo:hi], b[lo:hi]) for lo, hi in itertools.pairwise(edges)]
    merged = PairMoments.of(a[:0], b[:0])
    for part in parts:
        merged = merged + part
    whole = PairMoments.of(a, b)
    assert merged.n == whole.n == n
    for name in ("mean_a", "mean_b", "m2_a", "m2_b", "c_ab"):
        np.testing.assert_allclose(
            getattr(merged, name), getattr(whole, name), rtol=1e-9, atol=1e-9
        )
    np.testing.assert_allclose(merged.reliability(), whole.reliability(), rtol=1e-9, atol=1e-12)


def test_shrinkage_is_spearman_brown_on_the_correlation() -> None:
    a, b = _pair(0, 5_000)
    moments = PairMoments.of(a, b)
    reliability = moments.reliability()
    assert reliability[0] == 0.0 and reliability[3] == 0.0
    for column in (1, 2):
        rho = np.corrcoef(a[:, column], b[:, column])[0, 1]
        assert 0.2 < rho < 0.5
        assert np.isclose(reliability[column], 2 * rho / (1 + rho), rtol=1e-12)
    shrunk = moments.shrink(a, b)
    average = (a + b) / 2
    mean = average.mean(axis=0)
    np.testing.assert_allclose(shrunk, mean + reliability * (average - mean), rtol=1e-12)
    # Shrinking a group of the customers uses the whole population's mean and reliability.
    np.testing.assert_allclose(moments.shrink(a[:10], b[:10]), shrunk[:10], rtol=1e-12)


def test_one_action_alone_is_shrunk_by_its_own_estimate() -> None:
    """With one action per outcome the pooled prior is the estimate's own: max(0, 1 - s^2/m^2);
    within one standard error of zero, nothing is kept."""
    factors = no_effect_shrinkage(np.array([[2.0, 0.5, -3.0]]), np.array([[1.0, 1.0, 1.0]]))
    np.testing.assert_allclose(factors, [[0.75, 0.0, 1.0 - 1.0 / 9.0]])


def test_an_estimate_far_noisier_than_the_actions_spread_is_shrunk_by_the_pool() -> None:
    """Four precise small effects and one at 1.75 standard errors, as a later-spend window's
    noisy estimate: alone its prior would keep 67 %; the actions' spread (the maximum-likelihood
    tau^2, its own noise counted) says an effect that size is unlikely, and keeps 19 %."""
    estimate = np.array([[0.0], [-0.2], [0.1], [-0.3], [-0.8]])  # [A, O], `none` not estimated
    estimate[0, 0] = np.nan
    se = np.array([[np.nan], [0.05], [0.05], [0.05], [0.8 / 1.75]])
    factors = no_effect_shrinkage(estimate, se)
    tau2 = pooled_spread(estimate[1:, 0], se[1:, 0] ** 2)
    variance = se[1:, 0] ** 2 + tau2
    assert np.sum(1 / variance - estimate[1:, 0] ** 2 / variance**2) == pytest.approx(0, abs=1e-6)
    assert factors[4, 0] == pytest.approx(0.19, abs=0.005)
    assert factors[0, 0] == 0.0  # nothing estimated: nothing kept
    own = 1.0 - 1.0 / 1.75**2
    assert factors[4, 0] == pytest.approx(tau2 / (tau2 + se[4, 0] ** 2))
    assert factors[4, 0] < own - 0.25
    # the precise ones keep what their own estimate says where that is the smaller
    assert factors[1, 0] == pytest.approx(min(1 - 0.05**2 / 0.2**2, tau2 / (tau2 + 0.05**2)))


def test_one_very_noisy_estimate_hardly_moves_the_maximum_likelihood_spread() -> None:
    """The demo's weeks 1-4 estimates (e-mail, e-mail with recommendations, free shipping, 10 %
    and 20 % coupons): the e-mail's, at s = 0.63 and m = 0.01, pulled the moment estimate of
    the spread (mean of m^2 - s^2) down to 0.025 and the 20 % coupon's factor, at 3.7 standard
    errors, to 47 %; the maximum-likelihood spread is 0.12 and keeps 81 %. Without the e-mail
    it barely changes; no spread at all where every estimate is within its noise."""
    m = np.array([0.01, -0.50, -0.16, -0.10, -0.61])
    s = np.array([0.63, 0.19, 0.21, 0.16, 0.17])
    assert np.mean(m**2 - s**2) == pytest.approx(0.025, abs=0.001)
    tau2 = pooled_spread(m, s**2)
    assert tau2 == pytest.approx(0.122, abs=0.001)
    assert pooled_spread(m[1:], s[1:] ** 2) == pytest.approx(tau2, rel=0.1)
    factors = no_effect_shrinkage(m[:, None], s[:, None])[:, 0]
    assert factors[4] == pytest.approx(0.81, abs=0.01)
    assert factors[0] == 0.0  # within its standard error: nothing kept either way
    assert pooled_spread(np.array([0.1, -0.2]), np.array([1.0, 1.0])) == 0.0
    assert pooled_spread(np.array([]), np.array([])) == 0.0


def test_a_log_where_nothing_works_learns_little() -> None:
    """Every true effect zero, estimates pure noise: what the optimiser would see (the sum of
    the shrunk effects' sizes) is under half what one estimate at a time leaves (which keeps
    every estimate beyond a standard error, about a third of them)."""
    rng = np.random.default_rng(7)
    se = rng.uniform(0.2, 2.0, (400, 5, 1))
    estimate = se * rng.normal(size=se.shape)
    own = np.maximum(0.0, 1.0 - se**2 / estimate**2)
    pooled = np.stack([no_effect_shrinkage(m, s) for m, s in zip(estimate, se, strict=True)])
    assert np.abs(own * estimate).sum() > 0.25 * np.abs(estimate).sum()
    assert np.abs(pooled * estimate).sum() < 0.5 * np.abs(own * estimate).sum()


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    actions=st.integers(1, 6),
    scale=st.floats(1e-3, 1e3),
)
def test_factors_are_in_unit_interval_never_above_the_estimates_own_and_scale_free(
    seed: int, actions: int, scale: float
) -> None:
    rng = np.random.default_rng(seed)
    se = rng.uniform(0.1, 2.0, (actions, 3))
    estimate = rng.normal(0.0, 2.0, (actions, 3))
    factors = no_effect_shrinkage(estimate, se)
    assert np.all((factors >= 0.0) & (factors <= 1.0))
    own = np.maximum(0.0, 1.0 - se**2 / estimate**2)
    assert np.all(factors <= own + 1e-12)
    rescaled = no_effect_shrinkage(scale * estimate, scale * se)
    np.testing.assert_allclose(rescaled, factors, atol=1e-9)


def test_pooled_shrinkage_errs_less_than_one_estimate_at_a_time() -> None:
    """Effects drawn from N(0, 1), five actions with standard errors in [0.2, 2]: the shrunk
    estimates' mean squared error falls below the one-estimate rule's (and far below the raw
    estimates')."""
    rng = np.random.default_rng(0)
    truth = rng.normal(0.0, 1.0, (3000, 5, 1))
    se = rng.uniform(0.2, 2.0, truth.shape)
    estimate = truth + se * rng.normal(size=truth.shape)
    own = np.maximum(0.0, 1.0 - se**2 / estimate**2)
    pooled = np.stack([no_effect_shrinkage(m, s) for m, s in zip(estimate, se, strict=True)])
    error_own = np.mean((own * estimate - truth) ** 2)
    error_pooled = np.mean((pooled * estimate - truth) ** 2)
    assert error_pooled < 0.8 * error_own
    assert error_own < 0.7 * np.mean((estimate - truth) ** 2)


@pytest.mark.parametrize("kind", ["normal", "sparse", "none"])
def test_the_maximum_likelihood_spread_errs_less_than_the_moment_estimate(kind: str) -> None:
    """True effects from N(0, 1), zero for 70 % of them, or all zero; five actions with
    standard errors in [0.2, 2]: shrunk with the maximum-likelihood spread, the estimates err
    less than with the moment estimate (mean of m^2 - s^2) it replaced."""
    rng = np.random.default_rng(1)
    shape = (2000, 5, 1)
    truth = rng.normal(0.0, 1.0, shape)
    if kind == "sparse":
        truth *= rng.random(shape) < 0.3
    elif kind == "none":
        truth *= 0.0
    se = rng.uniform(0.2, 2.0, shape)
    estimate = truth + se * rng.normal(size=shape)
    ml = np.stack([no_effect_shrinkage(m, s) for m, s in zip(estimate, se, strict=True)])
    moment_spread = np.maximum(np.mean(estimate**2 - se**2, axis=1, keepdims=True), 0.0)
    moment = np.minimum(
        np.maximum(0.0, 1.0 - se**2 / estimate**2), moment_spread / (moment_spread + se**2)
    )
    error_ml = np.mean((ml * estimate - truth) ** 2)
    error_moment = np.mean((moment * estimate - truth) ** 2)
    assert error_ml < 0.95 * error_moment
