"""The release decision for one plan (DESIGN §8a): what each action of it is expected to gain
per contact, with the campaign log's evidence, and whether it is worth releasing, testing at
random or withholding. The rounds that act on the decisions (re-solving without what leaves,
placing the tests) are engine/release.py's; the tests themselves engine/randomised_tests.py's.

For each action a of the plan, with G_a its gain per contact over its targets (a year's margin,
engine/release_posterior.py), w_a its planned contacts per week and L = `release.max_loss` the
loss per week the planner accepts:

- release where the posterior mean of G_a is above zero and P(w_a G_a < -L) <= `release.risk`;
- test where the mean is above zero but the probability of losing more than L is higher;
- withhold where the mean is not above zero.

Valid after selection: the forecasters give each logged customer the effects of the model that
did not learn from that customer's logged weeks (cross-fitted: forecasting/uplift.py,
forecasting/dr_effects.py), so the customers the plan picks are picked without their own
outcomes, and the log's estimate on their weeks is not the noise that picked them
(tests/test_release_decision.py simulates the false-release rate on useless actions).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from engine.logged_estimates import GainEstimate, covariance
from engine.logged_outcomes import WINDOWS, LoggedOutcomes
from engine.release_posterior import (
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
        # float32 and scaled in place: it is held through the decision (0.29 GB at 1M
        # customers, 6 actions and 12 weeks), and a mean over contacts needs no more
        later = ForecastSet.load_array(forecast_dir, "future_margin_delta")[:, index, :horizon]
        later = later.astype(np.float32, copy=False)
        later *= np.float32(scale)
        found = [calibration(metadata, str(a)) for a in action_ids]
        weeks = int(metadata.parameters.get("future_weeks", 0) or 0)
        return cls(
            later,
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
            predicted_later=float(self.later[customer, action, week].mean(dtype=np.float64)),
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
class Round:
    """One look at a plan: the decisions, the posterior they came from (its actions' bands in
    `actions` order), the bands, and the released actions' joint weekly risk."""

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
) -> Round:
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
    bands = Bands.of(
        outcomes.windows if outcomes is not None else (), readout=settings.readout_window
    )
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
    return Round(tuple(decisions), post, bands, tuple(used), plan)


def without_actions(problem: DecisionProblem, actions: Iterable[str]) -> DecisionProblem:
    """`problem` with `actions` (ids) made ineligible for every customer, to be solved again."""
    eligible = problem.eligible.copy()
    ids = list(problem.action_ids)
    for action in actions:
        eligible[:, ids.index(action)] = False
    return dataclasses.replace(problem, eligible=eligible)
