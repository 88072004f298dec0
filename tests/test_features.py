"""Features computed in DuckDB, checked on a hand-built history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.features import anchor_features, holdout_outcome, purchase_summary
from shopdata.store import Store
from shopdata.validation import InputTables


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
