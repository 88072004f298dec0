"""BG/NBD, Pareto/NBD and Gamma-Gamma against published values, simulation and integration."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as stats
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.bgnbd import BetaGeometricNBD
from forecasting.features import PurchaseSummary
from forecasting.gamma_gamma import GammaGammaSpend
from forecasting.pareto_nbd import ParetoNBD
from markets.cdnow import read_wheel_text


def _summary(frequency, recency, age, monetary=None) -> PurchaseSummary:
    n = len(frequency)
    return PurchaseSummary(
        customer_ids=np.arange(n).astype(str),
        frequency=np.asarray(frequency, dtype=float),
        recency=np.asarray(recency, dtype=float),
        age=np.asarray(age, dtype=float),
        monetary_value=np.zeros(n) if monetary is None else np.asarray(monetary, dtype=float),
        first_week=np.zeros(n, dtype="datetime64[ns]"),
        observation_end=pd.Timestamp("2000-01-01"),
    )


def test_bgnbd_matches_published_cdnow_estimates(lifetimes_wheel: Path) -> None:
    """Fader, Hardie & Lee (2005), table 1: r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4."""
    text = read_wheel_text(lifetimes_wheel, "lifetimes/datasets/cdnow_customers_summary.csv")
    frame = pd.read_csv(io.StringIO(text))
    summary = _summary(frame["frequency"], frame["recency"], frame["T"])
    model = BetaGeometricNBD(device="cpu").fit(summary)
    assert model.converged_
    assert model.r_ == pytest.approx(0.243, abs=0.001)
    assert model.alpha_ == pytest.approx(4.414, abs=0.005)
    assert model.a_ == pytest.approx(0.793, abs=0.002)
    assert model.b_ == pytest.approx(2.426, abs=0.005)
    assert model.mean_log_likelihood_ * len(summary) == pytest.approx(-9582.4, abs=0.5)


def test_gamma_gamma_matches_published_cdnow_estimates(lifetimes_wheel: Path) -> None:
    """Fader, Hardie & Lee (2005, "RFM and CLV"): p=6.25, q=3.74, gamma=15.44."""
    text = read_wheel_text(
        lifetimes_wheel, "lifetimes/datasets/cdnow_customers_summary_with_transactions.csv"
    )
    frame = pd.read_csv(io.StringIO(text))
    summary = _summary(frame["x"], frame["t_x"], frame["T"], frame["zbar"])
    model = GammaGammaSpend(device="cpu").fit(summary)
    assert model.customers_used_ == 946
    assert model.p_ == pytest.approx(6.25, abs=0.02)
    assert model.q_ == pytest.approx(3.74, abs=0.02)
    assert model.v_ == pytest.approx(15.44, abs=0.1)
    spend = model.expected_spend(summary)
    # No repeat purchases: the population mean p * v / (q - 1).
    assert spend[frame["x"].to_numpy() == 0][0] == pytest.approx(6.25 * 15.44 / 2.74, rel=0.01)


def _simulate_bgnbd(r, alpha, a, b, customers, weeks, seed) -> PurchaseSummary:
    rng = np.random.default_rng(seed)
    rate = rng.gamma(r, 1 / alpha, customers)
    dropout = rng.beta(a, b, customers)
    frequency = np.zeros(customers)
    last = np.zeros(customers)
    alive = np.ones(customers, bool)
    clock = np.zeros(customers)
    while alive.any():
        gap = rng.exponential(1 / np.maximum(rate, 1e-12))
        clock = np.where(alive, clock + gap, clock)
        bought = alive & (clock < weeks)
        frequency += bought
        last = np.where(bought, clock, last)
        alive = bought & (rng.random(customers) >= dropout)
    return _summary(frequency, last, np.full(customers, float(weeks)))


def test_bgnbd_recovers_simulated_parameters() -> None:
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5}
    summary = _simulate_bgnbd(**truth, customers=40_000, weeks=52, seed=3)
    model = BetaGeometricNBD(device="cpu").fit(summary)
    for name, value in truth.items():
        assert model.params_[name] == pytest.approx(value, rel=0.15), name


def test_expected_purchases_of_a_new_customer_matches_monte_carlo() -> None:
    """With no history beyond the first purchase, E[Y(t)] is the prior's mean count."""
    params = {"r": 0.4, "alpha": 5.0, "a": 0.9, "b": 2.2}
    model = BetaGeometricNBD(device="cpu")
    model.r_, model.alpha_, model.a_, model.b_ = params.values()
    simulated = _simulate_bgnbd(**params, customers=400_000, weeks=26, seed=5)
    formula = model.expected_purchases(26.0, _summary([0], [0], [0]))[0]
    standard_error = simulated.frequency.std() / np.sqrt(len(simulated))
    assert abs(simulated.frequency.mean() - formula) < 4 * standard_error


