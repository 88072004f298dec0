"""Off-policy estimates on a logged randomised campaign: what a policy would have earned on the
logged customer-weeks, from the log alone (no ground truth needed).

Outcome of a logged row: margin in the week and the K weeks after it,
    y = m * (spend + future_spend) - fixed_cost[a] - discount_rate[a] * spend.
Inverse propensity (IPW): mean of 1[a = pi(x)] / p * y. Doubly robust (DR):
mean of q(x, pi(x)) + 1[a = pi(x)] / p * (y - q(x, a)), with q a per-action weighted linear
regression of y on the row's features; it stays unbiased when the propensities are right and
the regression is wrong, and has lower variance when the regression is good. Confidence
intervals are normal, from the per-row terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.run_reader import RunFolder
from forecasting.features import ANCHOR_FEATURES, anchor_features
from forecasting.propensity import fill_propensities
from optimization.problem import DecisionProblem
from shopdata.actions import Action, discount_action_ids
from shopdata.store import Store


def logged_examples(
    store: Store,
    actions: tuple[Action, ...],
    outcome_weeks: int,
    observed_until: pd.Timestamp | None = None,
    customers: str = "TRUE",
    also_outcome_weeks: tuple[int, ...] = (),
) -> pd.DataFrame:
    """The store's campaign log as anchor features with outcomes over `outcome_weeks` weeks
    (`forecasting.features.anchor_features`), its propensities where logged (else NULL), the
    data observed up to `observed_until` when given, the rows of the customers that SQL
    predicate `customers` keeps (a `forecasting.features.log_sample`), and `future_spend_{k}`
    for each of `also_outcome_weeks`; the one query the off-policy estimates and the release
    check read the log with."""
    propensity = "propensity" if store.has_column("campaign_log", "propensity") else "NULL"
    return anchor_features(
        store,
        f"SELECT customer_id, week_start, action, {propensity} AS propensity FROM campaign_log "
        f"WHERE {customers}",
        discount_actions=discount_action_ids(actions),
        outcome_weeks=outcome_weeks,
        observed_until=observed_until,
        also_outcome_weeks=also_outcome_weeks,
    )


#: A policy's value is estimated only where every action it takes was logged this often.
MIN_MATCHED_ROWS = 30


@dataclass(frozen=True)
class OffPolicyEstimate:
    """A policy's value per logged row, or None with the `reason` it cannot be estimated (an
    action the policy takes that the log shows too rarely: no weighting can stand in for it)."""

    ipw: float | None
    ipw_ci: tuple[float, float] | None
    dr: float | None
    dr_ci: tuple[float, float] | None
    matched_rows: int
    rows: int
    reason: str = ""

    @property
    def estimable(self) -> bool:
        return self.dr is not None

    def to_dict(self) -> dict[str, object]:
        return {
            "ipw": self.ipw,
            "ipw_ci": None if self.ipw_ci is None else list(self.ipw_ci),
            "dr": self.dr,
            "dr_ci": None if self.dr_ci is None else list(self.dr_ci),
            "matched_rows": self.matched_rows,
            "rows": self.rows,
            "reason": self.reason,
        }


def logged_margin(
    frame: pd.DataFrame, action: np.ndarray, actions: tuple[Action, ...], gross_margin: float
) -> np.ndarray:
    """Each logged row's margin [R]: y = m (spend + future_spend) - fixed[a] - discount[a] spend,
    with `frame` holding `spend` (the week's) and `future_spend` (the weeks after)."""
    fixed = np.array([a.fixed_cost for a in actions])
    discount = np.array([a.discount_rate for a in actions])
    spend = frame["spend"].to_numpy(dtype=np.float64)
    return (
        gross_margin * (spend + frame["future_spend"].to_numpy(dtype=np.float64))
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


def _mean_ci(terms: np.ndarray) -> tuple[float, tuple[float, float]]:
    mean = float(terms.mean())
    half = 1.96 * float(terms.std(ddof=1)) / np.sqrt(len(terms)) if len(terms) > 1 else 0.0
    return mean, (mean - half, mean + half)


class LoggedCampaign:
    """The logged rows with outcomes and an outcome model per action, ready to score policies."""

    def __init__(self, examples: pd.DataFrame, actions: tuple[Action, ...], gross_margin: float):
        frame = examples[examples["future_spend"].notna()].reset_index(drop=True)
        if frame.empty:
            raise ValueError(
                "the campaign log has no rows with observed follow-up weeks: no off-policy "
                "estimate is possible"
            )
        index = {a.id: i for i, a in enumerate(actions)}
        self.action_ids = tuple(a.id for a in actions)
        self.customer_ids = frame["customer_id"].to_numpy(dtype=str)
        self.action = frame["action"].map(index).to_numpy(dtype=np.int64)
        self.outcome = logged_margin(frame, self.action, actions, gross_margin)
        features = frame[list(ANCHOR_FEATURES)].to_numpy(dtype=np.float64)
        # Rows without a logged propensity: estimated from the features (propensity.py).
        self.propensity = fill_propensities(
            features, self.action, frame["propensity"].to_numpy(dtype=np.float64), len(actions)
        )
        design = np.hstack([np.ones((len(frame), 1)), features])  # [R, F + 1]
        self.predicted = np.zeros((len(frame), len(actions)))  # q(x, a) for every a
        everyone = np.ones(len(frame), bool)
        for a in range(len(actions)):
            self.predicted[:, a] = outcome_model(
                design,
                self.outcome,
                self.propensity,
                fit=self.action == a,
                predict=everyone,
                min_rows=design.shape[1] + 1,
            )

    def logging_policy(self) -> OffPolicyEstimate:
        """The logging policy's own value: the plain mean outcome (both columns)."""
        mean, ci = _mean_ci(self.outcome)
        return OffPolicyEstimate(mean, ci, mean, ci, len(self.outcome), len(self.outcome))

    def estimate(self, target: np.ndarray) -> OffPolicyEstimate:
        """Value per logged row of the policy taking action `target[i]` on row i; not
        estimable (None, with the reason) where an action the policy takes has fewer than
        MIN_MATCHED_ROWS logged rows that took it too."""
        matched = self.action == target
        per_action = np.bincount(target[matched], minlength=len(self.action_ids))
        wanted = np.bincount(target, minlength=len(self.action_ids)) > 0
        short = np.flatnonzero(wanted & (per_action < MIN_MATCHED_ROWS))
        if len(short):
            detail = ", ".join(
                f"{self.action_ids[a]} ({per_action[a]} matched rows)" for a in short
            )
            return OffPolicyEstimate(
                None,
                None,
                None,
                None,
                int(matched.sum()),
                len(target),
                reason=f"cannot be estimated: the log took {detail} too rarely where the policy "
                f"does (at least {MIN_MATCHED_ROWS} needed)",
            )
        ratio = matched / self.propensity
        ipw, ipw_ci = _mean_ci(ratio * self.outcome)
        rows = np.arange(len(target))
        q_target = self.predicted[rows, target]
        q_logged = self.predicted[rows, self.action]
        dr, dr_ci = _mean_ci(q_target + ratio * (self.outcome - q_logged))
        return OffPolicyEstimate(ipw, ipw_ci, dr, dr_ci, int(matched.sum()), len(target))


#: Weeks after the logged week whose margin counts in the run's off-policy estimates.
RUN_OUTCOME_WEEKS = 8


def run_off_policy(
    run: RunFolder, problem: DecisionProblem, choice: np.ndarray
) -> dict[str, dict[str, object]]:
    """IPW and DR estimates of no action, the logging policy and the run's plan (each customer's
    first planned contact; `choice` [N, H] action indices of `problem`) on the run's logged
    campaign, per logged customer-week (margin over RUN_OUTCOME_WEEKS weeks); {} without a
    log."""
    scenario = run.settings
    catalogue = scenario.catalogue()
    with Store.open(run.store_path) as store:
        if not store.has_table("campaign_log"):
            return {}
        examples = logged_examples(store, catalogue, RUN_OUTCOME_WEEKS)
    log = LoggedCampaign(examples, catalogue, scenario.gross_margin)
    contacted = choice > 0
    first = np.where(
        contacted.any(axis=1), choice[np.arange(len(choice)), contacted.argmax(axis=1)], 0
    )
    planned = dict(zip(problem.customer_ids.astype(str), first, strict=True))
    engine = np.array([planned.get(c, 0) for c in log.customer_ids], dtype=np.int64)
    return {
        "no_action": log.estimate(np.zeros(len(engine), dtype=np.int64)).to_dict(),
        "logged": log.logging_policy().to_dict(),
        "engine": log.estimate(engine).to_dict(),
    }
