"""The release decision (DESIGN §8a): a plan's actions go out where they are worth it in
expectation with a small, stated downside; what is promising but uncertain goes out as a
randomised test; the rest is withheld and the plan solved again without it.

For each action a of the plan, with G_a its gain per contact over its targets (a year's margin,
engine/release_posterior.py), w_a its planned contacts per week and L = `release.max_loss` the
loss per week the planner accepts:

- release where the posterior mean of G_a is above zero and P(w_a G_a < -L) <= `release.risk`;
- test where the mean is above zero but the probability of losing more than L is higher: a
  random share of its targets gets it in the coming week, sized by power within
  `release.test_budget` (engine/randomised_tests.py), and its contacts after that week wait for
  the answer;
- withhold where the mean is not above zero.

The plan as a whole must meet the same promise: where the released actions' weekly gain
sum_a w_a G_a (jointly normal, with the evidence's covariances across actions) loses more than L
with probability above the risk, the action likeliest to lose is turned into a test. Withheld
and tested actions are made ineligible and the plan solved again (the budget moves to what is
left), in rounds, until every action of the plan is released: at most as many rounds as actions.

Valid after selection: the forecasters give each logged customer the effects of the model that
did not learn from that customer's logged weeks (cross-fitted: forecasting/uplift.py,
forecasting/dr_effects.py), so the customers the plan picks are picked without their own
outcomes, and the log's estimate on their weeks is not the noise that picked them
(tests/test_release_decision.py simulates the false-release rate on useless actions).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import ndtri  # the normal quantile

from engine.logged_outcomes import WINDOWS, GainEstimate, LoggedOutcomes, covariance
from engine.randomised_tests import (
    MAX_TREATED_SHARE,
    TestDesign,
    assignment_frame,
    draw,
    early_variance_allowed,
    needed_sd,
    power_of,
    treated_needed,
)
from engine.release_posterior import (
    VALUE_WEEKS,
    ActionPrior,
    Bands,
    Evidence,
    Posterior,
    loss_probability,
    posterior,
)
from forecasting.forecast_set import ForecastMetadata, ForecastSet
from forecasting.shrinkage import own_estimate_shrinkage
from optimization.problem import DecisionProblem
from optimization.reporting import constraint_reports
from optimization.rows import coupling_rows, measure_plan
from optimization.solution import Solution

log = logging.getLogger(__name__)

#: Defaults where the scenario leaves them out: the loss a week a plan may risk
#: (`release.max_loss`), a share of the mean weekly budget, and what the run's tests may spend
#: over the horizon (`test_budget`), a share of the horizon's budget.
DEFAULT_LOSS_SHARE = 0.05
DEFAULT_TEST_SHARE = 0.1

Decision = Literal["release", "test", "withhold"]


@dataclass(frozen=True)
class ReleaseSettings:
    """The decision's parameters, in money where they are money: `max_loss` per week,
    `test_budget` for the tests of one run; `test_weeks` the weeks a test is read out after
    (its contacts' week included); `later_uncertainty` the rho of release_posterior's prior on
    the weeks the log has not seen; `seed` draws the tests."""

    risk: float
    max_loss: float
    test_weeks: int
    test_budget: float
    later_uncertainty: float
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.risk < 0.5:
            raise ValueError(f"The 'risk' parameter must be in (0, 0.5). Got {self.risk} instead.")
        for name in ("max_loss", "test_budget", "later_uncertainty"):
            if not getattr(self, name) >= 0:
                raise ValueError(
                    f"The '{name}' parameter must be >= 0. Got {getattr(self, name)} instead."
                )
        if self.test_weeks < 1:
            raise ValueError(
                f"The 'test_weeks' parameter must be >= 1. Got {self.test_weeks} instead."
            )

    @property
    def readout_window(self) -> int:
        """The log window (weeks after the contact's week) a test is read out over."""
        return max(k for k in WINDOWS if k <= self.test_weeks - 1)


def default_settings(
    problem: DecisionProblem,
    *,
    risk: float = 0.05,
    max_loss: float | None = None,
    test_weeks: int = 2,
    test_budget: float | None = None,
    later_uncertainty: float = 0.5,
    seed: int = 0,
) -> ReleaseSettings:
    """ReleaseSettings with `max_loss` defaulting to DEFAULT_LOSS_SHARE of the problem's mean
    weekly budget and `test_budget` to DEFAULT_TEST_SHARE of its budget over the horizon (0
    where it has none)."""
    budget = problem.weekly_budget[np.isfinite(problem.weekly_budget)]
    weekly = float(budget.mean()) if len(budget) else 0.0
    return ReleaseSettings(
        risk=risk,
        max_loss=DEFAULT_LOSS_SHARE * weekly if max_loss is None else max_loss,
        test_weeks=test_weeks,
        test_budget=DEFAULT_TEST_SHARE * float(budget.sum())
        if test_budget is None
        else test_budget,
        later_uncertainty=later_uncertainty,
        seed=seed,
    )


def calibration(metadata: ForecastMetadata | dict, action: str) -> tuple[float, str]:
    """The forecaster's held-out calibration of `action` (kappa in [0, 1]) and where it came
    from: the share of its predicted effect on the week's purchase that the held-out customers'
    doubly robust estimate shows (`effects.calibration[action].purchase_week0` of the
    forecast's parameters, which `forecast fit` measures for every forecaster), shrunk by that
    estimate's own standard error (max(0, 1 - se^2 / estimate^2)). 0 where nothing was
    measured: the prediction alone then never releases anything."""
    parameters = metadata.parameters if isinstance(metadata, ForecastMetadata) else metadata
    effects = parameters.get("effects") if isinstance(parameters, dict) else None
    found = effects.get("calibration", {}).get(action) if isinstance(effects, dict) else None
    week = (found or {}).get("purchase_week0")
    if not week:
        return 0.0, "no held-out calibration measured: the prior is centred on no effect"
    predicted, measured = float(week["average_effect"]), float(week["doubly_robust_effect"])
    se = float(week["doubly_robust_effect_se"])
    if not predicted > 0 or not measured > 0:
        return 0.0, (
            f"held out, predicted {predicted:+.4f} against measured {measured:+.4f}: the prior "
            "is centred on no effect"
        )
    kappa = min(measured / predicted, 1.0) * float(own_estimate_shrinkage(measured, se))
    return kappa, (
        f"held out, predicted {predicted:+.4f} against measured {measured:+.4f} (se {se:.4f})"
    )


@dataclass(frozen=True)
class PriorSource:
    """What the forecaster predicted, as the prior reads it: the part of each contact's value
    after its week ([N, A, H], the problem's actions), the weeks that part accrues over, and
    each action's calibration ([A], with where it came from)."""

    later: np.ndarray
    follow_up_weeks: int
    calibration: np.ndarray
    calibration_notes: tuple[str, ...]

    @classmethod
    def from_forecast(
        cls, forecast_dir: Path, action_ids: np.ndarray, gross_margin: float, horizon: int
    ) -> PriorSource:
        """Read from a run's forecast folder, the later part rescaled to `gross_margin` as the
        valuation does (engine/valuation.py)."""
        metadata = ForecastSet.load_metadata(forecast_dir)
        ids = [str(a) for a in ForecastSet.load_array(forecast_dir, "action_ids")]
        index = [ids.index(str(a)) for a in action_ids]
        scale = gross_margin / metadata.gross_margin if metadata.gross_margin > 0 else 0.0
        later = ForecastSet.load_array(forecast_dir, "future_margin_delta")[:, index, :horizon]
        found = [calibration(metadata, str(a)) for a in action_ids]
        weeks = int(metadata.parameters.get("future_weeks", 0) or 0)
        return cls(
            later * scale,
            weeks,
            np.array([k for k, _ in found]),
            tuple(note for _, note in found),
        )

    def prior(self, problem: DecisionProblem, planned: np.ndarray, action: int) -> ActionPrior:
        """The prior of `action` over the contacts `planned` ([N, H] bool)."""
        customer, week = np.nonzero(planned)
        return ActionPrior(
            action=str(problem.action_ids[action]),
            predicted_gain=float(problem.value[customer, action, week].mean()),
            predicted_later=float(self.later[customer, action, week].mean()),
            follow_up_weeks=self.follow_up_weeks,
            calibration=float(self.calibration[action]),
            cost=float(
                (problem.cost[customer, action, week] - problem.cost[customer, 0, week]).mean()
            ),
        )


@dataclass(frozen=True)
class ActionDecision:
    """One action of a plan, decided. Money per contact unless said per week."""

    action: str
    decision: Decision
    contacts: int
    contacts_per_week: float
    predicted_gain: float
    calibration: float
    calibration_note: str
    prior_mean: float
    prior_sd: float
    expected_gain: float
    gain_sd: float
    #: P(the action's contacts lose more than max_loss in a week).
    loss_probability: float
    evidence: tuple[GainEstimate, ...]
    missing_evidence: tuple[str, ...]
    reason: str

    @property
    def expected_gain_per_week(self) -> float:
        return self.contacts_per_week * self.expected_gain

    def to_dict(self) -> dict[str, object]:
        found = dataclasses.asdict(self)
        found["evidence"] = [e.to_dict() for e in self.evidence]
        found["missing_evidence"] = list(self.missing_evidence)
        found["expected_gain_per_week"] = self.expected_gain_per_week
        return found


@dataclass(frozen=True)
class PlanRisk:
    """The released plan's weekly gain: posterior mean and sd, P(loss > max_loss)."""

    expected_gain_per_week: float
    sd_per_week: float
    loss_probability: float

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ReleaseReport:
    """What was decided for each action of the plans the rounds looked at (the last decision
    of each), the plan's risk, the tests, and the settings."""

    settings: ReleaseSettings
    windows: tuple[int, ...]
    decisions: tuple[ActionDecision, ...]
    plan: PlanRisk
    tests: tuple[TestDesign, ...]
    rounds: int
    note: str = ""

    @property
    def withheld(self) -> tuple[str, ...]:
        return tuple(d.action for d in self.decisions if d.decision == "withhold")

    @property
    def tested(self) -> tuple[str, ...]:
        return tuple(d.action for d in self.decisions if d.decision == "test")

    @property
    def released(self) -> tuple[str, ...]:
        return tuple(d.action for d in self.decisions if d.decision == "release")

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": "posterior",
            "risk": self.settings.risk,
            "max_loss": self.settings.max_loss,
            "test_weeks": self.settings.test_weeks,
            "test_budget": self.settings.test_budget,
            "later_uncertainty": self.settings.later_uncertainty,
            "value_weeks": VALUE_WEEKS,
            "windows": list(self.windows),
            "rounds": self.rounds,
            "released": list(self.released),
            "tested": list(self.tested),
            "withheld": list(self.withheld),
            "decisions": [d.to_dict() for d in self.decisions],
            "plan": self.plan.to_dict(),
            "tests": [t.to_dict() for t in self.tests],
            "note": self.note,
        }


@dataclass(frozen=True)
class _Round:
    """One look at a plan: the decisions, the posterior they came from, its actions."""

    decisions: tuple[ActionDecision, ...]
    posterior: Posterior
    bands: Bands
    actions: tuple[int, ...]
    plan: PlanRisk


def _evidence(
    outcomes: LoggedOutcomes | None, used: list[int], targets: list[np.ndarray]
) -> tuple[Evidence, list[list[GainEstimate]], list[list[str]]]:
    """The log's estimate for every action of `used` over every window, on the logged weeks
    of its `targets` (customer ids), with their joint clustered covariance."""
    if outcomes is None:
        return Evidence.none(), [[] for _ in used], [["no campaign log with outcomes"]] * len(used)
    rows, influences, found, missing = [], [], [], []
    for j, (a, ids) in enumerate(zip(used, targets, strict=True)):
        members = outcomes.members(ids)
        own, why = [], []
        for window in outcomes.windows:
            result = outcomes.influence(a, members, window)
            if isinstance(result, tuple):
                estimate, influence = result
                own.append(estimate)
                rows.append((j, window, estimate.mean))
                influences.append(influence)
            else:
                why.append(result.reason)
        found.append(own)
        missing.append(why)
    if not rows:
        return Evidence.none(), found, missing
    matrix = np.array(
        [[covariance(first, second) for second in influences] for first in influences]
    )
    evidence = Evidence(
        np.array([r[0] for r in rows]),
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]),
        matrix,
    )
    return evidence, found, missing