def test_expected_purchases_is_finite_where_the_hypergeometric_term_is_negative() -> None:
    """With a + b < 1 a newcomer's 2F1(r, b; a + b - 1; z) is negative (c < 0); the forecast is
    still the prior's mean count (it was NaN through a logarithm of it)."""
    params = {"r": 0.25, "alpha": 5.8, "a": 0.22, "b": 0.70}
    model = BetaGeometricNBD(device="cpu")
    model.r_, model.alpha_, model.a_, model.b_ = params.values()
    weekly = model.weekly_expected_purchases(_summary([0, 0, 2], [0, 0, 3], [4, 36, 10]), 8)
    assert np.isfinite(weekly).all() and (weekly >= 0).all()
    simulated = _simulate_bgnbd(**params, customers=400_000, weeks=8, seed=7)
    formula = model.expected_purchases(8.0, _summary([0], [0], [0]))[0]
    assert abs(simulated.frequency.mean() - formula) < 4 * simulated.frequency.std() / np.sqrt(
        len(simulated)
    )


def test_bgnbd_on_almost_no_repeat_buyers_is_never_nan() -> None:
    """A small shop where 0.5 % of customers bought twice: the unpenalised optimum runs off the
    parameter space; the fit falls back to a penalised one and says so, or raises."""
    rng = np.random.default_rng(0)
    n = 2000
    frequency = (rng.random(n) < 0.005).astype(float)
    age = rng.integers(1, 60, n).astype(float)
    recency = np.where(frequency > 0, np.floor(age * rng.random(n)), 0.0)
    try:
        model = BetaGeometricNBD(device="cpu").fit(_summary(frequency, recency, age))
    except ValueError as error:
        assert "cannot be fitted" in str(error)
        return
    assert model.fallback_.startswith("the unpenalised fit left the parameter space")
    assert all(np.isfinite(v) for v in model.params_.values())
    summary = _summary(frequency, recency, age)
    assert np.isfinite(model.weekly_expected_purchases(summary, 12)).all()
    assert np.isfinite(model.probability_alive(summary)).all()


def test_gamma_gamma_on_spend_that_does_not_differ_between_customers_is_never_nan() -> None:
    """Every amount drawn from one Gamma(4, 10): nu has no spread across customers, so the
    likelihood has no interior maximum (q, v -> infinity together; unpenalised q reached 3e13
    here and NaN on another CPU, which made the forecast's spend NaN for every repeat buyer).
    The fit falls back to the weak prior, says so, and predicts every customer near the mean."""
    rng = np.random.default_rng(0)
    n = 3000
    frequency = np.where(rng.random(n) < 0.25, rng.integers(1, 4, n), 0).astype(float)
    age = np.full(n, 52.0)
    recency = np.where(frequency > 0, 40.0, 0.0)
    # a customer's mean of x purchases from Gamma(4, scale 10) is Gamma(4x, scale 10 / x)
    monetary = np.where(
        frequency > 0, rng.gamma(4 * np.maximum(frequency, 1), 10 / np.maximum(frequency, 1)), 0
    )
    summary = _summary(frequency, recency, age, monetary)
    model = GammaGammaSpend(device="cpu").fit(summary)
    assert model.fallback_.startswith("the unpenalised fit left the parameter space")
    assert all(np.isfinite(v) and v < 1e4 for v in model.params_.values())
    spend = model.expected_spend(summary)
    assert np.isfinite(spend).all()
    assert spend.mean() == pytest.approx(40.0, rel=0.05)
    assert spend.std() < 0.1 * spend.mean()  # pooled: the data show no between-customer spread


def test_expected_purchases_is_cumulative_and_alive_bounded() -> None:
    model = BetaGeometricNBD(device="cpu")
    model.r_, model.alpha_, model.a_, model.b_ = 0.3, 6.0, 0.7, 2.4
    summary = _summary([0, 3, 10], [0, 20, 50], [30, 52, 52])
    weekly = model.weekly_expected_purchases(summary, 12)
    assert weekly.shape == (3, 12)
    assert (weekly >= 0).all()
    assert weekly.sum(axis=1) == pytest.approx(model.expected_purchases(12.0, summary))
    alive = model.probability_alive(summary)
    assert alive[0] == 1.0 and 0 < alive[1] < 1
    # A frequent buyer who bought recently is worth more purchases than a newcomer.
    assert weekly[2].sum() > weekly[0].sum()


