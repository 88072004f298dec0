"""Features computed in DuckDB, checked on a hand-built history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.baseline import BaselineForecaster
from forecasting.features import anchor_features, holdout_outcome, log_sample, purchase_summary
from shopdata.actions import DEMO_ACTIONS
from shopdata.calendar import horizon_start
from shopdata.store import Store
from shopdata.validation import InputTables, load_inputs
from tests.conftest import SMALL_AS_OF

ACTION_IDS = [a.id for a in DEMO_ACTIONS]


@pytest.fixture()
def store() -> Store:
    # Mondays: 2025-01-06, -13, -20, -27, 02-03 ...
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c"],
            "ts": pd.to_datetime(
                [
                    "2025-01-06 10:00",
                    "2025-01-08 09:00",
                    "2025-01-21 12:00",
                    "2025-02-05 08:00",
                    "2025-01-12 23:00",
                    "2025-02-10 10:00",
                ]
            ),
            "amount": [10.0, 5.0, 30.0, 50.0, 8.0, 12.0],
        }
    )
    campaign_log = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "week_start": pd.to_datetime(["2025-01-20", "2025-02-03", "2025-02-03"]),
            "action": ["coupon_10", "email", "none"],
            "propensity": [0.2, 0.2, 0.6],
        }
    )
    return Store.create(InputTables(transactions, None, campaign_log, None, None))


def test_purchase_summary_counts_weeks(store: Store) -> None:
    summary = purchase_summary(store, "2025-01-31")
    assert summary.customer_ids.tolist() == ["a", "b"]
    # a: purchase weeks 01-06 (two orders, 15.0) and 01-20 (30.0); end week 01-27.
    assert summary.frequency.tolist() == [1.0, 0.0]
    assert summary.recency.tolist() == [2.0, 0.0]
    assert summary.age.tolist() == [3.0, 3.0]
    assert summary.monetary_value.tolist() == [30.0, 0.0]


def test_holdout_outcome_aligns_with_summary(store: Store) -> None:
    summary = purchase_summary(store, "2025-01-31")
    outcome = holdout_outcome(
        store, summary, pd.Timestamp("2025-01-31"), pd.Timestamp("2025-03-01")
    )
    assert outcome.purchase_weeks.tolist() == [1.0, 0.0]
    assert outcome.spend.tolist() == [50.0, 0.0]


def test_future_outcome_is_missing_past_the_data_end(store: Store) -> None:
    frame = anchor_features(
        store,
        "SELECT customer_id, week_start FROM campaign_log WHERE customer_id = 'b'",
        discount_actions=(),
        outcome_weeks=2,
    )
    assert np.isnan(frame["future_spend"].iloc[0])


def test_anchor_features_and_outcomes(store: Store) -> None:
    frame = anchor_features(
        store,
        "SELECT customer_id, week_start, action FROM campaign_log",
        discount_actions=("coupon_10",),
        outcome_weeks=1,
    )
    a_first, a_second, b = (frame.iloc[i] for i in range(3))
    assert a_first["log_purchase_weeks"] == pytest.approx(np.log(2))  # one purchase week
    assert a_first["weeks_since_last_purchase"] == 2.0
    assert a_first["bought"] == 1 and a_first["spend"] == 30.0
    assert a_first["future_spend"] == 0.0  # nothing in the week of 01-27
    assert a_second["contacts_4w"] == 1 and a_second["discount_contacts_8w"] == 1
    assert a_second["bought"] == 1 and a_second["spend"] == 50.0
    # The data end in the week of 02-10 (c's purchase), so the week after 02-03 is observed.
    assert a_second["future_spend"] == 0.0
    assert b["bought"] == 0 and b["tenure_weeks"] == 4.0


def test_an_action_named_with_a_quote_is_counted_not_broken() -> None:
    """A shop's own action ids are its words ("kids' coupon"); they reach SQL as text."""
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            "ts": pd.to_datetime(["2025-01-06 10:00", "2025-02-05 08:00"]),
            "amount": [10.0, 50.0],
        }
    )
    log = pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            "week_start": pd.to_datetime(["2025-01-20", "2025-02-03"]),
            "action": ["kids' coupon", "none"],
            "propensity": [0.5, 0.5],
        }
    )
    with Store.create(InputTables(transactions, None, log, None, None)) as store:
        frame = anchor_features(
            store,
            "SELECT customer_id, week_start, action FROM campaign_log",
            discount_actions=("kids' coupon", "x') OR (1=1"),
        )
    assert frame["discount_contacts_8w"].tolist() == [0, 1]


def test_a_log_sample_keeps_whole_customers_and_about_the_asked_rows(
    small_market_dir: Path,
) -> None:
    tables = load_inputs(small_market_dir, as_of=SMALL_AS_OF, action_ids=ACTION_IDS)
    with Store.create(tables) as store:
        everything = log_sample(store)
        assert everything.condition == "TRUE" and everything.share == 1.0
        assert everything.note == ""
        total = everything.rows
        sample = log_sample(store, max_rows=total // 4)
        assert sample == log_sample(store, max_rows=total // 4)  # the same customers each run
        assert "sampled" in sample.note and f"{total:,}" in sample.note
        kept = store.query(
            f"SELECT customer_id, count(*) AS n FROM campaign_log WHERE {sample.condition} "
            "GROUP BY customer_id"
        )
        every = store.query("SELECT customer_id, count(*) AS n FROM campaign_log GROUP BY ALL")
    # whole histories: each kept customer has all of its rows
    merged = kept.merge(every, on="customer_id", suffixes=("_kept", "_all"))
    assert len(merged) == len(kept) and (merged["n_kept"] == merged["n_all"]).all()
    assert kept["n"].sum() == pytest.approx(total / 4, rel=0.15)
    assert len(kept) == pytest.approx(sample.share * len(every), rel=0.15)


def test_the_effect_learner_trains_on_the_sample_and_says_so(small_market_dir: Path) -> None:
    tables = load_inputs(small_market_dir, as_of=SMALL_AS_OF, action_ids=ACTION_IDS)
    week = horizon_start(SMALL_AS_OF)
    with Store.create(tables) as store:
        rows = log_sample(store).rows
        forecaster = BaselineForecaster(
            horizon_weeks=4, device="cpu", seed=3, max_log_rows=rows // 3
        ).fit(store, week)
    effects = forecaster.metadata().parameters["effects"]
    assert effects["log_sample"]["share_of_customers"] < 0.5
    assert "sampled" in effects["log_sample"]["note"]
    assert effects["training_rows"] < 0.5 * rows
