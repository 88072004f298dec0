"""The synthetic market: deterministic, valid input, and promotions behave as designed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markets.demo.config import MarketConfig
from markets.demo.dynamics import MarketState, WeekNoise, step
from markets.demo.ground_truth import FILE_NAME, GroundTruth
from markets.demo.history import DemoMarket, generate_market
from markets.demo.population import draw_population
from shopdata.actions import DEMO_ACTIONS
from shopdata.validation import load_inputs
from tests.conftest import SMALL_AS_OF, small_config

COUPON_20 = [a.id for a in DEMO_ACTIONS].index("coupon_20")


def test_same_seed_same_market(small_market: DemoMarket) -> None:
    again = generate_market(small_config())
    pd.testing.assert_frame_equal(small_market.transactions, again.transactions)
    pd.testing.assert_frame_equal(small_market.campaign_log, again.campaign_log)
    other = generate_market(small_config(seed=12))
    assert not small_market.transactions["amount"].equals(other.transactions["amount"])


def test_written_market_passes_validation(small_market_dir: Path) -> None:
    tables = load_inputs(
        small_market_dir, as_of=SMALL_AS_OF, action_ids=[a.id for a in DEMO_ACTIONS]
    )
    assert tables.transactions["ts"].max() < SMALL_AS_OF
    assert set(tables.campaign_log["action"]) == {a.id for a in DEMO_ACTIONS}
    assert tables.reviews is not None and len(tables.reviews) > 0
    assert (small_market_dir / FILE_NAME).is_file()


def test_every_customer_buys_in_their_acquisition_week(small_market: DemoMarket) -> None:
    first = small_market.transactions.groupby("customer_id")["ts"].min()
    config = small_market.config
    expected = config.first_week_start + pd.to_timedelta(
        small_market.population.acquisition_week * 7, unit="D"
    )
    got = first.reindex(small_market.customer_ids).dt.normalize()
    week_start = got - pd.to_timedelta(got.dt.day_of_week, unit="D")
    assert (week_start.to_numpy() == expected.to_numpy()).all()


def test_logged_propensities_match_assignment_shares(small_market: DemoMarket) -> None:
    log = small_market.campaign_log
    for propensity, group in log.groupby("propensity"):
        if propensity in (0.55, 0.8):  # the `none` arm of each stratum
            share = (group["action"] == "none").mean()
            assert share == 1.0
    none_rows = log["action"] == "none"
    assert 0.55 < none_rows.mean() < 0.8


def test_ground_truth_round_trip_and_common_random_numbers(small_market_dir: Path) -> None:
    truth = GroundTruth.load(small_market_dir / FILE_NAME)
    assert truth.config == small_config()
    plan = np.zeros((len(truth.customer_ids), 8), dtype=np.int64)
    first, second = truth.replay(plan, seed=3), truth.replay(plan, seed=3)
    np.testing.assert_array_equal(first.spend, second.spend)
    # A plan that contacts half the customers changes only what it touches this week.
    plan[::2, 0] = COUPON_20
    third = truth.replay(plan, seed=3)
    np.testing.assert_array_equal(third.purchased[1::2, 0], first.purchased[1::2, 0])


def _one_week(population_size: int = 200_000, seed: int = 0):
    config = MarketConfig(
        customers=population_size,
        weeks=8,
        seed=seed,
        as_of=pd.Timestamp("2026-11-23"),
        campaign_weeks=0,
    )
    market = generate_market(config)
    discounted = np.array([a.discount_rate > 0 for a in config.actions])
    return market, discounted


def test_promotions_lift_now_and_borrow_from_later() -> None:
    """Immediate lift, pull-forward and conditioning, measured in the true dynamics."""
    market, discounted = _one_week()
    population, state = market.population, market.final_state
    n = len(population)
    week = market.config.weeks
    burst = np.full(n, COUPON_20)
    none = np.zeros(n, dtype=np.int64)
    treated_state, control_state = state, state
    for offset in range(4):
        noise = WeekNoise.draw(1, week + offset, n, market.config.spend_p)
        treated, treated_state = step(
            population, treated_state, burst, week + offset, noise, discounted=discounted
        )
        control, control_state = step(
            population, control_state, none, week + offset, noise, discounted=discounted
        )
        if offset == 0:
            assert treated.probability.mean() > 1.3 * control.probability.mean()
            assert np.all(treated.probability_none == control.probability)
    # After the burst: debt and discount expectation cut full-price buying below control.
    noise = WeekNoise.draw(1, week + 4, n, market.config.spend_p)
    after_treated, _ = step(population, treated_state, none, week + 4, noise, discounted=discounted)
    after_control, _ = step(population, control_state, none, week + 4, noise, discounted=discounted)
    alive_both = treated_state.alive & control_state.alive
    assert (
        after_treated.probability[alive_both].mean()
        < 0.95 * after_control.probability[alive_both].mean()
    )
    assert treated_state.discount_stock.mean() > 1.0 > control_state.discount_stock.mean()


def test_some_customers_are_put_off_by_email() -> None:
    market, _ = _one_week(population_size=20_000)
    email = [a.id for a in DEMO_ACTIONS].index("email")
    assert 0.05 < (market.population.lift[:, email] < 0).mean() < 0.3
    assert (market.population.lift[:, 0] == 0).all()


def test_market_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="'as_of' parameter of MarketConfig must be a Monday"):
        MarketConfig(as_of=pd.Timestamp("2026-11-25"))
    with pytest.raises(ValueError, match="'customers' parameter"):
        MarketConfig(customers=0)


def test_initial_state_is_empty() -> None:
    state = MarketState.initial(3)
    assert not state.alive.any() and not state.acquired.any()


def test_the_responsive_market_is_mixed_with_four_times_its_lifts() -> None:
    """Same seed, same customers: every lift is four times mixed's (shown on the on-site
    action, which e-mail annoyance does not touch), and nothing else about the market differs."""
    mixed = MarketConfig.from_preset("mixed", customers=2000)
    responsive = MarketConfig.from_preset("responsive", customers=2000)
    for action, response in mixed.responses.items():
        assert responsive.responses[action].lift == pytest.approx(4 * response.lift)
        assert responsive.responses[action].retention == response.retention
        assert responsive.responses[action].conditioning == response.conditioning
    assert responsive.behaviour == mixed.behaviour
    assert responsive.campaign_weeks == mixed.campaign_weeks
    a = draw_population(mixed, np.random.default_rng(3))
    b = draw_population(responsive, np.random.default_rng(3))
    np.testing.assert_array_equal(a.purchase_rate, b.purchase_rate)
    np.testing.assert_array_equal(a.retention, b.retention)
    onsite = [a.id for a in DEMO_ACTIONS].index("free_shipping")
    np.testing.assert_allclose(b.lift[:, onsite], 4 * a.lift[:, onsite])
