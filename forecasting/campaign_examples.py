"""The campaign log as training rows for the multi-horizon effect learner, read off the panel.

Each logged (customer, week, action) becomes one row: the customer's features from the weeks
before the logged week (the same panel slices as the deep purchase model, plus how the customer
has answered past promotions), the logged action and its propensity, and what followed: the
week's purchase and spend, and the discounted spend in each window of weeks after it
(`windows`, e.g. weeks 1-4 and 5-12), masked where the panel ends before the window does;
and, per window, the inverse-probability weight of the customer getting no further contact
from the shop through the window's end (what a learner needs to estimate "this contact, then
none" rather than "this contact, then whatever the shop kept sending").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.anchors import History, history_at, tabular_features, tabular_names
from forecasting.panel import WeeklyPanel
from forecasting.propensity import fill_propensities
from shopdata.store import Store

RESPONSE_FEATURES: tuple[str, ...] = (
    "log_contact_weeks",
    "purchase_rate_contacted",
    "purchase_rate_uncontacted",
    "purchase_rate_discounted",
)

#: Extra per-customer features at an anchor (rows, anchor week) -> [B, k], e.g. reviews.
ExtraFeatures = Callable[[np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class CampaignExamples:
    """R logged customer-weeks. `future[:, k]` is the spend in window k after the week,
    discounted to the week; `future_observed[:, k]` is False where the panel ends first.

    `no_contact_after[:, k]` is the product over the weeks after the row's, through window k's
    last week, of 1[no contact logged that week] / P(no contact that week): 0 where the shop
    contacted the customer again, above 1 where it could have and did not, 1 where no contact
    could have followed (no logged row that week). Its mean is 1 for every logged action, so
    weighting a window's outcome by it estimates the action followed by no contact (a
    sequentially randomised design; Robins' marginal structural models). None: no row has a
    following contact or design week (a one-shot campaign, or hand-built rows), all ones.
    """

    rows: np.ndarray  # [R] panel row of the customer
    weeks: np.ndarray  # [R] panel week of the logged action
    features: np.ndarray  # [R, F] float32
    feature_names: tuple[str, ...]
    action: np.ndarray  # [R] int64, index into the learner's action ids (0 = none)
    propensity: np.ndarray  # [R] probability of the logged action
    bought: np.ndarray  # [R] 0/1
    spend: np.ndarray  # [R] the week's spend (0 without a purchase)
    future: np.ndarray  # [R, K]
    future_observed: np.ndarray  # [R, K] bool
    windows: tuple[tuple[int, int], ...]
    no_contact_after: np.ndarray | None = field(default=None)  # [R, K] or None (all ones)

    def __len__(self) -> int:
        return len(self.rows)

    def no_contact_weight(self) -> np.ndarray:
        """`no_contact_after` as an array [R, K] (ones where it is None)."""
        if self.no_contact_after is None:
            return np.ones((len(self.rows), len(self.windows)))
        return self.no_contact_after


def no_contact_after(
    rows: np.ndarray,
    weeks: np.ndarray,
    action: np.ndarray,
    propensity: np.ndarray,
    windows: tuple[tuple[int, int], ...],
) -> np.ndarray:
    """Per logged row and window [R, K]: the product over weeks 1 .. last of the window after
    the row's week of the customer's logged factor that week, 0 for a contact (action > 0),
    1 / propensity for a logged `none` (its propensity is P(no contact)), 1 for a week with no
    logged row. Looked up by sorted (row, week) keys, no loop over rows."""
    span = int(weeks.max(initial=0)) + max(last for _, last in windows) + 1
    keys = rows.astype(np.int64) * span + weeks
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    factor = np.where(action == 0, 1.0 / np.maximum(propensity, 1e-12), 0.0)[order]
    weight = np.ones((len(rows), len(windows)))
    running = np.ones(len(rows))
    for offset in range(1, max(last for _, last in windows) + 1):
        wanted = keys + offset
        at = np.minimum(np.searchsorted(sorted_keys, wanted), len(sorted_keys) - 1)
        found = sorted_keys[at] == wanted
        running = running * np.where(found, factor[at], 1.0)
        for k, (_, last) in enumerate(windows):
            if last == offset:
                weight[:, k] = running
    return weight


def promotion_response(history: History, discount_actions: tuple[str, ...]) -> np.ndarray:
    """How the customer bought in weeks with and without a contact, after the first purchase
    ([B, 4]): log(1 + contact weeks), purchase rate in contacted weeks, in uncontacted weeks,
    in weeks with a discount. Rates are shrunk towards 0 by one pseudo-week, so a customer
    never contacted reads 0, not an undefined rate."""
    panel = history.panel
    contacted = history.contacts.sum(axis=0) > 0  # [K, B, s] -> [B, s]
    discount = np.zeros_like(contacted)
    for action in discount_actions:
        if action in panel.contact_actions:
            discount |= history.channel(f"contact_{action}") > 0
    weeks = np.arange(history.anchor)[None, :]  # [1, s]
    after_first = weeks > history.first_purchase[:, None]  # [B, s]
    bought = history.bought > 0

    def rate(mask: np.ndarray) -> np.ndarray:
        return (bought & mask).sum(axis=1) / (mask.sum(axis=1) + 1.0)

    contacted_after = contacted & after_first
    return np.column_stack(
        [
            np.log1p(contacted_after.sum(axis=1)),
            rate(contacted_after),
            rate(~contacted & after_first),
            rate(discount & after_first),
        ]
    ).astype(np.float32)


def effect_features(
    panel: WeeklyPanel,
    rows: np.ndarray,
    anchor: int,
    discount_actions: tuple[str, ...],
    extra: ExtraFeatures | None = None,
) -> np.ndarray:
    """Features of `rows` at `anchor` from the weeks before it [B, F]."""
    history = history_at(panel, rows, anchor)
    parts = [tabular_features(history), promotion_response(history, discount_actions)]
    if extra is not None:
        parts.append(extra(rows, anchor))
    return np.column_stack(parts).astype(np.float32)


def campaign_examples(
    store: Store,
    panel: WeeklyPanel,
    action_ids: tuple[str, ...],
    *,
    windows: tuple[tuple[int, int], ...],
    weekly_discount: float,
    discount_actions: tuple[str, ...] = (),
    extra: ExtraFeatures | None = None,
    extra_names: tuple[str, ...] = (),
) -> CampaignExamples:
    """Rows of the campaign log inside the panel whose customer had bought before the week.

    Features are computed once per logged week for every customer (reductions over a view of
    the panel, no copy) and then picked for that week's rows, so the cost is one pass over the
    panel per logged week, not per row.
    """
    if not windows or any(first < 1 or last < first for first, last in windows):
        raise ValueError(
            "The 'windows' parameter of campaign_examples must be (first, last) week pairs "
            f"with 1 <= first <= last. Got {windows!r} instead."
        )
    propensity_column = (
        "propensity" if store.has_column("campaign_log", "propensity") else "NULL::DOUBLE"
    )
    end = pd.Timestamp(panel.week_starts[-1]) + pd.Timedelta(weeks=1)
    log = store.query(
        f"SELECT customer_id, week_start, action, {propensity_column} AS propensity "
        "FROM campaign_log WHERE week_start < ?",
        [end],
    )
    unknown = sorted(set(log["action"].astype(str).unique()) - set(action_ids))
    if unknown:
        raise ValueError(
            f"campaign_log: actions {unknown} are not in the scenario's catalogue {action_ids}"
        )
    rows, weeks, keep = panel.locate(log, "week_start")
    log = log[keep]
    after_first = weeks > panel.first_week[rows]
    rows, weeks, log = rows[after_first], weeks[after_first], log[after_first]
    action = pd.Index(action_ids).get_indexer(log["action"].astype(str)).astype(np.int64)

    names = (
        tabular_names(panel) + RESPONSE_FEATURES + extra_names
    )  # the order effect_features stacks them in
    features = np.zeros((len(rows), len(names)), dtype=np.float32)
    everyone = np.arange(len(panel))
    for week in np.unique(weeks):
        at = np.flatnonzero(weeks == week)
        at_week = effect_features(panel, everyone, int(week), discount_actions, extra)  # [N, F]
        features[at] = at_week[rows[at]]
    # Rows without a logged propensity: estimated from these features (propensity.py).
    propensity = fill_propensities(
        features, action, log["propensity"].to_numpy(dtype=np.float64), len(action_ids)
    )

    bought = panel.values[rows, weeks, panel.channel("bought")]
    spend_by_week = np.expm1(panel.by_channel[panel.channel("log_spend")])  # [N, W]
    spend = spend_by_week[rows, weeks]
    future = np.zeros((len(rows), len(windows)))
    observed = np.zeros((len(rows), len(windows)), dtype=bool)
    for k, (first, last) in enumerate(windows):
        offsets = np.arange(first, last + 1)  # [L]
        index = weeks[:, None] + offsets[None, :]  # [R, L]
        observed[:, k] = weeks + last < panel.weeks
        values = spend_by_week[rows[:, None], np.minimum(index, panel.weeks - 1)]  # [R, L]
        future[:, k] = (values * weekly_discount ** offsets[None, :]).sum(axis=1) * observed[:, k]
    return CampaignExamples(
        rows=rows,
        weeks=weeks,
        features=features,
        feature_names=names,
        action=action,
        propensity=propensity,
        bought=bought.astype(np.float32),
        spend=spend.astype(np.float32),
        future=future,
        future_observed=observed,
        windows=windows,
        no_contact_after=no_contact_after(rows, weeks, action, propensity, windows),
    )


#: An action's head learns only from at least this many logged rows (of it, and of `none` for
#: the follow-up window).
MIN_LOGGED = 100


def identified_window(
    action: np.ndarray, observed: dict[int, np.ndarray], min_logged: int = MIN_LOGGED
) -> int:
    """The follow-up window (weeks) to learn from: of the candidates in `observed` (weeks ->
    whether each logged row [R] has that window observed), the one for which the most actions
    have `min_logged` rows observed (with `none`, action 0, as many), the longest of those
    tied. A log whose campaigns all lie within the longest window of the planning week observes
    a shorter one: its follow-on effects are learned over it, not dropped."""

    def identified(has: np.ndarray) -> int:
        counts = np.bincount(action, weights=has, minlength=int(action.max(initial=0)) + 1)
        return int((counts[1:] >= min_logged).sum()) if counts[0] >= min_logged else 0

    return max(observed, key=lambda weeks: (identified(observed[weeks]), weeks))