def decide(
    problem: DecisionProblem,
    choice: np.ndarray,
    outcomes: LoggedOutcomes | None,
    source: PriorSource,
    settings: ReleaseSettings,
) -> _Round:
    """Each action that `choice` ([N, H]) uses, decided on its own (module docstring); the
    plan-level look is the caller's."""
    h = problem.shape[2]
    used = [a for a in range(1, problem.shape[1]) if (choice == a).any()]
    planned = [choice == a for a in used]
    targets = [problem.customer_ids[p.any(axis=1)] for p in planned]
    evidence, found, missing = _evidence(outcomes, used, targets)
    priors = [
        dataclasses.replace(
            source.prior(problem, p, a), seen=abs(own[-1].mean) if own else 0.0
        )  # the gain the log shows over its longest window sets the prior's scale too
        for p, a, own in zip(planned, used, found, strict=True)
    ]
    bands = Bands.of(outcomes.windows if outcomes is not None else ())
    post = posterior(priors, bands, evidence, settings.later_uncertainty)
    decisions = []
    for j, (a, prior, mask) in enumerate(zip(used, priors, planned, strict=True)):
        weights = np.zeros(len(used))
        weights[j] = 1.0
        mean, sd = post.gain(weights)
        prior_mean, prior_sd = post.prior_gain(j)
        per_week = mask.sum() / h
        tolerance = settings.max_loss / per_week
        risk = loss_probability(mean, sd, tolerance)
        if mean <= 0:
            decision: Decision = "withhold"
            reason = f"expected gain {mean:+,.4f} per contact is not above zero"
        elif risk <= settings.risk:
            decision = "release"
            reason = (
                f"expected gain {mean:+,.4f} per contact; P(losing more than "
                f"{settings.max_loss:,.2f} a week) = {risk:.1%} <= {settings.risk:.0%}"
            )
        else:
            decision = "test"
            reason = (
                f"expected gain {mean:+,.4f} per contact, but P(losing more than "
                f"{settings.max_loss:,.2f} a week) = {risk:.1%} > {settings.risk:.0%}"
            )
        decisions.append(
            ActionDecision(
                action=str(problem.action_ids[a]),
                decision=decision,
                contacts=int(mask.sum()),
                contacts_per_week=float(per_week),
                predicted_gain=prior.predicted_gain,
                calibration=prior.calibration,
                calibration_note=source.calibration_notes[a],
                prior_mean=prior_mean,
                prior_sd=prior_sd,
                expected_gain=mean,
                gain_sd=sd,
                loss_probability=risk,
                evidence=tuple(found[j]),
                missing_evidence=tuple(missing[j]),
                reason=reason,
            )
        )
    released = np.array(
        [d.contacts_per_week if d.decision == "release" else 0.0 for d in decisions]
    )
    plan_mean, plan_sd = post.gain(released) if len(used) else (0.0, 0.0)
    plan = PlanRisk(
        plan_mean, plan_sd, loss_probability(plan_mean, plan_sd, settings.max_loss)
        if released.any() else 0.0,
    )  # fmt: skip
    return _Round(tuple(decisions), post, bands, tuple(used), plan)