def test_pareto_nbd_matches_published_cdnow_estimates(lifetimes_wheel: Path) -> None:
    """Fader & Hardie (2005, Pareto/NBD note): r=0.5533, alpha=10.5776, s=0.6061, beta=11.6650,
    LL=-9594.98 on the same CDNOW sample."""
    text = read_wheel_text(lifetimes_wheel, "lifetimes/datasets/cdnow_customers_summary.csv")
    frame = pd.read_csv(io.StringIO(text))
    summary = _summary(frame["frequency"], frame["recency"], frame["T"])
    model = ParetoNBD().fit(summary)
    assert model.converged_
    assert model.r_ == pytest.approx(0.5533, abs=0.001)
    assert model.alpha_ == pytest.approx(10.5776, abs=0.01)
    assert model.s_ == pytest.approx(0.6061, abs=0.001)
    assert model.beta_ == pytest.approx(11.6650, abs=0.01)
    assert model.mean_log_likelihood_ * len(summary) == pytest.approx(-9594.98, abs=0.05)


def test_pareto_nbd_formulas_match_numerical_integration() -> None:
    """The closed forms (hypergeometric likelihood, P(alive), E[Y(t)]) against a direct integral
    over the Gamma priors of lambda and mu, on a 2,000 x 2,000 grid of their quantiles."""
    params = {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}
    model = ParetoNBD()
    model.r_, model.alpha_, model.s_, model.beta_ = params.values()
    summary = _summary([0, 2, 7, 1], [0, 30.43, 35, 2], [38.86, 38.86, 36, 30])
    quantiles = (np.arange(2000) + 0.5) / 2000
    rate = stats.gamma.ppf(quantiles, params["r"], scale=1 / params["alpha"])[:, None]
    death = stats.gamma.ppf(quantiles, params["s"], scale=1 / params["beta"])[None, :]
    log_likelihood = model.log_likelihood(summary)
    alive_probability = model.probability_alive(summary)
    expected = model.expected_purchases(39.0, summary)
    for i in range(len(summary)):
        x, t_x, age = summary.frequency[i], summary.recency[i], summary.age[i]
        alive = rate**x * np.exp(-(rate + death) * age)  # [grid, grid]
        left = (
            rate**x
            * death
            / (rate + death)
            * (np.exp(-(rate + death) * t_x) - np.exp(-(rate + death) * age))
        )
        likelihood = (alive + left).mean()
        assert log_likelihood[i] == pytest.approx(np.log(likelihood), abs=1e-4)
        assert alive_probability[i] == pytest.approx(alive.mean() / likelihood, rel=1e-4)
        later = (alive * rate / death * (1 - np.exp(-death * 39.0))).mean() / likelihood
        assert expected[i] == pytest.approx(later, rel=1e-4)


def test_pareto_nbd_expectation_is_continuous_at_s_one() -> None:
    summary = _summary([0, 4], [0, 20], [26, 26])
    values = []
    for s in (1.0 - 1e-6, 1.0, 1.0 + 1e-6):
        model = ParetoNBD()
        model.r_, model.alpha_, model.s_, model.beta_ = 0.5, 8.0, s, 12.0
        values.append(model.expected_purchases(np.array([4.0, 26.0]), summary))
    assert values[0] == pytest.approx(values[1], rel=1e-5)
    assert values[2] == pytest.approx(values[1], rel=1e-5)
    assert (np.diff(values[1], axis=1) > 0).all()


@settings(max_examples=60, deadline=None)
@given(
    r=st.floats(0.05, 5.0),
    alpha=st.floats(0.5, 50.0),
    s=st.floats(0.05, 5.0),
    beta=st.floats(0.5, 50.0),
    frequency=st.integers(0, 30),
    recency_share=st.floats(0.0, 1.0),
    age=st.floats(1.0, 78.0),
)
def test_pareto_nbd_predictions_are_probabilities_and_grow_with_time(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    frequency: int,
    recency_share: float,
    age: float,
) -> None:
    """Whatever the parameters and history, P(alive) is a probability, one that falls the
    longer a customer has been silent, and expected purchases grow with the window."""
    model = ParetoNBD()
    model.r_, model.alpha_, model.s_, model.beta_ = r, alpha, s, beta
    recency = recency_share * age if frequency else 0.0
    summary = _summary([frequency, frequency], [recency, recency * 0.5], [age, age])
    alive = model.probability_alive(summary)
    assert np.all((alive > 0) & (alive <= 1 + 1e-12))
    if frequency and recency > 0:
        assert alive[1] <= alive[0] + 1e-9  # same purchases, longer silence
    expected = model.expected_purchases(np.array([1.0, 13.0, 52.0]), summary)
    assert np.all(np.isfinite(expected)) and np.all(np.diff(expected, axis=1) >= -1e-12)
