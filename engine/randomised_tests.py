"""Randomised tests for what the log cannot yet tell (DESIGN §8a): an action whose expected gain
is positive but whose probability of loss is above the risk the planner accepts is sent, in the
coming week, to a random share of the customers the plan chose for it, and the rest of them are
its control group.

Design. The test's candidates are the customers the plan gave the action in any week (who
have no other contact in the first week and room under the contact cap). Exactly n_t of the C
candidates, drawn uniformly (complete randomisation), get it in the first week; the others get
`none`. Every candidate's propensity is then n_t / C exactly (and 1 - n_t / C for `none`), and
every candidate's row goes to `assignment.parquet` in the campaign-log contract with it, so the
next week's run learns from it like any logged campaign.

Size. The test answers when its own estimate, over the contact's week and the `test_weeks` - 1
weeks after it, added to what the log already says, would release the action with probability
POWER were its gain what the posterior now expects: after the test the posterior standard
deviation of the gain per contact must be at most (m + tolerance) / (z_(1 - risk) + z_POWER),
m the posterior mean, tolerance the loss per contact the planner accepts. A test over the first
weeks informs only those weeks' bands: the later weeks' uncertainty stays, and where it alone is
too large, no test size is enough and the report says so. The test's own variance, with n_t
treated and n_c controls, is sd_a^2 / n_t + sd_0^2 / n_c (the log's spread of the window's
margin among the targets' treated and untreated weeks); p is the smallest that reaches the size,
at most 1/2, and fewer treated where the test's expected cost (fixed costs and discounts on
expected spend) would exceed `release.test_budget` or the week's budget left by the released
plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtri

#: The probability with which a test is sized to let the action be released.
POWER = 0.8
#: A test treats at most this share of its candidates: a tenth or more stay its controls.
MAX_TREATED_SHARE = 0.9


@dataclass(frozen=True)
class TestDesign:
    """One randomised test: `action` to each of `candidates` (customer rows of the problem)
    with probability `propensity`, in the first week; its expected cost (the propensity times
    the candidates' extra costs) and what it will tell."""

    action: str
    action_index: int
    candidates: np.ndarray  # [C] customer rows
    weeks: np.ndarray  # [C, H] bool: the weeks the plan gave each candidate the action
    propensity: float
    treated: np.ndarray  # [C] bool: the draw
    expected_cost: float
    readout_weeks: int
    #: The probability that, were the gain what the posterior expects, the test's result
    #: releases the action (None where the log gives no spread of outcomes to size it by).
    power: float | None
    note: str

    @property
    def treated_count(self) -> int:
        return int(self.treated.sum())

    def to_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "candidates": len(self.candidates),
            "candidate_weeks": int(self.weeks.sum()),
            "propensity": self.propensity,
            "treated": self.treated_count,
            "controls": len(self.candidates) - self.treated_count,
            "expected_cost": self.expected_cost,
            "readout_weeks": self.readout_weeks,
            "power": self.power,
            "note": self.note,
        }


def needed_sd(mean: float, tolerance: float, risk: float) -> float:
    """The posterior standard deviation at which a gain of `mean` per contact would be released
    with probability POWER: (mean + tolerance) / (z_(1 - risk) + z_POWER)."""
    return (mean + tolerance) / float(ndtri(1.0 - risk) + ndtri(POWER))


def early_variance_allowed(
    total_variance: float, covariance_with_early: float, early_variance: float, target_sd: float
) -> float | None:
    """The largest variance a test's estimate of the early bands' gain may have for the
    posterior variance of the whole gain to fall to `target_sd`^2 (a normal update of one
    linear observation: Var - Cov^2 / (Var_early + v) <= target^2), or None where no test of
    those bands can get there (the later weeks' uncertainty alone is larger)."""
    reducible = total_variance - target_sd**2
    if reducible <= 0:
        return np.inf
    if covariance_with_early**2 <= 0:
        return None
    allowed = covariance_with_early**2 / reducible - early_variance
    return allowed if allowed > 0 else None


def treated_needed(variance: float, sd_treated: float, sd_control: float, candidates: int) -> int:
    """The fewest treated customers among `candidates` for which a test's variance
    sd_treated^2 / n_t + sd_control^2 / (candidates - n_t) is at most `variance`
    (`candidates` + 1 where even half of them is not enough: more treated, fewer controls)."""
    most = int(0.5 * candidates)
    treated = np.arange(1, max(most, 1) + 1)
    achieved = sd_treated**2 / treated + sd_control**2 / np.maximum(candidates - treated, 1)
    enough = np.flatnonzero(achieved <= variance)
    return int(treated[enough[0]]) if len(enough) else candidates + 1


def power_of(
    mean: float, tolerance: float, risk: float, prior_sd: float, test_sd: float, cov: float,
    early_var: float,
) -> float:  # fmt: skip
    """The probability that a test with standard deviation `test_sd` of the early bands' gain
    leaves the posterior releasing a gain of `mean` (a posterior sd of sqrt(prior_sd^2 -
    cov^2 / (early_var + test_sd^2)) at which mean - z_(1 - risk) sd > -tolerance)."""
    from scipy.special import ndtr

    after = np.sqrt(max(prior_sd**2 - cov**2 / (early_var + test_sd**2), 1e-300))
    return float(ndtr((mean + tolerance) / after - ndtri(1.0 - risk)))


def draw(candidates: int, treated: int, seed: int) -> np.ndarray:
    """Which of `candidates` are treated ([C] bool): exactly `treated` of them, drawn
    uniformly from `seed` (complete randomisation: each has propensity treated / candidates,
    and the test's cost is what it was sized to)."""
    chosen = np.zeros(candidates, bool)
    chosen[np.random.default_rng(seed).permutation(candidates)[:treated]] = True
    return chosen


def assignment_frame(
    tests: list[TestDesign],
    customer_ids: np.ndarray,
    week_starts: np.ndarray,
    channels: dict[str, str],
) -> pd.DataFrame:
    """Every test's candidates in the campaign-log contract (docs/inputs.md), a row for each
    week the plan gave the candidate the action: customer_id, week_start, action (the test's,
    or `none` for its controls), propensity (of the row's own action), channel. Append the
    rows of the weeks sent to the shop's campaign log."""
    frames = []
    for t in tests:
        row, week = np.nonzero(t.weeks)
        treated = t.treated[row]
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": customer_ids[t.candidates[row]].astype(str),
                    "week_start": pd.to_datetime(np.asarray(week_starts)[week]),
                    "action": np.where(treated, t.action, "none"),
                    "propensity": np.where(treated, t.propensity, 1.0 - t.propensity),
                    "channel": np.where(treated, channels.get(t.action, "none"), "none"),
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            {
                "customer_id": pd.Series([], dtype=str),
                "week_start": pd.Series([], dtype="datetime64[ns]"),
                "action": pd.Series([], dtype=str),
                "propensity": pd.Series([], dtype=float),
                "channel": pd.Series([], dtype=str),
            }
        )
    return pd.concat(frames, ignore_index=True).sort_values(["week_start", "customer_id"])
