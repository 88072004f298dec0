"""Customer features computed in the store with DuckDB SQL (no Python loop over customers).

Time is counted in weeks that start on Monday (ISO weeks, DuckDB's `date_trunc('week', ...)`);
a customer's purchase count is the number of distinct weeks with a purchase, as in the weekly
BG/NBD literature and the `lifetimes` reference implementation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopdata.store import Store


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

    def subset(self, rows: np.ndarray) -> PurchaseSummary:
        """The summary of the customers at `rows` (indices, in that order)."""
        return PurchaseSummary(
            customer_ids=self.customer_ids[rows],
            frequency=self.frequency[rows],
            recency=self.recency[rows],
            age=self.age[rows],
            monetary_value=self.monetary_value[rows],
            first_week=self.first_week[rows],
            observation_end=self.observation_end,
        )


@dataclass(frozen=True)
class HoldoutOutcome:
    """Per customer of a summary, what happened in (start, end]: purchase weeks and spend."""

    purchase_weeks: np.ndarray
    spend: np.ndarray
    start: pd.Timestamp
    end: pd.Timestamp


def purchase_filter(store: Store) -> str:
    """SQL condition on `transactions` that keeps purchases (refunds out, when flagged)."""
    return "NOT is_refund" if store.has_column("transactions", "is_refund") else "TRUE"


def purchase_summary(store: Store, observation_end: pd.Timestamp | str) -> PurchaseSummary:
    """RFM-T summary of every customer with a purchase on or before `observation_end`."""
    end = pd.Timestamp(observation_end)
    is_purchase = purchase_filter(store)
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
    is_purchase = purchase_filter(store)
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


def weekly_purchases(
    store: Store, customer_ids: np.ndarray, first_week: pd.Timestamp, weeks: int
) -> np.ndarray:
    """1 where the customer bought in Monday-based week k from `first_week` on ([N, weeks],
    rows in `customer_ids` order): the observations a weekly purchase probability is judged
    against."""
    frame = store.query(
        f"""
        SELECT DISTINCT customer_id, date_diff('week', ?::TIMESTAMP, date_trunc('week', ts)) AS k
        FROM transactions
        WHERE {purchase_filter(store)} AND ts >= ? AND ts < ?
        """,
        [
            pd.Timestamp(first_week),
            pd.Timestamp(first_week),
            pd.Timestamp(first_week) + pd.Timedelta(weeks=weeks),
        ],
    )
    flags = np.zeros((len(customer_ids), weeks), dtype=np.float32)
    rows = pd.Index(customer_ids.astype(str)).get_indexer(frame["customer_id"].astype(str))
    k = frame["k"].to_numpy(dtype=np.int64)
    keep = (rows >= 0) & (k >= 0) & (k < weeks)
    flags[rows[keep], k[keep]] = 1.0
    return flags


#: Columns of the per-anchor feature matrix, in order (see `anchor_features`).
ANCHOR_FEATURES: tuple[str, ...] = (
    "log_purchase_weeks",
    "weeks_since_last_purchase",
    "tenure_weeks",
    "log_mean_spend",
    "log_spend_13w",
    "purchase_weeks_13w",
    "contacts_4w",
    "discount_contacts_8w",
    "has_history",
)


#: Campaign-log rows one fit or check reads at most (the effect learner's training examples,
#: the release check's outcomes). Beyond it a fixed sample of customers is read, each with its
#: whole history: a 1M-customer shop logs 26M customer-weeks in half a year, and reading them
#: all held ~1.2 KB a row (30 GB) for an estimate whose standard error a sample of 2M rows
#: already puts at 1/sqrt(2M) of a row's spread.
MAX_LOG_ROWS = 2_000_000


@dataclass(frozen=True)
class LogSample:
    """Which customers of the campaign log are read: `condition`, a SQL predicate on
    `customer_id` (TRUE for all), keeping about `share` of the `rows` matching the query."""

    condition: str
    share: float
    rows: int

    @property
    def note(self) -> str:
        if self.share >= 1.0:
            return ""
        return (
            f"campaign log sampled: {self.share:.1%} of its customers (a fixed hash of the id, "
            f"whole histories) for about {self.share * self.rows:,.0f} of its {self.rows:,} "
            "rows"
        )


def log_sample(store: Store, where: str = "TRUE", max_rows: int = MAX_LOG_ROWS) -> LogSample:
    """The sample of campaign-log customers to read so that about `max_rows` of the log's rows
    matching `where` remain (all of them when they are fewer). The hash is DuckDB's, so the
    same customers are drawn on every run."""
    rows = int(store.query(f"SELECT count(*) FROM campaign_log WHERE {where}").iloc[0, 0])
    if rows <= max_rows:
        return LogSample("TRUE", 1.0, rows)
    buckets = 1_000_000
    kept = max(1, int(buckets * max_rows / rows))
    return LogSample(f"hash(customer_id) % {buckets} < {kept}", kept / buckets, rows)


def anchor_features(
    store: Store,
    anchors_sql: str,
    *,
    discount_actions: tuple[str, ...],
    outcome_weeks: int = 0,
    observed_until: pd.Timestamp | None = None,
    frames: Mapping[str, pd.DataFrame] | None = None,
    also_outcome_weeks: tuple[int, ...] = (),
) -> pd.DataFrame:
    """Features of each (customer_id, week_start) anchor from everything before that week.

    `anchors_sql` selects `customer_id`, `week_start` (a Monday) and any passthrough columns.
    Features use purchases strictly before `week_start` and campaign contacts in the weeks
    before it. With `outcome_weeks` = K > 0 the frame also holds outcomes: `bought` and
    `spend` in the anchor's own week, and `future_spend` over the K weeks after it
    (NULL where the data end before that window does). The data end at `observed_until` (a
    Monday: the weeks before it are observed) when given, else the week after the last
    transaction; a shop whose customers bought nothing in its last weeks still observed them.
    `frames` are data frames `anchors_sql` reads by name (a shard's customer ids).
    `also_outcome_weeks` (with K > 0) adds `future_spend_{k}` for each k: the same outcome over
    k weeks, in the one query (a window per read cost the release check seconds per window).
    """
    is_purchase = purchase_filter(store)
    has_log = store.has_table("campaign_log")
    # Action ids are the shop's own words ("kids' coupon"): quoted as SQL text literals.
    discount_list = ", ".join("'" + a.replace("'", "''") + "'" for a in discount_actions) or "NULL"
    contacts = (
        f"""LEFT JOIN (
            SELECT a.customer_id, a.week_start,
                   count(*) FILTER (WHERE c.action <> 'none'
                       AND c.week_start >= a.week_start - INTERVAL 28 DAY) AS contacts_4w,
                   count(*) FILTER (WHERE c.action IN ({discount_list})) AS discount_contacts_8w
            FROM anchors a JOIN campaign_log c
              ON c.customer_id = a.customer_id AND c.week_start < a.week_start
             AND c.week_start >= a.week_start - INTERVAL 56 DAY
            GROUP BY ALL) k ON k.customer_id = a.customer_id AND k.week_start = a.week_start"""
        if has_log
        else ""
    )
    contact_columns = (
        "coalesce(k.contacts_4w, 0) AS contacts_4w, "
        "coalesce(k.discount_contacts_8w, 0) AS discount_contacts_8w"
        if has_log
        else "0 AS contacts_4w, 0 AS discount_contacts_8w"
    )
    outcome_columns = ""
    outcome_joins = ""
    if outcome_weeks > 0:
        windows = {"future_spend": outcome_weeks} | {
            f"future_spend_{k}": k for k in also_outcome_weeks
        }
        outcome_columns = """,
            (o.week IS NOT NULL)::INTEGER AS bought,
            coalesce(o.spend, 0.0) AS spend""" + "".join(
            f""",
            CASE WHEN a.week_start + INTERVAL {7 * (k + 1)} DAY
                      <= (SELECT end_week FROM data_end)
                 THEN coalesce(fut{i}.total_spend, 0.0) - coalesce(now_cum.total_spend, 0.0)
            END AS {name}"""
            for i, (name, k) in enumerate(windows.items())
        )
        outcome_joins = """
            LEFT JOIN weekly o ON o.customer_id = a.customer_id AND o.week = a.week_start
            ASOF LEFT JOIN cumulative now_cum
              ON now_cum.customer_id = a.customer_id AND now_cum.week <= a.week_start""" + "".join(
            f"""
            ASOF LEFT JOIN cumulative fut{i}
              ON fut{i}.customer_id = a.customer_id
             AND fut{i}.week <= a.week_start + INTERVAL {7 * k} DAY"""
            for i, k in enumerate(windows.values())
        )
    data_end = (
        "SELECT date_trunc('week', max(ts)) + INTERVAL 7 DAY AS end_week FROM transactions"
        if observed_until is None
        else f"SELECT TIMESTAMP '{pd.Timestamp(observed_until):%Y-%m-%d %H:%M:%S}' AS end_week"
    )
    sql = f"""
        WITH anchors AS ({anchors_sql}),
        weekly AS (
            SELECT customer_id, date_trunc('week', ts) AS week, sum(amount) AS spend
            FROM transactions WHERE {is_purchase} GROUP BY ALL
        ),
        cumulative AS (
            SELECT customer_id, week, spend,
                   count(*) OVER w AS purchase_weeks, sum(spend) OVER w AS total_spend,
                   min(week) OVER (PARTITION BY customer_id) AS first_week
            FROM weekly
            WINDOW w AS (PARTITION BY customer_id ORDER BY week ROWS UNBOUNDED PRECEDING)
        ),
        data_end AS ({data_end})
        SELECT a.*,
            ln(1 + coalesce(p.purchase_weeks, 0)) AS log_purchase_weeks,
            coalesce(datediff('day', p.week, a.week_start) / 7.0, 104.0)
                AS weeks_since_last_purchase,
            coalesce(datediff('day', p.first_week, a.week_start) / 7.0, 0.0) AS tenure_weeks,
            ln(1 + coalesce(p.total_spend / p.purchase_weeks, 0.0)) AS log_mean_spend,
            ln(1 + greatest(coalesce(p.total_spend, 0.0) - coalesce(q.total_spend, 0.0), 0.0))
                AS log_spend_13w,
            coalesce(p.purchase_weeks, 0) - coalesce(q.purchase_weeks, 0) AS purchase_weeks_13w,
            {contact_columns},
            (p.week IS NOT NULL)::DOUBLE AS has_history
            {outcome_columns}
        FROM anchors a
        ASOF LEFT JOIN cumulative p
          ON p.customer_id = a.customer_id AND p.week < a.week_start
        ASOF LEFT JOIN cumulative q
          ON q.customer_id = a.customer_id AND q.week < a.week_start - INTERVAL 91 DAY
        {outcome_joins}
        {contacts}
        ORDER BY a.customer_id, a.week_start
    """
    return store.query(sql, frames=frames)
