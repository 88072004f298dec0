"""What the deep forecasters see at an anchor week s, and what happened from s on.

Inputs use only weeks before s (no leakage); labels are weeks s .. s + L - 1, masked where the
panel ends. Training draws many past anchors per customer; forecasting uses the anchor at the
panel's end. All functions are vectorised over the customers of one anchor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.features import PurchaseSummary
from forecasting.panel import WeeklyPanel

BASE_TABULAR: tuple[str, ...] = (
    "log_purchase_weeks",
    "log_weeks_since_last",
    "log_tenure_weeks",
    "mean_log_spend",
    "last_log_spend",
    "purchase_weeks_4w",
    "purchase_weeks_13w",
    "purchase_weeks_52w",
    "log_reviews",
    "mean_review_rating",
)


def tabular_names(panel: WeeklyPanel) -> tuple[str, ...]:
    """Names of the columns `tabular_features` returns, in order."""
    return (
        BASE_TABULAR
        + tuple(f"category_share_{c}" for c in panel.categories)
        + tuple(f"contacts_8w_{a}" for a in panel.contact_actions)
    )


def eligible(panel: WeeklyPanel, anchor: int) -> np.ndarray:
    """Rows of customers with a purchase before week `anchor`."""
    return np.flatnonzero(panel.first_week < anchor)


def _last_purchase(bought: np.ndarray) -> np.ndarray:
    """Index of the last week with a purchase in each row of `bought` [B, s] (-1 if none)."""
    s = bought.shape[1]
    reversed_first = np.argmax(bought[:, ::-1] > 0, axis=1)
    return np.where(bought.any(axis=1), s - 1 - reversed_first, -1)


@dataclass(frozen=True)
class History:
    """The weeks before `anchor` of some customers (`rows` of the panel), sliced once and shared
    by the tabular features and the BG/NBD summary."""

    panel: WeeklyPanel
    rows: np.ndarray  # [B]
    anchor: int
    by_channel: np.ndarray  # [C, B, anchor]
    bought: np.ndarray  # [B, anchor]
    last_purchase: np.ndarray  # [B] week index, -1 if none
    first_purchase: np.ndarray  # [B] week index

    def channel(self, name: str) -> np.ndarray:
        return self.by_channel[self.panel.channel(name)]  # [B, anchor]

    @property
    def contacts(self) -> np.ndarray:
        """The contact channels, one per action but `none` ([K, B, anchor])."""
        return self.by_channel[self.panel.contact_channels]

    @property
    def categories(self) -> np.ndarray:
        """The category channels ([categories, B, anchor])."""
        return self.by_channel[self.panel.category_channels]


def history_at(panel: WeeklyPanel, rows: np.ndarray, anchor: int) -> History:
    every_row = len(rows) == len(panel) and np.array_equal(rows, np.arange(len(panel)))
    # All customers: a view of the panel, not a copy of [C, N, s] (hundreds of MB at 100k).
    events = panel.by_channel
    by_channel = events[:, :, :anchor] if every_row else events[:, rows, :anchor]  # [C, B, s]
    bought = by_channel[panel.channel("bought")]  # [B, s]
    return History(
        panel, rows, anchor, by_channel, bought, _last_purchase(bought), panel.first_week[rows]
    )


def tabular_features(history: History) -> np.ndarray:
    """RFM, tenure, spend, review, category-share and contact features from the weeks before
    the anchor [B, F]."""
    anchor, bought, last = history.anchor, history.bought, history.last_purchase
    log_spend = history.channel("log_spend")
    reviews = history.channel("reviews")
    weeks = bought.sum(axis=1)
    review_weeks = (reviews > 0).sum(axis=1)
    columns = [
        np.log1p(weeks),
        np.log1p(anchor - 1 - last),
        np.log1p(np.maximum(anchor - history.first_purchase, 0)),  # 0 before the first purchase
        log_spend.sum(axis=1) / np.maximum(weeks, 1),
        log_spend[np.arange(len(history.rows)), np.maximum(last, 0)],
        bought[:, -4:].sum(axis=1),
        bought[:, -13:].sum(axis=1),
        bought[:, -52:].sum(axis=1),
        np.log1p(reviews.sum(axis=1)),
        history.channel("review_rating").sum(axis=1) / np.maximum(review_weeks, 1),
    ]
    lines = history.categories.sum(axis=2).T  # [categories, B, s] -> [B, categories]
    shares = lines / np.maximum(lines.sum(axis=1, keepdims=True), 1.0)
    contacts = history.contacts[:, :, -8:].sum(axis=2).T  # [K, B, 8] -> [B, K]
    return np.column_stack([*columns, shares, contacts]).astype(np.float32)  # [B, F]


def summary_at(history: History) -> PurchaseSummary:
    """The BG/NBD + Gamma-Gamma summary as of the end of week `anchor` - 1.

    Matches `features.purchase_summary` at that week's end: purchase weeks counted, `age` from
    the first purchase week to week `anchor` - 1.
    """
    panel, first = history.panel, history.first_purchase
    spend = np.expm1(history.channel("log_spend"))
    weeks = history.bought.sum(axis=1)
    first_spend = spend[np.arange(len(history.rows)), first]
    repeat_spend = spend.sum(axis=1) - first_spend
    frequency = weeks - 1
    return PurchaseSummary(
        customer_ids=panel.customer_ids[history.rows],
        frequency=frequency.astype(np.float64),
        recency=(history.last_purchase - first).astype(np.float64),
        age=(history.anchor - 1 - first).astype(np.float64),
        monetary_value=np.where(frequency > 0, repeat_spend / np.maximum(frequency, 1), 0.0),
        first_week=panel.week_starts[first].astype("datetime64[ns]"),
        observation_end=panel.week_starts[history.anchor - 1].astype("datetime64[ns]"),
    )


def sequence_window(
    panel: WeeklyPanel, rows: np.ndarray, anchors: np.ndarray, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """The `length` weeks before each row's anchor, zero before the panel starts: events
    [B, length, C] and a mask [B, length] that is 1 from the customer's first purchase week on."""
    weeks = anchors[:, None] - length + np.arange(length)[None, :]  # [B, length]
    inside = weeks >= 0
    events = panel.values[rows[:, None], np.maximum(weeks, 0)]  # [B, length, C]
    events *= inside[..., None]
    mask = weeks >= panel.first_week[rows, None]  # [B, length]
    return events, mask.astype(np.float32)


@dataclass(frozen=True)
class Labels:
    """What happened in weeks anchor .. anchor + L - 1 ([B, L] each); `observed` is 0 past the
    panel's end."""

    bought: np.ndarray
    spend: np.ndarray
    observed: np.ndarray


def labels_after(panel: WeeklyPanel, rows: np.ndarray, anchors: np.ndarray, weeks: int) -> Labels:
    """Purchases and spend of each row in the `weeks` weeks from its anchor on."""
    index = anchors[:, None] + np.arange(weeks)[None, :]  # [B, L]
    observed = index < panel.weeks
    future = panel.values[rows[:, None], np.minimum(index, panel.weeks - 1)]  # [B, L, C]
    bought = future[..., panel.channel("bought")] * observed
    spend = np.expm1(future[..., panel.channel("log_spend")]) * observed
    return Labels(bought, spend, observed.astype(np.float32))
