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

from engine.actions import Action
from forecasting.features import ANCHOR_FEATURES


@dataclass(frozen=True)
class OffPolicyEstimate:
    ipw: float
    ipw_ci: tuple[float, float]
    dr: float
    dr_ci: tuple[float, float]
    matched_rows: int
    rows: int

    def to_dict(self) -> dict[str, object]:
        return {
            "ipw": self.ipw,
            "ipw_ci": list(self.ipw_ci),
            "dr": self.dr,
            "dr_ci": list(self.dr_ci),
            "matched_rows": self.matched_rows,
            "rows": self.rows,
        }


def _mean_ci(terms: np.ndarray) -> tuple[float, tuple[float, float]]:
    mean = float(terms.mean())
    half = 1.96 * float(terms.std(ddof=1)) / np.sqrt(len(terms)) if len(terms) > 1 else 0.0
    return mean, (mean - half, mean + half)


class LoggedCampaign:
    """The logged rows with outcomes and an outcome model per action, ready to score policies."""

    def __init__(self, examples: pd.DataFrame, actions: tuple[Action, ...], gross_margin: float):
        usable = examples["future_spend"].notna() & examples["propensity"].notna()
        frame = examples[usable].reset_index(drop=True)
        if frame.empty:
            raise ValueError(
                "the campaign log has no rows with propensities and observed "
                "follow-up weeks: no off-policy estimate is possible"
            )
        index = {a.id: i for i, a in enumerate(actions)}
        self.customer_ids = frame["customer_id"].to_numpy(dtype=str)
        self.action = frame["action"].map(index).to_numpy(dtype=np.int64)
        self.propensity = frame["propensity"].to_numpy(dtype=np.float64)
        fixed = np.array([a.fixed_cost for a in actions])
        discount = np.array([a.discount_rate for a in actions])
        spend = frame["spend"].to_numpy(dtype=np.float64)
        self.outcome = (
            gross_margin * (spend + frame["future_spend"].to_numpy(dtype=np.float64))
            - np.where(self.action > 0, fixed[self.action], 0.0)
            - discount[self.action] * spend
        )
        features = frame[list(ANCHOR_FEATURES)].to_numpy(dtype=np.float64)
        design = np.hstack([np.ones((len(frame), 1)), features])  # [R, F + 1]
        self.predicted = np.zeros((len(frame), len(actions)))  # q(x, a) for every a
        for a in range(len(actions)):
            rows = self.action == a
            if rows.sum() <= design.shape[1]:
                self.predicted[:, a] = self.outcome[rows].mean() if rows.any() else 0.0
                continue
            weight = np.sqrt(1.0 / self.propensity[rows])
            beta, *_ = np.linalg.lstsq(
                design[rows] * weight[:, None], self.outcome[rows] * weight, rcond=None
            )
            self.predicted[:, a] = design @ beta

    def logging_policy(self) -> OffPolicyEstimate:
        """The logging policy's own value: the plain mean outcome (both columns)."""
        mean, ci = _mean_ci(self.outcome)
        return OffPolicyEstimate(mean, ci, mean, ci, len(self.outcome), len(self.outcome))

    def estimate(self, target: np.ndarray) -> OffPolicyEstimate:
        """Value per logged row of the policy taking action `target[i]` on row i."""
        matched = self.action == target
        ratio = matched / self.propensity
        ipw, ipw_ci = _mean_ci(ratio * self.outcome)
        rows = np.arange(len(target))
        q_target = self.predicted[rows, target]
        q_logged = self.predicted[rows, self.action]
        dr, dr_ci = _mean_ci(q_target + ratio * (self.outcome - q_logged))
        return OffPolicyEstimate(ipw, ipw_ci, dr, dr_ci, int(matched.sum()), len(target))
