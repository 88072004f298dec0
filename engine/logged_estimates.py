"""What the campaign log's doubly robust scores estimate (engine/logged_outcomes.py): an
action's gain over `none` for a set of customers (`GainEstimate`, or `NotEstimable` with why),
a policy's value (`OffPolicyEstimate`), and the covariance of two estimates from their
per-customer influences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from forecasting.cross_fitting import clustered_standard_error


@dataclass(frozen=True)
class GainEstimate:
    """The log's estimate of an action's gain over `none` per contact (money over the logged
    week and the `window` weeks after it), for the logged rows of a set of customers.
    `scope`: "targets" where those customers' own rows were enough, "all" where they had too
    few and every logged row was used (the shop's average, weaker evidence for them)."""

    action: str
    window: int
    mean: float
    standard_error: float
    rows: int
    scope: Literal["targets", "all"]

    def to_dict(self) -> dict[str, object]:
        return {
            "window": self.window,
            "mean": self.mean,
            "standard_error": self.standard_error,
            "rows": self.rows,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class NotEstimable:
    """Why the log gives no estimate of an action's gain over a window."""

    action: str
    window: int
    reason: str


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


def mean_interval(terms: np.ndarray, clusters: np.ndarray) -> tuple[float, tuple[float, float]]:
    """The mean of `terms` and its 95 % interval, clustered by customer."""
    mean = float(terms.mean())
    half = 1.96 * clustered_standard_error(terms, clusters) if len(terms) > 1 else 0.0
    return mean, (mean - half, mean + half)


def covariance(first: np.ndarray, second: np.ndarray) -> float:
    """The clustered covariance of two estimates from their per-customer influences
    (`LoggedOutcomes.influence`): C / (C - 1) sum(psi_1 psi_2), C the customers either uses."""
    groups = int(np.count_nonzero((first != 0) | (second != 0)))
    return float(first @ second) * groups / max(groups - 1, 1)