def without_actions(problem: DecisionProblem, actions: Iterable[str]) -> DecisionProblem:
    """`problem` with `actions` (ids) made ineligible for every customer, to be solved again."""
    eligible = problem.eligible.copy()
    ids = list(problem.action_ids)
    for action in actions:
        eligible[:, ids.index(action)] = False
    return dataclasses.replace(problem, eligible=eligible)


def release(
    problem: DecisionProblem,
    solution: Solution,
    outcomes: LoggedOutcomes | None,
    source: PriorSource,
    settings: ReleaseSettings,
    resolve: Callable[[DecisionProblem], Solution],
) -> tuple[Solution, ReleaseReport]:
    """The plan to release, with its tests in the first week, and the report (module
    docstring). `resolve` solves a problem as the run does."""
    out: dict[str, tuple[ActionDecision, _Round | None, np.ndarray]] = {}
    current, last, rounds = solution, None, 0
    for rounds in range(1, problem.shape[1] + 1):  # noqa: B007 (reported after)
        if not current.has_plan or not (current.plan() > 0).any():
            break
        last = decide(problem, current.plan(), outcomes, source, settings)
        leaving = [d for d in last.decisions if d.decision != "release"]
        if not leaving and last.plan.loss_probability > settings.risk:
            # each action alone within the risk, together not: the likeliest to lose is tested
            worst = max(last.decisions, key=lambda d: d.loss_probability)
            leaving = [
                dataclasses.replace(
                    worst,
                    decision="test",
                    reason=f"{worst.reason}; the released plan together loses more than "
                    f"{settings.max_loss:,.2f} a week with probability "
                    f"{last.plan.loss_probability:.1%}, and this action is the likeliest to",
                )
            ]
        if not leaving:
            break
        for decision in leaving:
            out[decision.action] = (decision, last, current.plan())
        current = resolve(without_actions(problem, out))
    final = () if last is None else tuple(d for d in last.decisions if d.action not in out)
    if final and current.has_plan and not (current.plan() > 0).any():
        final = ()
    plan_risk = last.plan if last is not None and final else PlanRisk(0.0, 0.0, 0.0)
    tests = _tests(problem, current, out, settings)
    released = _with_tests(problem, current, tests)
    notes = []
    withheld = [a for a, (d, _, _) in out.items() if d.decision == "withhold"]
    if withheld:
        notes.append(f"withheld (expected gain not above zero): {', '.join(withheld)}")
    if tests:
        notes.append(
            "randomised tests in the first week: "
            + ", ".join(
                f"{t.action} to {t.treated_count:,} of {len(t.candidates):,}" for t in tests
            )
        )
    released = dataclasses.replace(released, notes=(*released.notes, *notes))
    report = ReleaseReport(
        settings=settings,
        windows=() if outcomes is None else outcomes.windows,
        decisions=final + tuple(d for d, _, _ in out.values()),
        plan=plan_risk,
        tests=tuple(tests),
        rounds=rounds,
        note="" if outcomes is None else outcomes.sample_note,
    )
    return released, report


