"""Randomised tests for what the log cannot yet tell (DESIGN §8a): an action whose expected gain
is positive but whose probability of loss is above the risk the planner accepts is sent to a
random share of the customers the plan chose for it, in the weeks the plan gave them; the rest
of them are its control group (`place_tests`; docs/planner.md).

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

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtri

from engine.release_decision import ActionDecision, ReleaseSettings, Round
from optimization.contact_windows import breaks
from optimization.problem import DecisionProblem
from optimization.reporting import constraint_reports
from optimization.rows import RowKind, coupling_rows, measure_plan
from optimization.solution import Solution

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


def place_tests(
    problem: DecisionProblem,
    released: Solution,
    out: dict[str, tuple[ActionDecision, Round | None, np.ndarray]],
    settings: ReleaseSettings,
) -> list[TestDesign]:
    """The randomised tests of the actions decided `test`, most expected gain a week first
    (engine/randomised_tests.py): each to a random share of the customers its plan chose (with
    room for all their planned contacts of it in `released`'s plan), in the weeks the plan
    gave them, the share the larger of what the loss tolerance allows and what the test's
    power needs, within the test budget, each week's budget and floor left, the action's
    capacity, the ratio rules' room (a draw that would still break one is not sent), the
    contact windows, and MAX_TREATED_SHARE."""
    tested = sorted(
        (entry for entry in out.values() if entry[0].decision == "test"),
        key=lambda entry: -entry[0].expected_gain_per_week,
    )
    if not tested or not released.has_plan:
        return []
    choice = released.plan().copy()
    n, _, h = problem.shape
    rows, weeks = np.arange(n)[:, None], np.arange(h)[None, :]
    cost_room = problem.weekly_budget - problem.cost[rows, choice, weeks].sum(axis=0)  # [H]
    revenue_room = problem.revenue[rows, choice, weeks].sum(axis=0) - problem.weekly_revenue_floor
    money = settings.test_budget
    ids = list(problem.action_ids)
    # what each ratio rule's row holds above its minimum under the released plan
    coupling = coupling_rows(problem)
    ratio_room = measure_plan(problem, coupling, choice).slack[coupling.indices(RowKind.RATIO)]
    designs: list[TestDesign] = []
    for decision, found, plan in tested:
        a = ids.index(decision.action)
        planned = plan == a  # [N, H]
        room = (choice > 0).sum(axis=1) + planned.sum(axis=1) <= problem.contact_cap
        fits = ~(planned & (choice > 0)).any(axis=1) & room & problem.eligible[:, a]
        fits &= ~breaks(problem.windows, np.where(planned, a, choice))  # its contact windows
        candidates = np.flatnonzero(planned.any(axis=1) & fits)
        if len(candidates) == 0 or money <= 0:
            continue
        weeks_of = planned[candidates]  # [C, H]
        extra_cost = (problem.cost[candidates, a, :] - problem.cost[candidates, 0, :]) * weeks_of
        extra_revenue = (
            problem.revenue[candidates, a, :] - problem.revenue[candidates, 0, :]
        ) * weeks_of
        extra_value = problem.value[candidates, a, :] - problem.value[candidates, 0, :]
        share, note = _share(decision, found, len(candidates), settings)
        limits = [share, MAX_TREATED_SHARE, money / max(float(extra_cost.sum()), 1e-12)]
        cost_t, revenue_t = extra_cost.sum(axis=0), extra_revenue.sum(axis=0)
        limits += [max(cost_room[t], 0.0) / cost_t[t] for t in range(h) if cost_t[t] > 0]
        limits += [max(revenue_room[t], 0.0) / -revenue_t[t] for t in range(h) if revenue_t[t] < 0]
        ratio_terms = np.array(  # [Q, C]: each ratio rule's change, candidate by candidate
            [
                (rule.coefficients(extra_value, extra_cost) * weeks_of).sum(axis=1)
                * rule.actions[a]
                for rule in problem.ratios
            ]
        ).reshape(len(problem.ratios), len(candidates))
        totals = ratio_terms.sum(axis=1)
        limits += [max(r, 0.0) / -d for r, d in zip(ratio_room, totals, strict=True) if d < 0]
        if problem.action_capacity is not None:  # the action's uses left over the horizon
            left = problem.action_capacity[a] - (choice == a).sum()
            limits.append(max(left, 0.0) / max(float(weeks_of.sum()), 1.0))
        treated = int(np.floor(min(limits) * len(candidates) + 1e-9))
        if treated < 1:
            continue
        if treated / len(candidates) < share - 1e-9:
            note += f"; {treated:,} of {len(candidates):,} treated, what the budgets allow"
        drawn = draw(len(candidates), treated, settings.seed + a)
        if (ratio_room + ratio_terms[:, drawn].sum(axis=1) < 0).any():
            continue  # this draw would break a ratio rule: no test of this action this week
        propensity = treated / len(candidates)
        designs.append(
            TestDesign(
                action=decision.action,
                action_index=a,
                candidates=candidates,
                weeks=weeks_of,
                propensity=propensity,
                treated=drawn,
                expected_cost=propensity * float(extra_cost.sum()),
                readout_weeks=settings.test_weeks,
                power=_power(decision, found, treated, len(candidates), settings),
                note=note,
            )
        )
        chosen = candidates[drawn]
        choice[chosen] = np.where(weeks_of[drawn], a, choice[chosen])
        cost_room -= extra_cost[drawn].sum(axis=0)
        revenue_room += extra_revenue[drawn].sum(axis=0)
        money -= float(extra_cost[drawn].sum())
        ratio_room = ratio_room + ratio_terms[:, drawn].sum(axis=1)
    return designs


def _risk_share(decision: ActionDecision, settings: ReleaseSettings) -> float:
    """The largest share of the action's planned contacts whose loss stays within the
    tolerance at the risk: P(f w G < -L) = risk at f = L / (w (-q)), q the posterior's
    risk-quantile of G per contact (1 where q is not below -L / w: that is a release)."""
    quantile = decision.expected_gain - float(ndtri(1.0 - settings.risk)) * decision.gain_sd
    exposure = decision.contacts_per_week * max(-quantile, 0.0)
    return 1.0 if exposure <= settings.max_loss else settings.max_loss / exposure


def _share(
    decision: ActionDecision, found: Round | None, candidates: int, settings: ReleaseSettings
) -> tuple[float, str]:
    """The share of the candidates to treat: the larger of what the loss tolerance allows
    (`_risk_share`) and what the test's power needs (engine/randomised_tests.py), with a note
    saying which."""
    risk = _risk_share(decision, settings)
    needed, why = _needed(decision, found, candidates, settings)
    if needed is None:  # no size answers: half, the most a test learns from, if the budget pays
        share = max(risk, 0.5)
        return share, f"{share:.0%} of its customers ({why})"
    if needed / candidates <= risk:
        return risk, f"{risk:.0%} of its customers: what the loss tolerance allows; {why}"
    return needed / candidates, f"sized for power over {settings.test_weeks} weeks"


def _early(decision: ActionDecision, found: Round, window: int) -> tuple[float, float, float]:
    """The posterior's variance of the action's whole gain, of its gain over the bands within
    `window` weeks, and their covariance."""
    position = [d.action for d in found.decisions].index(decision.action)
    part = found.posterior.slices[position]
    early = np.zeros(len(found.posterior.mean))
    early[part] = found.bands.within(window)
    whole = np.zeros(len(found.posterior.mean))
    whole[part] = 1.0
    cov = found.posterior.covariance
    return float(whole @ cov @ whole), float(early @ cov @ early), float(whole @ cov @ early)


def _spread(decision: ActionDecision, window: int) -> float | None:
    """One customer's spread of margin over the readout window: the log's estimate's
    standard error times the root of its rows (None where the log has no such estimate)."""
    spread = next((e for e in decision.evidence if e.window == window), None)
    return None if spread is None else spread.standard_error * float(np.sqrt(spread.rows))


def _needed(
    decision: ActionDecision, found: Round | None, candidates: int, settings: ReleaseSettings
) -> tuple[int | None, str]:
    """Treated customers a test needs to answer within `test_weeks` (None where the log gives
    nothing to size it by, or no test of the first weeks can settle it), and why."""
    window = settings.readout_window
    sd = _spread(decision, window)
    if found is None or sd is None:
        return None, f"no logged outcomes over {window + 1} weeks to size a test by"
    tolerance = settings.max_loss / max(decision.contacts_per_week, 1e-12)
    total, early, cross = _early(decision, found, window)
    target = needed_sd(decision.expected_gain, tolerance, settings.risk)
    allowed = early_variance_allowed(total, cross, early, target)
    if allowed is None:
        return None, (
            f"no test over {settings.test_weeks} weeks can settle it alone: the weeks after it "
            "stay uncertain"
        )
    return treated_needed(allowed, sd, sd, candidates), "a test of that size would answer"


def _power(
    decision: ActionDecision,
    found: Round | None,
    treated: int,
    candidates: int,
    settings: ReleaseSettings,
) -> float | None:
    """The probability that a test of `treated` of `candidates`, read out over `test_weeks`,
    releases the action were its gain what is expected (None where it cannot be said)."""
    sd = _spread(decision, settings.readout_window)
    if found is None or sd is None:
        return None
    total, early, cross = _early(decision, found, settings.readout_window)
    test_sd = float(np.sqrt(sd**2 / max(treated, 1) + sd**2 / max(candidates - treated, 1)))
    tolerance = settings.max_loss / max(decision.contacts_per_week, 1e-12)
    return power_of(
        decision.expected_gain, tolerance, settings.risk, np.sqrt(total), test_sd, cross, early
    )


def with_tests(problem: DecisionProblem, solution: Solution, tests: list[TestDesign]) -> Solution:
    """`solution` with each test's treated customers given its action in the weeks the plan
    gave it them, measured again on `problem` (objective and every row's activity and slack,
    as the audit recomputes them; shadow prices stay the solved plan's); the bound grows by the
    value the tests add, a bound on the solved plan plus these fixed contacts."""
    if not tests or not solution.has_plan:
        return solution
    choice = solution.plan().copy()
    for test in tests:
        chosen = test.candidates[test.treated]
        choice[chosen] = np.where(test.weeks[test.treated], test.action_index, choice[chosen])
    rows = coupling_rows(problem)
    measures = measure_plan(problem, rows, choice)
    shadow = {c.name: c.shadow_price for c in solution.constraints}
    reports = constraint_reports(
        problem, rows, measures.activity, np.array([shadow.get(n, 0.0) for n in rows.names])
    )
    added = measures.objective - solution.objective
    return dataclasses.replace(
        solution,
        choice=choice,
        objective=measures.objective,
        bound=solution.bound + added,
        constraints=reports,
    )


def assignment_rows(
    problem: DecisionProblem, tests: list[TestDesign], channels: dict[str, str]
) -> pd.DataFrame:
    """The tests' rows in the campaign-log contract (`assignment_frame`) for the problem's
    weeks; `channels` maps action ids to their channel."""
    weeks = pd.to_datetime([str(w) for w in problem.week_labels]).to_numpy()
    return assignment_frame(tests, problem.customer_ids, weeks, channels)
