"""The campaign log's outcomes, read once for the release decision and `ltv evaluate`: every
window in one query, cross-fitted doubly robust scores, typed estimates with their clustered
covariances, and policy values that recover known truths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.logged_estimates import GainEstimate, NotEstimable, covariance
from engine.logged_outcomes import (
    MIN_ROWS,
    WINDOWS,
    LoggedOutcomes,
    logged_examples,
    observable_windows,
    read_logged_outcomes,
)
from forecasting.features import ANCHOR_FEATURES
from shopdata.actions import DEMO_ACTIONS, Action
from shopdata.calendar import horizon_start
from shopdata.store import Store
from shopdata.validation import load_inputs
from tests.conftest import SMALL_AS_OF

ACTIONS = (Action("none"), Action("coupon", fixed_cost=0.1))


def synthetic_log(
    customers: int,
    *,
    effect: float,
    weeks_per_customer: int = 1,
    windows: tuple[int, ...] = (0, 4),
    later_effect: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """A randomised log (the coupon with propensity 0.4, or 0.1 for customers with a positive
    `log_mean_spend`): the coupon adds `effect` of spend in the week and `later_effect` in the
    weeks after, each customer logged `weeks_per_customer` times with a customer-level shock
    shared by their weeks (what the clustered standard errors are for)."""
    rng = np.random.default_rng(seed)
    rows = customers * weeks_per_customer
    customer = np.repeat(np.arange(customers), weeks_per_customer)
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in ANCHOR_FEATURES})
    chance = np.where(frame["log_mean_spend"] > 0, 0.1, 0.4)
    coupon = rng.random(rows) < chance
    shock = rng.normal(0, 2, customers)[customer]
    frame["customer_id"] = [f"c{i}" for i in customer]
    frame["action"] = np.where(coupon, "coupon", "none")
    frame["propensity"] = np.where(coupon, chance, 1 - chance)
    week = 3.0 + frame["log_mean_spend"].to_numpy() + shock + coupon * effect
    frame["spend"] = week + rng.normal(0, 1, rows)
    for k in windows:
        frame[f"later_{k}"] = k * (1.0 + coupon * later_effect / max(k, 1)) + rng.normal(
            0, 1 + k / 4, rows
        )
    return frame


def test_every_window_is_read_in_one_query_and_capped_where_asked(
    small_market_dir: Path,
) -> None:
    """The windows the log observes are counted before its rows are read, and read together;
    a cap keeps the windows up to it. Each window's outcome is the margin over the logged week
    and the K weeks after it: the same whichever other windows are read with it."""
    ids = [a.id for a in DEMO_ACTIONS]
    tables = load_inputs(small_market_dir, as_of=SMALL_AS_OF, action_ids=ids)
    week = horizon_start(SMALL_AS_OF)
    with Store.create(tables) as store:
        observed = observable_windows(store, week)
        everything = read_logged_outcomes(store, DEMO_ACTIONS, 0.3, week)
        capped = read_logged_outcomes(store, DEMO_ACTIONS, 0.3, week, longest=4)
        alone = LoggedOutcomes(
            logged_examples(store, DEMO_ACTIONS, week, windows=(4,)), DEMO_ACTIONS, 0.3
        )
    assert everything is not None and capped is not None
    assert observed[0] == 0 and everything.windows == observed
    assert capped.windows == tuple(k for k in observed if k <= 4)
    assert set(observed) <= set(WINDOWS) and len(observed) >= 4
    np.testing.assert_array_equal(alone.outcome[4], capped.outcome[4])
    # a longer window is observed by fewer logged weeks (the later ones have not ended)
    counts = [everything.observed(k).sum() for k in everything.windows]
    assert counts == sorted(counts, reverse=True) and counts[-1] < counts[0]


def test_the_gain_over_each_window_recovers_the_truth_and_its_covariance_is_its_variance() -> None:
    """A coupon adding 1.0 in its week and 2.0 over the 4 weeks after: the week's window reads
    ~1.0 and the 5 weeks' ~3.0 (minus its fixed cost), each within its interval; an estimate's
    clustered covariance with itself is its squared standard error; the two windows' estimates
    are positively correlated (the same rows, nested outcomes)."""
    outcomes = LoggedOutcomes(
        synthetic_log(6000, effect=1.0, later_effect=2.0, weeks_per_customer=3), ACTIONS, 1.0
    )
    assert outcomes.windows == (0, 4)
    found = {}
    for k, truth in ((0, 1.0 - 0.1), (4, 3.0 - 0.1)):
        result = outcomes.influence(1, None, k)
        assert isinstance(result, tuple)
        estimate, influence = result
        assert isinstance(estimate, GainEstimate) and estimate.scope == "targets"
        assert abs(estimate.mean - truth) < 3 * estimate.standard_error, estimate
        assert covariance(influence, influence) == pytest.approx(estimate.standard_error**2)
        found[k] = (estimate, influence)
    correlation = covariance(found[0][1], found[4][1]) / (
        found[0][0].standard_error * found[4][0].standard_error
    )
    assert 0.2 < correlation < 1.0


def test_a_target_group_with_too_few_rows_reads_every_row_and_says_so() -> None:
    log = synthetic_log(2000, effect=1.0)
    outcomes = LoggedOutcomes(log, ACTIONS, 1.0)
    few = outcomes.members(np.array(["c1", "c2", "c3"]))
    estimate = outcomes.gain(1, few, 0)
    assert isinstance(estimate, GainEstimate) and estimate.scope == "all"
    many = outcomes.members(log["customer_id"].unique()[:1500])
    assert outcomes.gain(1, many, 0).scope == "targets"  # type: ignore[union-attr]
    never = LoggedOutcomes(log[log["action"] == "none"], ACTIONS, 1.0)
    missing = never.gain(1, None, 0)
    assert isinstance(missing, NotEstimable)
    assert f"at least {MIN_ROWS} of each needed" in missing.reason
    assert isinstance(never.gain(1, None, 12), NotEstimable)  # a window the log has not seen


def test_off_policy_estimates_recover_a_known_policy_value() -> None:
    """A randomised, stratified log where the coupon adds exactly 1.0 of margin net of its
    cost: IPW and DR recover the value of always and never couponing, and what couponing adds
    over never, within their intervals; DR is the tighter."""
    rows = 40_000
    log = synthetic_log(rows, effect=1.1, windows=(0,), seed=1)
    outcomes = LoggedOutcomes(log, ACTIONS, gross_margin=1.0)
    base = 3.0 + log["log_mean_spend"].to_numpy()
    never = outcomes.policy_value(np.zeros(rows, dtype=np.int64), 0)
    always = outcomes.policy_value(np.ones(rows, dtype=np.int64), 0)
    gain = outcomes.policy_gain(np.ones(rows, dtype=np.int64), 0)
    for estimate, truth in ((never, base.mean()), (always, base.mean() + 1.0), (gain, 1.0)):
        assert estimate.ipw_ci[0] <= truth <= estimate.ipw_ci[1], estimate
        assert estimate.dr_ci[0] <= truth <= estimate.dr_ci[1], estimate
        assert estimate.dr_ci[1] - estimate.dr_ci[0] < estimate.ipw_ci[1] - estimate.ipw_ci[0]
    unlogged = outcomes.policy_value(np.full(rows, 1, dtype=np.int64), 26)
    assert not unlogged.estimable and "26 weeks" in unlogged.reason