def _tests(
    problem: DecisionProblem,
    released: Solution,
    out: dict[str, tuple[ActionDecision, _Round | None, np.ndarray]],
    settings: ReleaseSettings,
) -> list[TestDesign]:
    """The randomised tests of the actions decided `test`, most expected gain a week first
    (engine/randomised_tests.py): each to a random share of the customers its plan chose (with
    room for all their planned contacts of it in `released`'s plan), in the weeks the plan
    gave them, the share the larger of what the loss tolerance allows and what the test's
    power needs, within the test budget, each week's budget and floor left, the action's
    capacity, and MAX_TREATED_SHARE."""
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
    designs: list[TestDesign] = []
    for decision, found, plan in tested:
        a = ids.index(decision.action)
        planned = plan == a  # [N, H]
        room = (choice > 0).sum(axis=1) + planned.sum(axis=1) <= problem.contact_cap
        fits = ~(planned & (choice > 0)).any(axis=1) & room & problem.eligible[:, a]
        candidates = np.flatnonzero(planned.any(axis=1) & fits)
        if len(candidates) == 0 or money <= 0:
            continue
        weeks_of = planned[candidates]  # [C, H]
        extra_cost = (problem.cost[candidates, a, :] - problem.cost[candidates, 0, :]) * weeks_of
        extra_revenue = (
            problem.revenue[candidates, a, :] - problem.revenue[candidates, 0, :]
        ) * weeks_of
        share, note = _share(decision, found, len(candidates), settings)
        limits = [share, MAX_TREATED_SHARE, money / max(float(extra_cost.sum()), 1e-12)]
        cost_t, revenue_t = extra_cost.sum(axis=0), extra_revenue.sum(axis=0)
        limits += [max(cost_room[t], 0.0) / cost_t[t] for t in range(h) if cost_t[t] > 0]
        limits += [max(revenue_room[t], 0.0) / -revenue_t[t] for t in range(h) if revenue_t[t] < 0]
        if problem.action_capacity is not None:  # the action's uses left over the horizon
            left = problem.action_capacity[a] - (choice == a).sum()
            limits.append(max(left, 0.0) / max(float(weeks_of.sum()), 1.0))
        treated = int(np.floor(min(limits) * len(candidates) + 1e-9))
        if treated < 1:
            continue
        if treated / len(candidates) < share - 1e-9:
            note += f"; {treated:,} of {len(candidates):,} treated, what the budgets allow"
        drawn = draw(len(candidates), treated, settings.seed + a)
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
    return designs


