"""The campaign log's outcomes, read once: what each logged customer-week earned over each
window after it, and cross-fitted doubly robust scores of every action for it. One home for the
release decision (engine/release_decision.py) and `ltv evaluate`'s off-policy estimates.

For a logged row i (customer, week, action A_i with propensity e_i) and a window of K weeks
after the row's week (K in WINDOWS; K = 0 is the week alone):

- outcome: y_iK = m (spend_i + later_iK) - fixed[A_i] - discount[A_i] spend_i, the margin of the
  week and the K weeks after it, net of what the action cost (its fixed cost, and its discount
  on the week's spend);
- outcome model q_aK(x): an inverse-propensity weighted least squares of y_K on the row's anchor
  features and the customer's spend over the 13, 26 and 52 weeks before (in money), over the
  rows that took a, fitted on one half of the customers (a hash of the id) and applied to the
  other (cross-fitting: no row's own outcome is in its model);
- doubly robust score: Gamma_iK(a) = q_aK(x_i) + 1[A_i = a] / e_i (y_iK - q_aK(x_i)), whose
  mean over any set of rows chosen without their outcomes is unbiased for the mean of y_K had
  every one of them taken a (the propensities are the design's).

A gain of a over none for a set of customers is the mean of Gamma_iK(a) - Gamma_iK(none) over
their logged rows, with a standard error clustered by customer (a customer's weeks share their
later windows). `GainEstimate` holds one, `NotEstimable` says why there is none; `influence`
gives each estimate's per-customer influence, from which the covariance of any two estimates
(two windows, two actions) follows (`engine.logged_estimates.covariance`); the estimates'
types are there too.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd

from engine.logged_estimates import (
    GainEstimate,
    NotEstimable,
    OffPolicyEstimate,
    mean_interval,
)
from forecasting.features import ANCHOR_FEATURES, anchor_features, log_sample, purchase_filter
from forecasting.propensity import fill_propensities
from shopdata.actions import Action, discount_action_ids
from shopdata.store import Store

log = logging.getLogger(__name__)

#: Outcome windows, in weeks after the logged week (0: the week alone), shortest first.
WINDOWS = (0, 1, 2, 4, 8, 12, 26, 52)
#: An estimate needs at least this many logged rows of the action and of `none`.
MIN_ROWS = 30
#: The smallest propensity a logged row is weighted by (an inverse weight of at most 1,000).
PROPENSITY_FLOOR = 1e-3
#: A window is read only where at least this many logged rows observe it (MIN_ROWS of them
#: `none`).
MIN_LOGGED_WEEKS = 4 * MIN_ROWS
#: The customer's spend before the logged week over these many weeks, in money (not logs):
#: beside the anchor features, the outcome model's best predictor of a long window's spend
#: (on responsive's log it took the residual spread of the 13-week margin from 40.1 to 36.3,
#: and with it every long window's standard error by a tenth).
PAST_SPEND = {"spend_past_13w": 13, "spend_past_26w": 26, "spend_past_52w": 52}


def logged_examples(
    store: Store,
    actions: tuple[Action, ...],
    observed_until: pd.Timestamp | None = None,
    customers: str = "TRUE",
    windows: tuple[int, ...] = WINDOWS,
) -> pd.DataFrame:
    """The store's campaign log as anchor features (`forecasting.features.anchor_features`)
    with `bought`, `spend` (the logged week's) and `later_{K}` for each K of `windows` (spend
    over the K weeks after; NULL where the data, observed up to `observed_until` when given,
    end before the window does), its propensities where logged (else NULL), the rows of the
    customers that SQL predicate `customers` keeps (a `log_sample`). One query."""
    propensity = "propensity" if store.has_column("campaign_log", "propensity") else "NULL"
    longest = max(max(windows), 1)  # anchor_features reads outcomes only for a window > 0
    frame = anchor_features(
        store,
        f"SELECT customer_id, week_start, action, {propensity} AS propensity FROM campaign_log "
        f"WHERE {customers}",
        discount_actions=discount_action_ids(actions),
        outcome_weeks=longest,
        observed_until=observed_until,
        also_outcome_weeks=tuple(k for k in windows if k != longest),
    )
    names = {"future_spend": f"later_{longest}"} | {
        f"future_spend_{k}": f"later_{k}" for k in windows if k != longest
    }
    frame = frame.rename(columns=names)
    sums = ", ".join(
        f"coalesce(sum(t.amount) FILTER (WHERE t.ts >= a.week_start - INTERVAL {7 * k} DAY), 0.0)"
        f" AS {name}"
        for name, k in PAST_SPEND.items()
    )
    longest_past = 7 * max(PAST_SPEND.values())
    past = store.query(
        f"""
        WITH a AS (SELECT DISTINCT customer_id, week_start FROM campaign_log WHERE {customers})
        SELECT a.customer_id, a.week_start, {sums}
        FROM a LEFT JOIN transactions t ON t.customer_id = a.customer_id
         AND t.ts < a.week_start AND t.ts >= a.week_start - INTERVAL {longest_past} DAY
         AND {purchase_filter(store).replace("is_refund", "t.is_refund")}
        GROUP BY ALL
        """
    )
    return frame.merge(past, on=["customer_id", "week_start"], how="left").fillna(
        dict.fromkeys(PAST_SPEND, 0.0)
    )


def logged_margin(
    spend: np.ndarray,
    later: np.ndarray,
    action: np.ndarray,
    actions: tuple[Action, ...],
    gross_margin: float,
) -> np.ndarray:
    """Each logged row's margin [R]: m (spend + later) - fixed[a] - discount[a] spend, with
    `spend` the week's and `later` the window's after it ([R] each; NaN stays NaN)."""
    fixed = np.array([a.fixed_cost for a in actions])
    discount = np.array([a.discount_rate for a in actions])
    return (
        gross_margin * (spend + later)
        - np.where(action > 0, fixed[action], 0.0)
        - discount[action] * spend
    )


def outcome_model(
    design: np.ndarray,
    outcome: np.ndarray,
    propensity: np.ndarray,
    *,
    fit: np.ndarray,
    predict: np.ndarray,
    min_rows: int,
) -> np.ndarray:
    """q(x) for the rows `predict` ([R] bool): the inverse-propensity weighted least squares of
    `outcome` on `design` [R, F] over the rows `fit`, so an arm's model sees the population; the
    plain mean of those rows where they are fewer than `min_rows` (0 where there are none)."""
    rows = fit
    if rows.sum() < min_rows:
        return np.full(int(predict.sum()), outcome[rows].mean() if rows.any() else 0.0)
    weight = np.sqrt(1.0 / propensity[rows])
    beta, *_ = np.linalg.lstsq(design[rows] * weight[:, None], outcome[rows] * weight, rcond=None)
    return design[predict] @ beta


class LoggedOutcomes:
    """The log's rows with their outcome over each window and the cross-fitted doubly robust
    scores Gamma [R, A] per window (module docstring), computed per window on first use."""

    def __init__(
        self,
        examples: pd.DataFrame,
        actions: tuple[Action, ...],
        gross_margin: float,
        windows: tuple[int, ...] | None = None,
        sample_note: str = "",
    ) -> None:
        #: Says so where the rows are a sample of the log's customers (`log_sample`).
        self.sample_note = sample_note
        self.action_ids = tuple(a.id for a in actions)
        index = {a: i for i, a in enumerate(self.action_ids)}
        keep = examples["action"].isin(list(index))
        # a log of the scenario's actions only (the usual case) is not copied: at 2M sampled
        # rows the frame is about 0.5 GB
        frame = (examples if keep.all() else examples[keep]).reset_index(drop=True)
        self.customer_ids = frame["customer_id"].to_numpy(dtype=str)
        self.action = frame["action"].map(index).to_numpy(dtype=np.int64)
        features = frame[list(ANCHOR_FEATURES)].to_numpy(dtype=np.float64)
        # Rows without a logged propensity: estimated from the features (propensity.py); a
        # logged one is used from PROPENSITY_FLOOR up (a propensity of 1e-12 would weigh its
        # row 1e12 times the others; validation warns of rows below 0.01).
        self.propensity = np.maximum(
            fill_propensities(
                features, self.action, frame["propensity"].to_numpy(dtype=np.float64), len(actions)
            ),
            PROPENSITY_FLOOR,
        )
        past = [c for c in PAST_SPEND if c in frame.columns]  # hand-built logs may have none
        design = [np.ones((len(frame), 1)), features, frame[past].to_numpy(dtype=np.float64)]
        self._design = np.hstack(design)  # [R, 1 + F + P]
        self._fold = (pd.util.hash_array(self.customer_ids) % 2).astype(np.int64)
        #: The log's customers [C] (sorted) and each row's index among them [R].
        self.log_customers, self.clusters = np.unique(self.customer_ids, return_inverse=True)
        spend = frame["spend"].to_numpy(dtype=np.float64)
        present = [k for k in WINDOWS if f"later_{k}" in frame.columns]
        self.outcome: dict[int, np.ndarray] = {}  # window -> y [R], NaN where not observed
        for k in present if windows is None else [k for k in windows if k in present]:
            later = frame[f"later_{k}"].to_numpy(dtype=np.float64)
            observed = np.isfinite(later)
            if observed.sum() < MIN_LOGGED_WEEKS or (observed & (self.action == 0)).sum() < (
                MIN_ROWS
            ):
                continue
            self.outcome[k] = logged_margin(spend, later, self.action, actions, gross_margin)
        #: The windows enough rows observe, shortest first.
        self.windows = tuple(sorted(self.outcome))
        self._scores: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.action)

    def observed(self, window: int) -> np.ndarray:
        """Which rows [R] have `window` observed."""
        return np.isfinite(self.outcome[window])

    def scores(self, window: int) -> np.ndarray:
        """Gamma [R, A] over `window` (NaN on rows that do not observe it), float32."""
        if window not in self._scores:
            y = self.outcome[window]
            observed = np.isfinite(y)
            scores = np.full((len(y), len(self.action_ids)), np.nan, dtype=np.float32)
            for held_out in (0, 1):
                train, test = (
                    observed & (self._fold != held_out),
                    observed & (self._fold == held_out),
                )
                for a in range(len(self.action_ids)):
                    q = outcome_model(
                        self._design,
                        y,
                        self.propensity,
                        fit=train & (self.action == a),
                        predict=test,
                        min_rows=2 * self._design.shape[1] + 1,
                    )
                    taken = self.action[test] == a
                    scores[test, a] = q + taken / self.propensity[test] * (y[test] - q)
            self._scores[window] = scores
        return self._scores[window]

    def members(self, customer_ids: np.ndarray) -> np.ndarray:
        """Which of the log's customers [C] are among `customer_ids`: the mask `gain` and
        `influence` take (computed once per set of customers, not once per window)."""
        return np.isin(self.log_customers, np.asarray(customer_ids).astype(str))

    def _rows(
        self, action: int, customers: np.ndarray | None, window: int
    ) -> tuple[np.ndarray, Literal["targets", "all"]] | NotEstimable:
        """The rows an estimate for `customers` (a `members` mask; all where None) reads over
        `window`: theirs, or every row where theirs hold fewer than MIN_ROWS of the action or
        of none."""
        name = self.action_ids[action]
        if window not in self.outcome:
            return NotEstimable(name, window, f"the log observes too few rows over {window} weeks")
        observed = self.observed(window)
        if customers is not None:
            own = observed & customers[self.clusters]
            if min((own & (self.action == action)).sum(), (own & (self.action == 0)).sum()) >= (
                MIN_ROWS
            ):
                return own, "targets"
        taken = (observed & (self.action == action)).sum()
        controls = (observed & (self.action == 0)).sum()
        if min(taken, controls) < MIN_ROWS:
            return NotEstimable(
                name,
                window,
                f"the log has {taken} rows of it and {controls} controls observed over "
                f"{window} weeks (at least {MIN_ROWS} of each needed)",
            )
        return observed, "all" if customers is not None else "targets"

    def gain(
        self, action: int, customers: np.ndarray | None, window: int
    ) -> GainEstimate | NotEstimable:
        """The gain per contact of `action` over none for the logged rows of `customers` (a
        `members` mask; all rows where None, or where theirs are too few) over `window` weeks
        after the contact."""
        found = self.influence(action, customers, window)
        return found if isinstance(found, NotEstimable) else found[0]

    def influence(
        self, action: int, customers: np.ndarray | None, window: int
    ) -> tuple[GainEstimate, np.ndarray] | NotEstimable:
        """`gain`, and its influence per customer of the log ([C], C = customers in the log):
        the estimate's deviation contributed by each customer's rows, summed and divided by the
        rows, so that sum(psi_1 psi_2) * C / (C - 1) is the clustered covariance of any two
        estimates (`covariance`)."""
        found = self._rows(action, customers, window)
        if isinstance(found, NotEstimable):
            return found
        rows, scope = found
        scores = self.scores(window)
        values = scores[rows, action].astype(np.float64) - scores[rows, 0]
        mean = float(values.mean())
        influence = np.bincount(
            self.clusters[rows], weights=values - mean, minlength=len(self.log_customers)
        ) / len(values)
        groups = int(np.count_nonzero(np.bincount(self.clusters[rows])))
        variance = float((influence**2).sum()) * groups / max(groups - 1, 1)
        estimate = GainEstimate(
            self.action_ids[action], window, mean, float(np.sqrt(variance)), int(rows.sum()), scope
        )
        return estimate, influence

    def outcome_spread(
        self, action: int, customers: np.ndarray | None, window: int
    ) -> tuple[float, float] | None:
        """The standard deviations of the window's margin among the logged weeks of
        `customers` (a `members` mask, or all) that took `action` and that took none, weighted
        by inverse propensity: what a test of the action on them would see (None where the
        window or the rows are missing)."""
        found = self._rows(action, customers, window)
        if isinstance(found, NotEstimable):
            return None
        rows, _ = found
        y, weight = self.outcome[window], 1.0 / self.propensity
        spreads = []
        for arm in (action, 0):
            own = rows & (self.action == arm)
            mean = np.average(y[own], weights=weight[own])
            spreads.append(float(np.sqrt(np.average((y[own] - mean) ** 2, weights=weight[own]))))
        return spreads[0], spreads[1]

    def policy_value(self, target: np.ndarray, window: int) -> OffPolicyEstimate:
        """Value per logged row (margin over `window` weeks) of the policy taking action
        `target[i]` on row i, by inverse propensity and doubly robust; not estimable (None,
        with the reason) where an action the policy takes has fewer than MIN_ROWS logged rows
        that took it too, or the window is not observed."""
        if window not in self.outcome:
            return OffPolicyEstimate(
                None, None, None, None, 0, len(target),
                reason=f"cannot be estimated: the log observes too few rows over {window} weeks",
            )  # fmt: skip
        observed = self.observed(window)
        target, logged = target[observed], self.action[observed]
        matched = logged == target
        per_action = np.bincount(target[matched], minlength=len(self.action_ids))
        wanted = np.bincount(target, minlength=len(self.action_ids)) > 0
        short = np.flatnonzero(wanted & (per_action < MIN_ROWS))
        if len(short):
            detail = ", ".join(
                f"{self.action_ids[a]} ({per_action[a]} matched rows)" for a in short
            )
            return OffPolicyEstimate(
                None, None, None, None, int(matched.sum()), len(target),
                reason=f"cannot be estimated: the log took {detail} too rarely where the policy "
                f"does (at least {MIN_ROWS} needed)",
            )  # fmt: skip
        y = self.outcome[window][observed]
        clusters = self.clusters[observed]
        ipw, ipw_ci = mean_interval(matched / self.propensity[observed] * y, clusters)
        scores = self.scores(window)[observed]
        dr, dr_ci = mean_interval(
            scores[np.arange(len(target)), target].astype(np.float64), clusters
        )
        return OffPolicyEstimate(ipw, ipw_ci, dr, dr_ci, int(matched.sum()), len(target))

    def policy_gain(self, target: np.ndarray, window: int) -> OffPolicyEstimate:
        """What the policy taking `target[i]` on row i adds over no action per logged row
        (margin over `window` weeks), paired row by row: IPW mean of (1[A = target] -
        1[A = none]) / p * y, DR mean of Gamma(target) - Gamma(none); not estimable where
        `policy_value` of the policy or of no action is not."""
        for found in (
            self.policy_value(target, window),
            self.policy_value(np.zeros_like(target), window),
        ):
            if not found.estimable:
                return found
        observed = self.observed(window)
        logged, y = self.action[observed], self.outcome[window][observed]
        wanted = target[observed]
        weight = 1.0 / self.propensity[observed]
        clusters = self.clusters[observed]
        ipw, ipw_ci = mean_interval(
            ((logged == wanted) * weight - (logged == 0) * weight) * y, clusters
        )
        scores = self.scores(window)[observed].astype(np.float64)
        rows = np.arange(len(wanted))
        dr, dr_ci = mean_interval(scores[rows, wanted] - scores[:, 0], clusters)
        return OffPolicyEstimate(ipw, ipw_ci, dr, dr_ci, int((logged == wanted).sum()), len(rows))

    def logging_policy(self, window: int) -> OffPolicyEstimate:
        """The logging policy's own value over `window`: the plain mean outcome (both
        columns)."""
        y = self.outcome[window]
        observed = np.isfinite(y)
        mean, ci = mean_interval(y[observed], self.clusters[observed])
        rows = int(observed.sum())
        return OffPolicyEstimate(mean, ci, mean, ci, rows, rows)


def observable_windows(store: Store, observed_until: pd.Timestamp) -> tuple[int, ...]:
    """The windows of WINDOWS for which the campaign log has enough rows observed before
    `observed_until` (MIN_LOGGED_WEEKS rows, MIN_ROWS of them `none`), shortest first: one
    count over the log before its rows are read."""
    end = f"TIMESTAMP '{pd.Timestamp(observed_until):%Y-%m-%d %H:%M:%S}'"
    counts = ", ".join(
        f"count(*) FILTER (WHERE week_start + INTERVAL {7 * (k + 1)} DAY <= {end}), "
        f"count(*) FILTER (WHERE week_start + INTERVAL {7 * (k + 1)} DAY <= {end} "
        "AND action = 'none')"
        for k in WINDOWS
    )
    row = store.query(f"SELECT {counts} FROM campaign_log").iloc[0].to_numpy()
    return tuple(
        k
        for i, k in enumerate(WINDOWS)
        if row[2 * i] >= MIN_LOGGED_WEEKS and row[2 * i + 1] >= MIN_ROWS
    )


def read_logged_outcomes(
    store: Store,
    actions: tuple[Action, ...],
    gross_margin: float,
    observed_until: pd.Timestamp,
    longest: int | None = None,
) -> LoggedOutcomes | None:
    """The store's campaign log with its outcomes observed before `observed_until` (the
    planning week) over every window of WINDOWS it observes (up to `longest` weeks where
    given), read in one query of a fixed sample of its customers where it is large
    (`log_sample`); None without a log or any window enough rows observe."""
    if not store.has_table("campaign_log"):
        return None
    windows = tuple(
        k for k in observable_windows(store, observed_until) if longest is None or k <= longest
    )
    if not windows:
        return None
    sample = log_sample(store)
    if sample.note:
        log.warning("campaign log outcomes: %s", sample.note)
    examples = logged_examples(store, actions, observed_until, sample.condition, windows)
    outcomes = LoggedOutcomes(examples, actions, gross_margin, windows, sample.note)
    return outcomes if outcomes.windows else None
