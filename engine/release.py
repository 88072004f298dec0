"""The release (DESIGN §8a): the plan's actions decided (engine/release_decision.py) in rounds,
what leaves taken out and the plan solved again, the tests placed (engine/randomised_tests.py),
and the report of it all.

Each round decides every action of the current plan. Withheld and tested actions are made
ineligible and the plan solved again (the budget moves to what is left), until every action of
the plan is released: at most as many rounds as actions. The plan as a whole must meet the
promise too: where the released actions' weekly gain (sum of w_a G_a, jointly normal, with the
evidence's covariances across actions) loses more than `release.max_loss` with probability above
`release.risk`, the action likeliest to lose is turned into a test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.logged_outcomes import LoggedOutcomes
from engine.randomised_tests import TestDesign, place_tests, with_tests
from engine.release_decision import (
    ActionDecision,
    PlanRisk,
    PriorSource,
    ReleaseSettings,
    Round,
    decide,
    without_actions,
)
from engine.release_posterior import VALUE_WEEKS
from optimization.problem import DecisionProblem
from optimization.solution import Solution


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
    out: dict[str, tuple[ActionDecision, Round | None, np.ndarray]] = {}
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
    tests = place_tests(problem, current, out, settings)
    released = with_tests(problem, current, tests)
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
