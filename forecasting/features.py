"""Customer features computed in the store with DuckDB SQL (no Python loop over customers).

Time is counted in weeks that start on Monday (ISO weeks, DuckDB's `date_trunc('week', ...)`);
a customer's purchase count is the number of distinct weeks with a purchase, as in the weekly
BG/NBD literature and the `lifetimes` reference implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.store import Store


@dataclass(frozen=True)
class PurchaseSummary:
    """Per customer, up to `observation_end`: the sufficient statistics of BG/NBD + Gamma-Gamma.

    frequency: repeat purchase weeks (purchase weeks - 1); recency: weeks from the first to the
    last purchase week; age: weeks from the first purchase week to the end's week (BG/NBD's T);
    monetary_value: mean spend of the repeat purchase weeks (0 when there are none).
    """

    customer_ids: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    age: np.ndarray
    monetary_value: np.ndarray
    first_week: np.ndarray
    observation_end: pd.Timestamp

    def __len__(self) -> int:
        return len(self.customer_ids)


@dataclass(frozen=True)
class HoldoutOutcome:
    """Per customer of a summary, what happened in (start, end]: purchase weeks and spend."""

    purchase_weeks: np.ndarray
    spend: np.ndarray
    start: pd.Timestamp
    end: pd.Timestamp


def _purchase_filter(store: Store) -> str:
    has_refund = not store.query(
        "SELECT 1 FROM information_schema.columns WHERE table_name = 'transactions' "
        "AND column_name = 'is_refund'").empty
    return "NOT is_refund" if has_refund else "TRUE"


def purchase_summary(store: Store, observation_end: pd.Timestamp | str) -> PurchaseSummary:
    """RFM-T summary of every customer with a purchase on or before `observation_end`."""
    end = pd.Timestamp(observation_end)
    is_purchase = _purchase_filter(store)
    frame = store.query(
        f"""
        WITH weekly AS (
            SELECT customer_id, date_trunc('week', ts) AS week, sum(amount) AS amount
            FROM transactions
            WHERE ts <= $end AND {is_purchase}
            GROUP BY customer_id, week
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY week) AS k FROM weekly
        )
        SELECT customer_id,
               count(*) - 1 AS frequency,
               datediff('day', min(week), max(week)) / 7.0 AS recency,
               datediff('day', min(week), date_trunc('week', $end::TIMESTAMP)) / 7.0 AS age,
               coalesce(avg(amount) FILTER (WHERE k > 1), 0.0) AS monetary_value,
               min(week) AS first_week
        FROM ranked
        GROUP BY customer_id
        ORDER BY customer_id
        """.replace("$end", "?"),
        [end, end],
    )
    return PurchaseSummary(
        customer_ids=frame["customer_id"].to_numpy(dtype=str),
        frequency=frame["frequency"].to_numpy(dtype=np.float64),
        recency=frame["recency"].to_numpy(dtype=np.float64),
        age=frame["age"].to_numpy(dtype=np.float64),
        monetary_value=frame["monetary_value"].to_numpy(dtype=np.float64),
        first_week=frame["first_week"].to_numpy(dtype="datetime64[ns]"),
        observation_end=end,
    )


def holdout_outcome(
    store: Store, summary: PurchaseSummary, start: pd.Timestamp, end: pd.Timestamp
) -> HoldoutOutcome:
    """Purchase weeks and spend in (start, end] for the customers of `summary`, in its order."""
    is_purchase = _purchase_filter(store)
    frame = store.query(
        f"""
        SELECT customer_id,
               count(DISTINCT date_trunc('week', ts)) FILTER (WHERE {is_purchase}) AS weeks,
               sum(amount) AS spend
        FROM transactions
        WHERE ts > ? AND ts <= ?
        GROUP BY customer_id
        """,
        [pd.Timestamp(start), pd.Timestamp(end)],
    ).set_index("customer_id")
    aligned = frame.reindex(pd.Index(summary.customer_ids, dtype="string")).fillna(0.0)
    return HoldoutOutcome(
        purchase_weeks=aligned["weeks"].to_numpy(dtype=np.float64),
        spend=aligned["spend"].to_numpy(dtype=np.float64),
        start=pd.Timestamp(start),
        end=pd.Timestamp(end),
    )