def _risk_share(decision: ActionDecision, settings: ReleaseSettings) -> float:
    """The largest share of the action's planned contacts whose loss stays within the
    tolerance at the risk: P(f w G < -L) = risk at f = L / (w (-q)), q the posterior's
    risk-quantile of G per contact (1 where q is not below -L / w: that is a release)."""
    quantile = decision.expected_gain - float(ndtri(1.0 - settings.risk)) * decision.gain_sd
    exposure = decision.contacts_per_week * max(-quantile, 0.0)
    return 1.0 if exposure <= settings.max_loss else settings.max_loss / exposure


def _share(
    decision: ActionDecision, found: _Round | None, candidates: int, settings: ReleaseSettings
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


def _early(decision: ActionDecision, found: _Round, window: int) -> tuple[float, float, float]:
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
    decision: ActionDecision, found: _Round | None, candidates: int, settings: ReleaseSettings
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
    found: _Round | None,
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


def _with_tests(problem: DecisionProblem, solution: Solution, tests: list[TestDesign]) -> Solution:
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
    problem: DecisionProblem, report: ReleaseReport, channels: dict[str, str]
) -> pd.DataFrame:
    """The tests' rows in the campaign-log contract (engine/randomised_tests.assignment_frame)
    for the problem's first week; `channels` maps action ids to their channel."""
    weeks = pd.to_datetime([str(w) for w in problem.week_labels]).to_numpy()
    return assignment_frame(list(report.tests), problem.customer_ids, weeks, channels)
