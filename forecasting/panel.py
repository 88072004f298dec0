"""Each customer's history as a weekly event panel: the deep forecasters' one view of the store.

One DuckDB query per source (transactions, campaign log, reviews) returns long rows that numpy
scatters into a dense [N, W, F] float32 array: N customers, W Monday-based weeks up to the
forecast start, F event channels. Every feature and label of the deep models is a slice or a
cumulative sum of this array, so training anchors at any past week cost no further queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from forecasting.features import purchase_filter
from shopdata.store import Store

#: Channels before the per-action contact channels.
BASE_CHANNELS: tuple[str, ...] = ("bought", "log_spend", "reviews", "review_rating")


@dataclass(frozen=True)
class WeeklyPanel:
    """values[n, w, f]: channel f of customer n in week w (week_starts[w], a Monday).

    Channels: `bought` (a purchase that week, 0/1), `log_spend` (log1p of the week's spend),
    `reviews` (reviews written), `review_rating` (mean rating that week, centred: (r - 3) / 2),
    `category_<c>` (purchase lines in category c that week, for the shop's most bought
    categories when transactions carry one), then `contact_<action>` for every action but
    `none` (the campaign log's action that week); contact channels always come last.
    first_week[n] is the index of the customer's first purchase week.
    """

    customer_ids: np.ndarray  # [N] str, sorted
    week_starts: np.ndarray  # [W] datetime64[D]
    values: np.ndarray  # [N, W, F] float32
    channels: tuple[str, ...]
    first_week: np.ndarray  # [N] int64
    contact_actions: tuple[str, ...]
    categories: tuple[str, ...] = ()

    def channel(self, name: str) -> int:
        return self.channels.index(name)

    @property
    def category_channels(self) -> slice:
        """Where the `category_<c>` channels sit, in `categories` order."""
        return slice(len(BASE_CHANNELS), len(BASE_CHANNELS) + len(self.categories))

    @property
    def contact_channels(self) -> slice:
        """Where the `contact_<action>` channels sit (always last), in `contact_actions` order."""
        return slice(len(self.channels) - len(self.contact_actions), len(self.channels))

    @cached_property
    def by_channel(self) -> np.ndarray:
        """The same events channel-major, [F, N, W] (one contiguous copy, made on first use):
        sums over weeks of one channel then run over contiguous rows instead of a stride of F."""
        return np.ascontiguousarray(self.values.transpose(2, 0, 1))

    @property
    def weeks(self) -> int:
        return len(self.week_starts)

    def __len__(self) -> int:
        return len(self.customer_ids)

    def locate(self, frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Panel row and week index of each row of `frame` (its `customer_id` and the Monday in
        `column`), for the rows inside the panel, and the mask of those rows."""
        return _locate(
            pd.Index(self.customer_ids),
            pd.Timestamp(self.week_starts[0]),
            self.weeks,
            frame,
            column,
        )


def _locate(
    customer_index: pd.Index,
    start: pd.Timestamp,
    week_count: int,
    frame: pd.DataFrame,
    column: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = customer_index.get_indexer(frame["customer_id"].astype(str))
    weeks = ((pd.to_datetime(frame[column]) - start).dt.days // 7).to_numpy()
    keep = (rows >= 0) & (weeks >= 0) & (weeks < week_count)
    return rows[keep], weeks[keep].astype(np.int64), keep


#: The Monday-based week of `ts`, capped at the week before the first parameter (the panel's end).
_CAPPED_WEEK = "date_trunc('week', least(ts, ?::TIMESTAMP - INTERVAL 1 MICROSECOND))"


def weekly_panel(
    store: Store,
    as_of: pd.Timestamp,
    end_week: pd.Timestamp,
    contact_actions: tuple[str, ...],
    max_categories: int = 12,
    categories: tuple[str, ...] | None = None,
) -> WeeklyPanel:
    """The panel of every customer with a purchase on or before `as_of`, weeks from the first
    purchase week in the data up to `end_week` (a Monday, exclusive; the forecast's first week).
    Events after `as_of` are left out, so the panel ends where the forecaster's knowledge does.
    An event on or after `end_week` but not after `as_of` (a cut-off at Monday 00:00, or later
    on the forecast's first Monday) counts in the panel's last week: the panel never holds a
    week it does not end before, and every customer it lists has bought inside it.

    `contact_actions`: the actions (not `none`) whose campaign-log contacts become channels;
    logged actions outside this list are ignored. `max_categories`: how many of the most bought
    categories get a channel (the rest are left out); `categories`, when given, names them
    instead (a trained model's, so that new data gives it the channels it was trained on).
    """
    as_of, end_week = pd.Timestamp(as_of), pd.Timestamp(end_week)
    purchase = purchase_filter(store)
    week = _CAPPED_WEEK
    weekly = store.query(
        f"""
        SELECT customer_id, {week} AS week, sum(amount) AS spend
        FROM transactions WHERE {purchase} AND ts <= ?
        GROUP BY ALL
        """,
        [end_week, as_of],
    )
    if weekly.empty:
        raise ValueError(f"no purchases on or before {as_of:%Y-%m-%d}: no panel to build")
    customer_ids = np.sort(weekly["customer_id"].astype(str).unique())
    start = pd.Timestamp(weekly["week"].min())
    week_count = int((end_week - start).days // 7)
    week_starts = np.array(
        [start + pd.Timedelta(weeks=k) for k in range(week_count)], dtype="datetime64[D]"
    )
    by_category = (
        store.query(
            f"""
            SELECT customer_id, {week} AS week, category, count(*) AS n
            FROM transactions
            WHERE {purchase} AND ts <= ? AND category IS NOT NULL AND category <> ''
            GROUP BY ALL
            """,
            [end_week, as_of],
        )
        if store.has_column("transactions", "category")
        else pd.DataFrame(columns=["customer_id", "week", "category", "n"])
    )
    if categories is None:
        volume = by_category.groupby("category")["n"].sum()
        top = volume.sort_values(ascending=False, kind="stable").index[:max_categories]
        categories = tuple(sorted(str(c) for c in top))
    channels = (
        BASE_CHANNELS
        + tuple(f"category_{c}" for c in categories)
        + tuple(f"contact_{a}" for a in contact_actions)
    )
    values = np.zeros((len(customer_ids), week_count, len(channels)), dtype=np.float32)
    index = pd.Index(customer_ids)

    def locate(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _locate(index, start, week_count, frame, column)

    rows, weeks, keep = locate(weekly, "week")
    values[rows, weeks, 0] = 1.0
    values[rows, weeks, 1] = np.log1p(np.maximum(weekly["spend"].to_numpy()[keep], 0.0))
    first_week = np.full(len(customer_ids), week_count, dtype=np.int64)
    np.minimum.at(first_week, rows, weeks)

    if store.has_table("reviews"):
        rating = "avg(rating)" if store.has_column("reviews", "rating") else "NULL"
        reviews = store.query(
            f"""
            SELECT customer_id, {week} AS week, count(*) AS n,
                   coalesce({rating}, 3.0) AS rating
            FROM reviews WHERE ts <= ? GROUP BY ALL
            """,
            [end_week, as_of],
        )
        rows, weeks, keep = locate(reviews, "week")
        values[rows, weeks, 2] = reviews["n"].to_numpy(dtype=np.float32)[keep]
        values[rows, weeks, 3] = (reviews["rating"].to_numpy(dtype=np.float32)[keep] - 3.0) / 2.0

    if categories:
        kept = by_category[by_category["category"].astype(str).isin(categories)]
        rows, weeks, keep = locate(kept, "week")
        channel = len(BASE_CHANNELS) + pd.Index(categories).get_indexer(
            kept["category"].astype(str)
        )
        values[rows, weeks, channel[keep]] = kept["n"].to_numpy(dtype=np.float32)[keep]

    if contact_actions and store.has_table("campaign_log"):
        log = store.query(
            "SELECT customer_id, week_start, action FROM campaign_log WHERE week_start < ?",
            [end_week],
        )
        first_contact = len(BASE_CHANNELS) + len(categories)
        position = {a: first_contact + i for i, a in enumerate(contact_actions)}
        channel = log["action"].astype(str).map(position)
        log = log[channel.notna().to_numpy()]
        rows, weeks, keep = locate(log, "week_start")
        values[rows, weeks, channel.dropna().to_numpy(dtype=np.int64)[keep]] = 1.0

    return WeeklyPanel(
        customer_ids=customer_ids,
        week_starts=week_starts,
        values=values,
        channels=channels,
        first_week=first_week,
        contact_actions=tuple(contact_actions),
        categories=categories,
    )
